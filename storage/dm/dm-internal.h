/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Shared between the files of storage/dm/ (the device set behind berth/dm.h); not a public
 * contract.  The on-disk layout is described at the top of devset.c. */

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "berth/dm.h"
#include "berth/error.h"

#define MAX_DEVID ((1u << 24) - 1)
#define SECTOR ((uint64_t)512)

struct layer {
	char id[160];
	char parent[160]; /* "" = on the base */
	uint32_t devid;
	uint64_t size;
	char state[16]; /* "ready", "applying" */
	bool applied;	/* APPLY_DIFF has filled it */
};

struct berth_dmset {
	char *root, *run_root;
	int lockfd;
	const struct berth_dm_config *cfg;
	char prefix[32]; /* berth-<hash of root> */
	char pool[128];
	unsigned pool_major, pool_minor;
	bool owned_pool;
	uint64_t block_sectors;
	json_t *state; /* deviceset.json */
	json_t *done;  /* what open's recovery removed, reported by GC */
	bool exclusive, no_wait;
};

struct blkdev {
	dev_t rdev;
	uint64_t size;
};

/* ---- devset.c ---- */
char *berth_dmset_pathf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void berth_dmset_dev_name(const struct berth_dmset *s, uint32_t devid, char *buf, size_t len);
int berth_dmset_save_json(const char *path, json_t *j, bool sync, berth_error *err);
int berth_dmset_load_json(const char *path, json_t **ret, berth_error *err);
int berth_dmset_unlink_sync(const char *path);
uint64_t berth_dmset_jint(json_t *o, const char *key);
const char *berth_dmset_jstr(json_t *o, const char *key);
int berth_dmset_run_tool(const char *name, const char *const *args, berth_error *err);
int berth_dmset_save_state(struct berth_dmset *s, berth_error *err);
int berth_dmset_alloc_devid(struct berth_dmset *s, uint32_t *ret, berth_error *err);
int berth_dmset_lock_fd(int fd, bool exclusive, bool no_wait, const char *what, berth_error *err);

/* ---- pool.c ---- */
int berth_dmset_thin_delete(struct berth_dmset *s, uint32_t devid, berth_error *err);
int berth_dmset_activate(struct berth_dmset *s, uint32_t devid, uint64_t size, berth_error *err);
int berth_dmset_deactivate(struct berth_dmset *s, uint32_t devid, bool deferred, berth_error *err);
int berth_dmset_pool_status(struct berth_dmset *s, struct berth_dm_pool_status *st,
			    berth_error *err);
int berth_dmset_space_guard(struct berth_dmset *s, berth_error *err);
int berth_dmset_validate_source(struct berth_dmset *s, bool fresh, struct blkdev *meta,
				struct blkdev *data, berth_error *err);
int berth_dmset_setup_pool(struct berth_dmset *s, bool fresh, struct blkdev *meta,
			   struct blkdev *data, berth_error *err);

/* ---- journal.c ---- */
char *berth_dmset_journal_path(struct berth_dmset *s, uint32_t devid);
int berth_dmset_journal_open(struct berth_dmset *s, const char *op, uint32_t devid, const char *id,
			     uint32_t origin, berth_error *err);
void berth_dmset_journal_close(struct berth_dmset *s, uint32_t devid);
void berth_dmset_drop_stale_mount(struct berth_dmset *s, const char *name);
int berth_dmset_recover_journal(struct berth_dmset *s, json_t *removed, json_t *errors);
int berth_dmset_record_deferred(struct berth_dmset *s, const struct layer *l, berth_error *err);
bool berth_dmset_deferred_needs_recovery(struct berth_dmset *s);
int berth_dmset_finish_deferred(struct berth_dmset *s, json_t *removed, json_t *pending);

/* ---- layer.c ---- */
int berth_dmset_layer_path_ok(const char *id);
int berth_dmset_read_layer(struct berth_dmset *s, const char *id, struct layer *ret,
			   berth_error *err);
int berth_dmset_write_layer(struct berth_dmset *s, const struct layer *l, berth_error *err);
int berth_dmset_all_layers(struct berth_dmset *s, struct layer **ret, size_t *ret_n,
			   berth_error *err);
int berth_dmset_unknown_layer(berth_error *err, const char *id);
int berth_dmset_read_visible(struct berth_dmset *s, const char *id, struct layer *l,
			     berth_error *err);
int berth_dmset_remove_layer(struct berth_dmset *s, const struct layer *lp, bool force,
			     berth_error *err);

/* ---- mount.c ---- */
const char *berth_dmset_fs_name(const struct berth_dmset *s);
int berth_dmset_make_fs(struct berth_dmset *s, const char *dev, berth_error *err);
int berth_dmset_do_mount(struct berth_dmset *s, uint32_t devid, const char *path, bool ro,
			 const char *label, berth_error *err);
int berth_dmset_get_refs(struct berth_dmset *s, const char *id);
int berth_dmset_set_refs(struct berth_dmset *s, const char *id, int n, berth_error *err);
int berth_dmset_mount_layer(struct berth_dmset *s, const struct layer *l, bool read_only,
			    const char *mount_label, char **ret_path, berth_error *err);
int berth_dmset_mount_id(struct berth_dmset *s, const char *id, int *ret_lock, char **ret_path,
			 berth_error *err);
int berth_dmset_unmount_layer(struct berth_dmset *s, const struct layer *l, berth_error *err);
int berth_dmset_unmount_ref(struct berth_dmset *s, const struct layer *l, berth_error *err);
void berth_dmset_unmount_id(struct berth_dmset *s, const char *id, int lock);

/* ---- base.c ---- */
int berth_dmset_base_mount_grow(struct berth_dmset *s, uint32_t devid, const char *mnt,
				const char *fault_point, berth_error *err);
int berth_dmset_create_base(struct berth_dmset *s, berth_error *err);
int berth_dmset_grow_base(struct berth_dmset *s, berth_error *err);
