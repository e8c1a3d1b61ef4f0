/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The layer store shared by the drivers whose layers are complete directory trees, each made
 * from its parent by a snapshot or a copy: btrfs (a subvolume per layer, a child is a snapshot
 * of its parent) and vfs (a full copy per layer, reflinked where the filesystem can).  The
 * store does the protocol's bookkeeping (layout, locks, crash safety, reference counts, the
 * tar work through include/berth/archive.h); a driver supplies the operations on trees.
 *
 * On-disk layout under root:
 *   .lock                 flock: shared for per-layer work, exclusive for structure changes
 *   layers/<id>/fs        the layer's tree (btrfs: a subvolume)
 *   layers/<id>/parent    parent id (absent for a base layer)
 *   layers/<id>/children/<cid>   one empty file per child
 *   layers/<id>/incomplete       present while the layer is created or APPLY_DIFF runs
 *   layers/<id>/fresh     nothing has written the tree since CREATE: APPLY_DIFF may fill it
 *   layers/<id>/rw        created writable (a container rootfs); others become read-only
 *                         once filled (APPLY_DIFF) or once a child is made from them
 *   layers/<id>/size      the layer's size limit in bytes (btrfs qgroup), when it has one
 *   staging/              layers being created or removed; INIT and GC empty it
 * Under runRoot: mounts/<id> holds "REFS MODE" (MODE rw or ro), locks/<id> the layer lock.
 *
 * MOUNT hands out the layer's own directory (root/layers/<id>/fs): a read-write MOUNT mounts
 * nothing, a read-only MOUNT of a tree that is still writable bind-mounts it read-only onto
 * itself until the last UNMOUNT.  The reference counts work as for every driver.  MOUNTS
 * returns the mounts a caller (containerd) makes itself: a bind of the tree (vfs), the
 * subvolume by id (btrfs); nothing is activated, so RELEASE has nothing to undo.
 */

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

#include "berth/archive.h"
#include "berth/error.h"
#include "berth/storage-proto.h"
#include "berth/storage-skel.h"

/* No stacking limit in either driver (a snapshot or a copy costs the same at any depth); a
 * bound keeps a runaway client from building chains nobody can walk. */
#define BERTH_FT_MAX_DEPTH 4096

struct berth_ft;

struct berth_ft_ops {
	const char *name; /* the driver's name: fault points are "<name>-create-...", ... */
	/* The driver's own options (the common ones are parsed already). */
	int (*parse_options)(struct berth_ft *s, json_t *opts, berth_error *err);
	/* INIT, before anything is created: can a store live on the filesystem of `existing`
	 * (root, or its nearest existing ancestor)?  12/13 when not. */
	int (*check_backing)(struct berth_ft *s, const char *existing, berth_error *err);
	/* INIT, once the layout exists: deeper probes (in staging/), 12/13 when they fail. */
	int (*probe)(struct berth_ft *s, berth_error *err);
	/* New trees, created at dirfd/name: empty (a base layer), or from the tree pdirfd/pname
	 * (the parent's fs).  They must hold exactly what the parent holds, owners, modes,
	 * xattrs, hardlinks and times included. */
	int (*make_base)(struct berth_ft *s, int dirfd, const char *name, berth_error *err);
	int (*make_child)(struct berth_ft *s, int pdirfd, const char *pname, int dirfd,
			  const char *name, berth_error *err);
	/* Delete the tree dirfd/name whatever it holds (read-only included). */
	int (*remove_tree)(struct berth_ft *s, int dirfd, const char *name, berth_error *err);
	/* Make the tree read-only / say whether it is (NULL: trees stay writable). */
	int (*seal)(struct berth_ft *s, int dirfd, const char *name, berth_error *err);
	bool (*is_sealed)(struct berth_ft *s, int dirfd, const char *name);
	/* Size limits (NULL: code 12). */
	bool (*quota_supported)(struct berth_ft *s);
	int (*set_size)(struct berth_ft *s, int dirfd, const char *name, uint64_t size,
			berth_error *err);
	/* The changes of tree (layer id) against its own parent's tree, faster than comparing
	 * both trees; -EOPNOTSUPP without err to fall back to the full comparison (NULL: always
	 * the full comparison). */
	int (*changes)(struct berth_ft *s, const char *id, int treefd, const char *parent,
		       int parentfd, struct berth_archive_changes *ret, berth_error *err);
	/* USAGE: what the layer's own data occupies (NULL: a walk of the changed entries). */
	int (*usage)(struct berth_ft *s, const char *id, int treefd, json_t **ret,
		     berth_error *err);
	/* MOUNTS: the mounts that give the layer's tree (tree is its path, sealed whether it
	 * is read-only); NULL: a bind of the tree ("rbind", "rw" or "ro"). */
	int (*mount_specs)(struct berth_ft *s, const char *id, const char *tree, bool ro,
			   json_t **ret_mounts, berth_error *err);
	/* Additions to INIT/STATUS capabilities, STATUS pairs, METADATA (all optional). */
	void (*capabilities)(struct berth_ft *s, json_t *caps);
	void (*status)(struct berth_ft *s, json_t *pairs);
	void (*metadata)(struct berth_ft *s, const char *id, json_t *meta);
};

struct berth_ft {
	const struct berth_ft_ops *ops;
	const struct berth_stor_call *call;
	const char *root;
	const char *run_root;
	int rootfd;   /* root */
	int layersfd; /* root/layers */
	int lockfd;   /* root/.lock */
	bool no_wait; /* args.noWait: a busy lock is code 11 */
	/* common options */
	bool ignore_chown_errors, refuse_devices, force_naive_diff, skip_mount_home;
	uint64_t default_size; /* options.size: the limit of every CREATE without args.size */
	/* The filesystem ran full: remove_tree waits until the space is usable again, so the
	 * store takes the next layer at once (btrfs frees a deleted subvolume in the background). */
	bool reclaim_space;
	void *priv;	       /* the driver's own state (options) */
};

/* Options every fulltree driver accepts, then the driver's own (ops->options): the complete
 * NULL-terminated list for the skeleton. */
#define BERTH_FT_COMMON_OPTIONS                                                                    \
	"ignore_chown_errors", "refuse_devices", "force_naive_diff", "skip_mount_home", "size"

/* The verbs, for a driver's verb functions to call with its ops. */
int berth_ft_init(const struct berth_ft_ops *ops, const struct berth_stor_call *call,
		  json_t **ret, berth_error *err);
int berth_ft_status(const struct berth_ft_ops *ops, const struct berth_stor_call *call,
		    json_t **ret, berth_error *err);
int berth_ft_create(const struct berth_ft_ops *ops, const struct berth_stor_call *call,
		    json_t **ret, berth_error *err);
int berth_ft_remove(const struct berth_ft_ops *ops, const struct berth_stor_call *call,
		    json_t **ret, berth_error *err);
int berth_ft_mount(const struct berth_ft_ops *ops, const struct berth_stor_call *call,
		   json_t **ret, berth_error *err);
int berth_ft_unmount(const struct berth_ft_ops *ops, const struct berth_stor_call *call,
		     json_t **ret, berth_error *err);
int berth_ft_mounts(const struct berth_ft_ops *ops, const struct berth_stor_call *call,
		    json_t **ret, berth_error *err);
int berth_ft_release(const struct berth_ft_ops *ops, const struct berth_stor_call *call,
		     json_t **ret, berth_error *err);
int berth_ft_exists(const struct berth_ft_ops *ops, const struct berth_stor_call *call,
		    json_t **ret, berth_error *err);
int berth_ft_list(const struct berth_ft_ops *ops, const struct berth_stor_call *call,
		  json_t **ret, berth_error *err);
int berth_ft_metadata(const struct berth_ft_ops *ops, const struct berth_stor_call *call,
		      json_t **ret, berth_error *err);
int berth_ft_diff(const struct berth_ft_ops *ops, const struct berth_stor_call *call,
		  json_t **ret, berth_error *err);
int berth_ft_changes(const struct berth_ft_ops *ops, const struct berth_stor_call *call,
		     json_t **ret, berth_error *err);
int berth_ft_apply_diff(const struct berth_ft_ops *ops, const struct berth_stor_call *call,
			json_t **ret, berth_error *err);
int berth_ft_diff_size(const struct berth_ft_ops *ops, const struct berth_stor_call *call,
		       json_t **ret, berth_error *err);
int berth_ft_usage(const struct berth_ft_ops *ops, const struct berth_stor_call *call,
		   json_t **ret, berth_error *err);
int berth_ft_cleanup(const struct berth_ft_ops *ops, const struct berth_stor_call *call,
		     json_t **ret, berth_error *err);
int berth_ft_gc(const struct berth_ft_ops *ops, const struct berth_stor_call *call, json_t **ret,
		berth_error *err);

/* Define static NAME_VERB(call, ret, err) for every verb, each calling berth_ft_VERB(&OPS, ...):
 * a driver's driver.c puts them in its verb table. */
#define BERTH_FT_DEFINE_VERBS(prefix, ops)                                                         \
	BERTH_FT_VERB_(prefix, ops, init)                                                          \
	BERTH_FT_VERB_(prefix, ops, status)                                                        \
	BERTH_FT_VERB_(prefix, ops, create)                                                        \
	BERTH_FT_VERB_(prefix, ops, remove)                                                        \
	BERTH_FT_VERB_(prefix, ops, mount)                                                         \
	BERTH_FT_VERB_(prefix, ops, unmount)                                                       \
	BERTH_FT_VERB_(prefix, ops, mounts)                                                        \
	BERTH_FT_VERB_(prefix, ops, release)                                                       \
	BERTH_FT_VERB_(prefix, ops, exists)                                                        \
	BERTH_FT_VERB_(prefix, ops, list)                                                          \
	BERTH_FT_VERB_(prefix, ops, metadata)                                                      \
	BERTH_FT_VERB_(prefix, ops, diff)                                                          \
	BERTH_FT_VERB_(prefix, ops, changes)                                                       \
	BERTH_FT_VERB_(prefix, ops, apply_diff)                                                    \
	BERTH_FT_VERB_(prefix, ops, diff_size)                                                     \
	BERTH_FT_VERB_(prefix, ops, usage)                                                         \
	BERTH_FT_VERB_(prefix, ops, cleanup)                                                       \
	BERTH_FT_VERB_(prefix, ops, gc)
#define BERTH_FT_VERB_(prefix, ops, verb)                                                          \
	static int prefix##_##verb(const struct berth_stor_call *call, json_t **ret,               \
				   berth_error *err)                                               \
	{                                                                                          \
		return berth_ft_##verb(&(ops), call, ret, err);                                    \
	}
/* The verb table over those functions (terminated). */
#define BERTH_FT_VERB_TABLE(prefix)                                                                \
	{                                                                                          \
		{ "INIT", prefix##_init, BERTH_STOR_STREAM_NONE },                                 \
		{ "STATUS", prefix##_status, BERTH_STOR_STREAM_NONE },                             \
		{ "CREATE", prefix##_create, BERTH_STOR_STREAM_NONE },                             \
		{ "REMOVE", prefix##_remove, BERTH_STOR_STREAM_NONE },                             \
		{ "MOUNT", prefix##_mount, BERTH_STOR_STREAM_NONE },                               \
		{ "UNMOUNT", prefix##_unmount, BERTH_STOR_STREAM_NONE },                           \
		{ "MOUNTS", prefix##_mounts, BERTH_STOR_STREAM_NONE },                             \
		{ "RELEASE", prefix##_release, BERTH_STOR_STREAM_NONE },                           \
		{ "EXISTS", prefix##_exists, BERTH_STOR_STREAM_NONE },                             \
		{ "LIST", prefix##_list, BERTH_STOR_STREAM_NONE },                                 \
		{ "METADATA", prefix##_metadata, BERTH_STOR_STREAM_NONE },                         \
		{ "DIFF", prefix##_diff, BERTH_STOR_STREAM_OUT },                                  \
		{ "CHANGES", prefix##_changes, BERTH_STOR_STREAM_NONE },                           \
		{ "APPLY_DIFF", prefix##_apply_diff, BERTH_STOR_STREAM_IN },                       \
		{ "DIFF_SIZE", prefix##_diff_size, BERTH_STOR_STREAM_NONE },                       \
		{ "USAGE", prefix##_usage, BERTH_STOR_STREAM_NONE },                               \
		{ "CLEANUP", prefix##_cleanup, BERTH_STOR_STREAM_NONE },                           \
		{ "GC", prefix##_gc, BERTH_STOR_STREAM_NONE },                                     \
		{ NULL, NULL, 0 },                                                                 \
	}

/* Open a layer's tree (root/layers/<id>/fs) for reading. */
int berth_ft_open_tree(struct berth_ft *s, const char *id, int *ret_fd, berth_error *err);
/* A fault point named "<driver>-<what>" (FAULT=1 builds; see include/berth/fault.h). */
void berth_ft_fault(const struct berth_ft *s, const char *what);
