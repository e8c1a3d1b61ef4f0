/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Internals of the overlay driver shared by the files of storage/overlay/. */

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

#include "berth/error.h"
#include "berth/storage-skel.h"

/*
 * On-disk layout under root (the one Docker's overlay2 and containers/storage use):
 *   .lock                 flock: shared for per-layer work, exclusive for structure changes
 *   l/<LINK>              symlink ../<id>/diff, 26 chars, keeps legacy mount data short
 *   <id>/diff/            the layer's upper dir (its content)
 *   <id>/work/ merged/    overlay work dir, mount point
 *   <id>/link             LINK
 *   <id>/lower            "l/A:l/B:..." the ancestors, nearest first (absent for a base layer)
 *   <id>/parent           parent id (absent for a base layer)
 *   <id>/children/<cid>   one empty file per child
 *   <id>/empty/           an empty lower for mounts that need one
 *   <id>/incomplete       present while the layer is created or APPLY_DIFF runs
 *   <id>/quota            project id, when the layer has a size limit
 *   staging/              layers being created or removed; INIT and GC empty it
 * Under runRoot: mounts/<id> holds the mount reference count, locks/<id> the layer lock.
 */

#define OVL_LINK_LEN 26

struct ovl {
	const struct berth_stor_call *call;
	const char *root;
	const char *run_root;
	int rootfd;
	int lockfd;
	/* options */
	const char *mount_api; /* auto, new, legacy */
	bool index, redirect_dir, metacopy, force_naive_diff, skip_mount_home;
	bool ignore_chown_errors;
	bool refuse_devices; /* APPLY_DIFF: block/char devices (not whiteouts) are code 15 */
	bool no_wait; /* args.noWait: a busy lock is code 11, not a wait */
	uint64_t default_size; /* quota for every CREATE without args.size; 0 = none */
};

enum { OVL_LOCK_NONE, OVL_LOCK_SHARED, OVL_LOCK_EXCLUSIVE };

/* layout (layer.c) */
int berth_ovl_open(const struct berth_stor_call *call, struct ovl *o, int lock, berth_error *err);
void berth_ovl_close(struct ovl *o);
static inline void berth_ovl_closep(struct ovl *o)
{
	berth_ovl_close(o);
}
#define _cleanup_ovl_ __attribute__((cleanup(berth_ovl_closep)))
int berth_ovl_relock(struct ovl *o, int lock, berth_error *err);
/* 0 absent, 1 complete, 2 incomplete */
int berth_ovl_layer_state(struct ovl *o, const char *id);
/* Complete layer or code 3. */
int berth_ovl_need_layer(struct ovl *o, const char *id, berth_error *err);
/* Per-layer flock under runRoot/locks. */
int berth_ovl_lock_layer(struct ovl *o, const char *id, int *ret_fd, berth_error *err);
/* Read a small file under rootfd into a string (trailing newline stripped); -ENOENT if absent. */
int berth_ovl_read_str(int dirfd, const char *path, char **ret, berth_error *err);
/* Ancestors' diff dirs as absolute paths (via l/ links), nearest first; n may be 0. */
int berth_ovl_lowers(struct ovl *o, const char *id, char ***ret, size_t *ret_n, berth_error *err);
/* berth_rm_rf_at(), a mount point in the way reported as busy (code 10). */
int berth_ovl_rm_rf_at(int dirfd, const char *path, berth_error *err);
/* Remove a layer (caller holds the exclusive lock, has checked children and mounts). */
int berth_ovl_remove_layer(struct ovl *o, const char *id, berth_error *err);
bool berth_ovl_naive_diff(const struct ovl *o);
/* options.size / args.size: a number of bytes or a string such as "10G" (code 7 otherwise). */
int berth_ovl_parse_size(json_t *v, const char *what, uint64_t *ret, berth_error *err);
/* A new l/ link name: OVL_LINK_LEN random characters and a NUL. */
void berth_ovl_random_link(char *buf);
/* A small file under dirfd, written atomically. */
int berth_ovl_write_at(int dirfd, const char *path, const char *s, berth_error *err);
/* Children whose layer dir still exists (markers can outlive a crash). */
int berth_ovl_count_children(struct ovl *o, const char *id, berth_error *err);
/* Every layer (with incomplete ones too when asked), and their safe removal order: children
 * before parents. */
struct layer_ent {
	char *id;
	char *parent;
	bool done;
};
int berth_ovl_collect_layers(struct ovl *o, struct layer_ent **ret, size_t *ret_n,
			     bool incomplete, berth_error *err);
void berth_ovl_free_layers(struct layer_ent *v, size_t n);
json_t *berth_ovl_removal_order(struct layer_ent *v, size_t n);

/* mounts (overlay-mount.c) */
struct ovl_mount_opts {
	bool ro;
	bool is_volatile;
};
/* Mount layer id at root/<id>/merged. ret_opts: the options used (for the result). */
int berth_ovl_mount_layer(struct ovl *o, const char *id, const struct ovl_mount_opts *mo,
			  const char *target, json_t **ret_opts, berth_error *err);
/* MOUNTS' spec of layer id: one {type,source,options} object (docs/storage-protocol.md 4.1). */
int berth_ovl_mounts_spec(struct ovl *o, const char *id, bool ro, json_t **ret, berth_error *err);
/* A read-only view of layer id (its diff and ancestors) as an fd on a detached mount. */
int berth_ovl_view_fd(struct ovl *o, const char *id, int *ret_fd, berth_error *err);
bool berth_ovl_is_mounted(struct ovl *o, const char *id);
int berth_ovl_refs_get(struct ovl *o, const char *id);
int berth_ovl_refs_set(struct ovl *o, const char *id, int refs, berth_error *err);
/* Which mount API mounted a layer last ("new" or "legacy"), for tests and STATUS. */
extern const char *berth_ovl_last_api;

/* quota (overlay-quota.c) */
/* true when root is on XFS mounted with project quota enforcement */
bool berth_ovl_quota_supported(struct ovl *o, berth_error *err);
int berth_ovl_quota_set(struct ovl *o, int dirfd, const char *id_dir, uint64_t size,
			berth_error *err);

/* verbs */
int berth_ovl_init(const struct berth_stor_call *call, json_t **ret, berth_error *err);
int berth_ovl_status(const struct berth_stor_call *call, json_t **ret, berth_error *err);
int berth_ovl_create(const struct berth_stor_call *call, json_t **ret, berth_error *err);
int berth_ovl_remove(const struct berth_stor_call *call, json_t **ret, berth_error *err);
int berth_ovl_exists(const struct berth_stor_call *call, json_t **ret, berth_error *err);
int berth_ovl_list(const struct berth_stor_call *call, json_t **ret, berth_error *err);
int berth_ovl_metadata(const struct berth_stor_call *call, json_t **ret, berth_error *err);
int berth_ovl_cleanup(const struct berth_stor_call *call, json_t **ret, berth_error *err);
int berth_ovl_gc(const struct berth_stor_call *call, json_t **ret, berth_error *err);
int berth_ovl_mount(const struct berth_stor_call *call, json_t **ret, berth_error *err);
int berth_ovl_unmount(const struct berth_stor_call *call, json_t **ret, berth_error *err);
int berth_ovl_diff(const struct berth_stor_call *call, json_t **ret, berth_error *err);
int berth_ovl_changes(const struct berth_stor_call *call, json_t **ret, berth_error *err);
int berth_ovl_apply_diff(const struct berth_stor_call *call, json_t **ret, berth_error *err);
int berth_ovl_diff_size(const struct berth_stor_call *call, json_t **ret, berth_error *err);
int berth_ovl_usage(const struct berth_stor_call *call, json_t **ret, berth_error *err);
int berth_ovl_mounts(const struct berth_stor_call *call, json_t **ret, berth_error *err);
int berth_ovl_release(const struct berth_stor_call *call, json_t **ret, berth_error *err);
