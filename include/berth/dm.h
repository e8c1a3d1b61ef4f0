/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Device-mapper thin provisioning for the devicemapper storage driver (docs/devicemapper.md).
 *
 * Two layers:
 *  - berth_dm_*: thin wrappers over libdevmapper tasks (create, remove, suspend, resume, message,
 *    status, table, info).  Every create/remove/resume carries a udev cookie and is followed by
 *    dm_udev_wait(), which is also what makes libdevmapper create the /dev/mapper nodes itself
 *    when udev is absent (DM_DISABLE_UDEV=1).  libdevmapper's 1/0 results become -errno with the
 *    library's last message in *err.
 *  - berth_dmset_*: the device set behind the driver: a thin pool (existing, or made from the
 *    configured data and metadata block devices, or from loop files when allowed), one thin
 *    device per layer made by snapshotting its parent, JSON metadata per device, a journal of
 *    open pool transactions, deferred removal and deletion, GC.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <jansson.h>

#include "berth/error.h"
#include "berth/fs.h"
#include "berth/storage-skel.h"

/* ---- libdevmapper wrappers (storage/dm/lib.c) ---- */

/* Route libdevmapper's log into ours and choose udev sync; call once per process. */
void berth_dm_lib_init(bool udev_sync);
/* 1 when libdevmapper can synchronise with a running udev. */
bool berth_dm_udev_sync_supported(void);

struct berth_dm_info {
	bool exists;
	bool suspended;
	bool deferred_remove;
	int open_count;
	unsigned major, minor;
};

int berth_dm_info(const char *name, struct berth_dm_info *ret, berth_error *err);
/* Create and activate a one-target device of `sectors` length. */
int berth_dm_create(const char *name, uint64_t sectors, const char *target, const char *params,
		    bool read_only, berth_error *err);
/* Remove (deactivate) a device; a missing device is success.  Busy gives -EBUSY unless
 * `deferred`, which asks the kernel to remove it when its last opener closes it (returns 1
 * when the removal was deferred). */
int berth_dm_remove(const char *name, bool deferred, berth_error *err);
int berth_dm_suspend(const char *name, berth_error *err);
int berth_dm_resume(const char *name, berth_error *err);
/* Send a target message to sector 0 (thin-pool: create_thin, create_snap, delete ...).
 * The kernel's errno comes back: -EEXIST for a device id in use, -ENODATA for a missing one. */
int berth_dm_message(const char *name, const char *msg, berth_error *err);
/* Status or table line of a single-target device; caller frees *ret_target and *ret_params. */
int berth_dm_status(const char *name, bool table, uint64_t *ret_len, char **ret_target,
		    char **ret_params, berth_error *err);
/* Kernel device-mapper driver version ("4.47.0"), or "" when unknown. */
void berth_dm_driver_version(char *buf, size_t len);
/* libdevmapper's own version ("1.02.185 (2022-05-18)"). */
void berth_dm_library_version(char *buf, size_t len);

/* thin-pool status line:
 * <transaction id> <used meta>/<total meta> <used data>/<total data> <held root> ro|rw|
 * out_of_data_space [no_]discard_passdown error|queue_if_no_space needs_check|- [lowat] */
struct berth_dm_pool_status {
	uint64_t transaction_id;
	uint64_t meta_used, meta_total; /* 4 KiB metadata blocks */
	uint64_t data_used, data_total; /* data blocks (of the pool's block size) */
	bool failed, read_only, out_of_space, needs_check;
	char mode[24];
};
int berth_dm_pool_status_parse(const char *params, struct berth_dm_pool_status *ret);

/* thin-pool table: <metadata dev> <data dev> <block sectors> <low water blocks> [features] */
struct berth_dm_pool_table {
	char metadata_dev[64], data_dev[64]; /* "major:minor" as the kernel prints them */
	uint64_t block_sectors, low_water;
};
int berth_dm_pool_table_parse(const char *params, struct berth_dm_pool_table *ret);

/* ---- loop devices (storage/dm/loop.c) ---- */

/* Attach `file` to a free loop device with autoclear (it goes away when its last user, the
 * pool, releases it).  *ret_fd keeps it open until the caller has handed it to the pool. */
int berth_loop_attach(const char *file, int *ret_fd, char **ret_path, berth_error *err);

/* ---- sizes ---- */

/* The driver's name for berth_parse_size() (berth/fs.h): "10G", "512M", "64k", "1048576". */
static inline int berth_dm_parse_size(const char *s, uint64_t *ret)
{
	return berth_parse_size(s, ret);
}

/* ---- the device set (storage/dm/devset.c and the files beside it) ---- */

enum berth_dm_fs { BERTH_DM_FS_EXT4 = 0, BERTH_DM_FS_XFS };

struct berth_dm_config {
	char *pool_name;       /* NULL = berth-<hash of root>-pool */
	char *data_device;     /* block devices to build the pool from */
	char *metadata_device;
	bool allow_loopback;   /* loop files under root/devicemapper/ (dev and tests only) */
	uint64_t loop_data_size, loop_metadata_size;
	uint64_t block_size;   /* pool data block size in bytes; 0 = 64 KiB, or the pool's */
	bool block_size_set;
	uint64_t base_size;    /* virtual size of the base device (and so of every rootfs) */
	enum berth_dm_fs fs;
	char *mkfs_options;    /* extra mkfs arguments, space separated */
	char *mount_options;   /* extra mount options, comma separated */
	unsigned min_free_space; /* percent of data and metadata that must stay free */
	bool require_udev_sync;
	bool deferred_removal, deferred_deletion;
	bool force_wipe;       /* allow a fresh pool on a metadata device that is not empty */
	bool discard;          /* pass discards down to the data device */
};

/* Parse the driver options (unknown keys are refused by the skeleton).  Bad values are code 7
 * naming the option.  Free with berth_dm_config_free(). */
int berth_dm_config_parse(json_t *options, struct berth_dm_config *ret, berth_error *err);
void berth_dm_config_free(struct berth_dm_config *c);

struct berth_dmset;

/*
 * Open the device set at root (root/.lock, exclusive or shared, held for the life of the
 * handle; no_wait: a busy store is code 11 instead of a wait), run
 * INIT work when needed: validate the pool source, create or adopt the pool, recover open
 * transactions from the journal, make the base device.  Every verb goes through this, so INIT
 * is idempotent and a verb on a fresh root sets it up.  Bad configuration fails before
 * anything is created.
 */
int berth_dmset_open(const char *root, const char *run_root, const struct berth_dm_config *cfg,
		     bool exclusive, bool no_wait, struct berth_dmset **ret, berth_error *err);
/* Per-layer lock (runRoot/dm-locks/<id>) for verbs that run under the shared store lock. */
int berth_dmset_lock_layer(struct berth_dmset *s, const char *id, int *ret_fd, berth_error *err);
void berth_dmset_close(struct berth_dmset *s);
static inline void berth_dmset_closep(struct berth_dmset **s)
{
	if (*s)
		berth_dmset_close(*s);
}
#define _cleanup_dmset_ __attribute__((cleanup(berth_dmset_closep)))

/* INIT's result: capabilities and where things are. */
int berth_dmset_init_info(struct berth_dmset *s, json_t **ret, berth_error *err);
/* STATUS: pool data/metadata usage, thresholds, health. */
int berth_dmset_status(struct berth_dmset *s, json_t **ret, berth_error *err);

/* New thin snapshot of parent (NULL = the base).  size 0 = the parent's size; larger grows the
 * filesystem.  -EEXIST (8), unknown parent -ENOENT (3), pool below min_free_space -ENOSPC (14). */
int berth_dmset_create(struct berth_dmset *s, const char *id, const char *parent, uint64_t size,
		       berth_error *err);
/* Missing id is success.  Children: -ENOTEMPTY (9).  Mounted by us: -EBUSY (10).  Held open by
 * someone else: deferred (returns 1) when deferred removal is on, else -EBUSY. */
int berth_dmset_remove(struct berth_dmset *s, const char *id, berth_error *err);
bool berth_dmset_exists(struct berth_dmset *s, const char *id);
/* Ids in safe removal order (children before parents). */
int berth_dmset_list(struct berth_dmset *s, json_t **ret, json_t **layers, berth_error *err);
int berth_dmset_metadata(struct berth_dmset *s, const char *id, json_t **ret, berth_error *err);
/* Activate and mount (refcounted on disk in run_root); *ret_path is root/mnt/<id>.  Returns
 * the reference count. */
int berth_dmset_mount(struct berth_dmset *s, const char *id, bool read_only,
		      const char *mount_label, char **ret_path, berth_error *err);
/* Drop one reference; at 0 unmount and deactivate.  Not mounted is success.  Returns refs left. */
int berth_dmset_unmount(struct berth_dmset *s, const char *id, berth_error *err);
/* MOUNTS: activate id's thin device (stays active until RELEASE/REMOVE/CLEANUP, not counted)
 * and return {"mounts":[{type,source,options}],"activated":true}. */
int berth_dmset_mounts(struct berth_dmset *s, const char *id, bool read_only, json_t **ret,
		       berth_error *err);
/* RELEASE: deactivate id's device unless the driver holds a MOUNT of it; an open device is
 * removed deferred (returns 1).  A missing layer or inactive device is success. */
int berth_dmset_release(struct berth_dmset *s, const char *id, bool *ret_released,
			berth_error *err);
/* Apply a tar stream to a freshly created layer (whiteouts delete from the snapshot). */
int berth_dmset_apply_diff(struct berth_dmset *s, const char *id, int tarfd, uint64_t *ret_size,
			   berth_error *err);
/* Changes of id against parent (NULL = its own parent); out: DIFF writes a tar to outfd,
 * CHANGES returns the list, DIFF_SIZE the size.  Exactly one of outfd>=0 / ret_changes /
 * ret_size is used. */
int berth_dmset_diff(struct berth_dmset *s, const char *id, const char *parent, int outfd,
		     json_t **ret_changes, uint64_t *ret_size, berth_error *err);
/* Blocks the thin device maps (bytes) and inodes in use. */
int berth_dmset_usage(struct berth_dmset *s, const char *id, uint64_t *ret_size,
		      uint64_t *ret_inodes, berth_error *err);
/* Unmount everything, deactivate every device; an owned pool is deactivated too. */
int berth_dmset_cleanup(struct berth_dmset *s, berth_error *err);
/* Finish deferred deletions, roll back journal leftovers, delete leaked thin devices (owned
 * pools: any id below the allocation mark unknown to the metadata) and, when keep is non-NULL,
 * layers not in it.  *ret = {removed:[...], errors:[...]}. */
int berth_dmset_gc(struct berth_dmset *s, json_t *keep, json_t **ret, berth_error *err);

/* ---- the driver (storage/dm/driver.c) ---- */
/* The option keys the driver takes and its protocol verbs (for the storage skeleton). */
extern const char *const berth_dm_options[];
extern const struct berth_stor_verb berth_dm_verbs[];

/* Test hook: BERTH_DM_CRASH=<point> makes the driver SIGKILL itself at that point
 * ("after-message": thin device made in the pool, metadata not yet written). */
void berth_dm_crash_point(const char *point);
