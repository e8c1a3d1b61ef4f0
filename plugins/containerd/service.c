/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The snapshot semantics, over the metadata (meta.c) and the storage driver.  Every snapshot
 * is one driver layer, "snap-<row id>": the row id never changes (Commit renames the row), so
 * a key with '/' or anything else never becomes a path.
 *
 * Order, so that a SIGKILL at any point leaves nothing half-made that a restart does not
 * finish or undo (snap_svc_recover):
 *   create: row "creating" -> driver CREATE (with args.mounts: the specs too) -> row "ready"
 *   commit: row "committing" -> row renamed, committed, "ready" -> RELEASE (activated only)
 *   remove: row "removing" -> driver REMOVE -> row deleted
 * A Prepare runs the driver once, a Commit not at all (overlay), Mounts answers cached specs
 * unless the driver activates something for them (devicemapper), the usage of a committed
 * snapshot is measured once, by the first Usage.
 * A failure on the way undoes the steps before it and answers the error.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "berth/cleanup.h"
#include "berth/fault.h"
#include "berth/json.h"
#include "berth/log.h"
#include "snapshotter.h"

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int snap_svc_init(struct snap_svc *s, struct snap_meta *meta, struct berth_stor_client *drv,
		  const char *driver, berth_error *err)
{
	memset(s, 0, sizeof(*s));
	s->meta = meta;
	s->drv = drv;
	s->driver = driver;
	if (pthread_rwlock_init(&s->gc_lock, NULL) != 0)
		return berth_error_set(err, BERTH_ERR_INTERNAL, ENOMEM, "rwlock");
	return 0;
}

void snap_svc_fini(struct snap_svc *s)
{
	pthread_rwlock_destroy(&s->gc_lock);
}

/* One driver verb on layer `id` with optional extra args. */
static int drv_call(struct snap_svc *s, const char *verb, int64_t id, json_t *extra,
		    json_t **ret, berth_error *err)
{
	_cleanup_json_ json_t *args = extra ? json_deep_copy(extra) : json_object();
	char layer[32];

	if (!args)
		return berth_error_set(err, BERTH_ERR_INTERNAL, ENOMEM, "out of memory");
	snap_layer_id(id, layer, sizeof(layer));
	json_object_set_new(args, "id", json_string(layer));
	return berth_stor_client_call(s->drv, verb, args, -1, ret, err);
}

/* Best effort: undo a layer. */
static void drop_layer(struct snap_svc *s, int64_t id)
{
	berth_error e = { 0 };

	/* REMOVE deactivates what MOUNTS activated */
	if (drv_call(s, "REMOVE", id, NULL, NULL, &e) < 0)
		berth_log_warn("undo: remove layer snap-%" PRId64 ": %s", id, e.msg);
}

static int take_mounts(json_t *res, json_t **ret, struct snap_status *st)
{
	json_t *m = json_object_get(res, "mounts");

	if (!json_is_array(m))
		return snap_fail(st, SNAP_INTERNAL, "storage driver: MOUNTS without a mounts list");
	*ret = json_incref(m);
	return 0;
}

int snap_svc_create(struct snap_svc *s, int kind, const char *key, const char *parent,
		    const struct snap_labels *labels, json_t **ret_mounts, struct snap_status *st)
{
	_cleanup_json_ json_t *cargs = NULL, *margs = NULL, *res = NULL, *mres = NULL;
	_cleanup_free_ char *cache = NULL;
	int64_t id = 0, pid = 0;
	berth_error e = { 0 };
	char player[32];
	bool activated;
	int r;

	pthread_rwlock_rdlock(&s->gc_lock);
	r = snap_meta_begin_create(s->meta, kind, key, parent, labels, now_ns(), &id, &pid, st);
	if (r < 0)
		goto out;
	BERTH_FAULT_POINT("snap-create-after-row");
	/* one driver call: CREATE with args.mounts answers MOUNTS' specs too */
	cargs = json_pack("{s:b,s:{s:b}}", "rw", kind == SNAP_KIND_ACTIVE, "mounts", "ro",
			  kind == SNAP_KIND_VIEW);
	if (pid) {
		snap_layer_id(pid, player, sizeof(player));
		json_object_set_new(cargs, "parent", json_string(player));
	}
	r = drv_call(s, "CREATE", id, cargs, &res, &e);
	if (r < 0) {
		snap_fail_driver(st, "create", &e);
		snap_meta_delete(s->meta, id, &(struct snap_status){ 0 });
		goto out;
	}
	BERTH_FAULT_POINT("snap-create-after-layer");
	if (!json_is_array(json_object_get(res, "mounts"))) {
		/* a driver without CREATE's args.mounts: ask MOUNTS */
		margs = json_pack("{s:b}", "ro", kind == SNAP_KIND_VIEW);
		r = drv_call(s, "MOUNTS", id, margs, &mres, &e);
		if (r < 0) {
			snap_fail_driver(st, "mounts", &e);
			goto undo;
		}
		json_decref(res);
		res = TAKE_PTR(mres);
	}
	if ((r = take_mounts(res, ret_mounts, st)) < 0)
		goto undo;
	activated = json_is_true(json_object_get(res, "activated"));
	/* specs that activated nothing depend only on the layer chain: Mounts answers them
	 * from the metadata without running the driver */
	if (!activated)
		cache = json_dumps(*ret_mounts, JSON_COMPACT);
	BERTH_FAULT_POINT("snap-create-before-ready");
	r = snap_meta_finish_create(s->meta, id, cache, activated, st);
	if (r < 0) {
		json_decref(*ret_mounts);
		*ret_mounts = NULL;
		goto undo;
	}
	goto out;
undo:
	r = -1;
	drop_layer(s, id);
	snap_meta_delete(s->meta, id, &(struct snap_status){ 0 });
out:
	pthread_rwlock_unlock(&s->gc_lock);
	return r < 0 ? -1 : 0;
}

int snap_svc_mounts(struct snap_svc *s, const char *key, json_t **ret_mounts,
		    struct snap_status *st)
{
	_cleanup_json_ json_t *margs = NULL, *res = NULL;
	struct snap_row row = { 0 };
	berth_error e = { 0 };
	char q[200];
	int r;

	if (snap_meta_get(s->meta, key, &row, st) < 0)
		return -1;
	if (row.kind == SNAP_KIND_COMMITTED) {
		snap_row_clear(&row);
		return snap_fail(st, SNAP_FAILED_PRECONDITION,
				 "snapshot %s is committed: only active snapshots and views have "
				 "mounts",
				 snap_quote(key, 128, q, sizeof(q)));
	}
	if (row.mounts && !row.activated) {
		*ret_mounts = json_loads(row.mounts, 0, NULL);
		if (json_is_array(*ret_mounts)) {
			snap_row_clear(&row);
			return 0;
		}
		if (*ret_mounts)
			json_decref(*ret_mounts);
		*ret_mounts = NULL;
	}
	margs = json_pack("{s:b}", "ro", row.kind == SNAP_KIND_VIEW);
	r = drv_call(s, "MOUNTS", row.id, margs, &res, &e);
	if (r < 0) {
		snap_row_clear(&row);
		return snap_fail_driver(st, "mounts", &e);
	}
	r = take_mounts(res, ret_mounts, st);
	if (r == 0 && !json_is_true(json_object_get(res, "activated"))) {
		_cleanup_free_ char *cache = json_dumps(*ret_mounts, JSON_COMPACT);
		snap_meta_set_mounts(s->meta, row.id, cache, false, &(struct snap_status){ 0 });
	}
	snap_row_clear(&row);
	return r;
}

int snap_svc_commit(struct snap_svc *s, const char *name, const char *key,
		    const struct snap_labels *labels, struct snap_status *st)
{
	struct snap_row row = { 0 };
	berth_error e = { 0 };
	bool activated;
	int64_t id;
	int r;

	if (snap_meta_begin_commit(s->meta, key, name, &row, st) < 0)
		return -1;
	id = row.id;
	activated = row.activated;
	snap_row_clear(&row);
	BERTH_FAULT_POINT("snap-commit-after-mark");
	/* the usage is measured by the first Usage of the committed snapshot (its content can
	 * no longer change): Commit itself runs no driver */
	r = snap_meta_finish_commit(s->meta, id, name, labels, -1, -1, now_ns(), st);
	if (r < 0) {
		snap_meta_set_state(s->meta, id, "ready", &(struct snap_status){ 0 });
		return -1;
	}
	BERTH_FAULT_POINT("snap-commit-after-meta");
	/* committed: nobody mounts it read-write any more; devicemapper deactivates it (as
	 * containerd's own devmapper snapshotter does on commit) */
	if (activated) {
		if (drv_call(s, "RELEASE", id, NULL, NULL, &e) < 0)
			berth_log_warn("commit %s: release: %s", name, e.msg);
		snap_meta_set_mounts(s->meta, id, NULL, false, &(struct snap_status){ 0 });
	}
	return 0;
}

int snap_svc_remove(struct snap_svc *s, const char *key, struct snap_status *st)
{
	struct snap_row row = { 0 };
	berth_error e = { 0 };
	int64_t id;
	int r;

	if (snap_meta_begin_remove(s->meta, key, &row, st) < 0)
		return -1;
	id = row.id;
	snap_row_clear(&row);
	BERTH_FAULT_POINT("snap-remove-after-mark");
	r = drv_call(s, "REMOVE", id, NULL, NULL, &e);
	if (r < 0) {
		char q[200];
		if (e.code == BERTH_STOR_ERR_BUSY)
			snap_fail(st, SNAP_FAILED_PRECONDITION, "snapshot %s is in use: %s",
				  snap_quote(key, 128, q, sizeof(q)), e.msg);
		else
			snap_fail_driver(st, "remove", &e);
		snap_meta_set_state(s->meta, id, "ready", &(struct snap_status){ 0 });
		return -1;
	}
	BERTH_FAULT_POINT("snap-remove-after-layer");
	/* the layer is gone: should deleting the row fail, the row stays "removing" (invisible)
	 * and the next start finishes it */
	return snap_meta_delete(s->meta, id, st);
}

int snap_svc_stat(struct snap_svc *s, const char *key, struct snap_row *ret,
		  struct snap_status *st)
{
	return snap_meta_get(s->meta, key, ret, st);
}

int snap_svc_usage(struct snap_svc *s, const char *key, int64_t *ret_size, int64_t *ret_inodes,
		   struct snap_status *st)
{
	_cleanup_json_ json_t *res = NULL;
	struct snap_row row = { 0 };
	berth_error e = { 0 };
	int r;

	if (snap_meta_get(s->meta, key, &row, st) < 0)
		return -1;
	*ret_size = row.usage_size;
	*ret_inodes = row.usage_inodes;
	/* active: measured now; committed: measured once, then stored (it cannot change); a
	 * view holds nothing of its own (containerd reports it so too) */
	if (row.kind == SNAP_KIND_ACTIVE ||
	    (row.kind == SNAP_KIND_COMMITTED && !row.usage_known)) {
		r = drv_call(s, "USAGE", row.id, NULL, &res, &e);
		if (r < 0) {
			snap_row_clear(&row);
			return snap_fail_driver(st, "usage", &e);
		}
		*ret_size = json_integer_value(json_object_get(res, "size"));
		*ret_inodes = json_integer_value(json_object_get(res, "inodes"));
		if (row.kind == SNAP_KIND_COMMITTED)
			snap_meta_set_usage(s->meta, row.id, *ret_size, *ret_inodes,
					    &(struct snap_status){ 0 });
	}
	snap_row_clear(&row);
	return 0;
}

int snap_svc_cleanup(struct snap_svc *s, struct snap_status *st)
{
	_cleanup_json_ json_t *keep = json_array(), *args = NULL, *res = NULL;
	_cleanup_free_ int64_t *ids = NULL;
	berth_error e = { 0 };
	size_t n = 0;
	int r;

	pthread_rwlock_wrlock(&s->gc_lock);
	r = snap_meta_all_ids(s->meta, &ids, &n, st);
	if (r < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		char layer[32];
		snap_layer_id(ids[i], layer, sizeof(layer));
		json_array_append_new(keep, json_string(layer));
	}
	args = json_pack("{s:O}", "keep", keep);
	r = berth_stor_client_call(s->drv, "GC", args, -1, &res, &e);
	if (r < 0) {
		snap_fail_driver(st, "cleanup", &e);
		goto out;
	}
	{
		_cleanup_free_ char *removed = json_dumps(json_object_get(res, "removed"),
							  JSON_COMPACT);
		berth_log_info("cleanup: removed %s", removed ? removed : "?");
	}
out:
	pthread_rwlock_unlock(&s->gc_lock);
	return r < 0 ? -1 : 0;
}

int snap_svc_recover(struct snap_svc *s, berth_error *err)
{
	struct snap_status st = { 0 };
	struct snap_row *rows = NULL;
	size_t n = 0;
	int r = 0;

	if (snap_meta_startup(s->meta, &st) < 0)
		return berth_error_set(err, BERTH_ERR_IO, EIO, "startup: %s", st.msg);

	if (snap_meta_unfinished(s->meta, &rows, &n, &st) < 0)
		return berth_error_set(err, BERTH_ERR_IO, EIO, "recovery: %s", st.msg);
	for (size_t i = 0; i < n; i++) {
		struct snap_row *row = &rows[i];
		berth_error e = { 0 };

		if (STREQ(row->state, "committing")) {
			/* the commit did not happen: it is still the active snapshot it was */
			berth_log_info("recovery: %s stays active (commit interrupted)", row->key);
			if (snap_meta_set_state(s->meta, row->id, "ready", &st) < 0)
				r = berth_error_set(err, BERTH_ERR_IO, EIO, "recovery: %s",
						    st.msg);
			continue;
		}
		/* creating: never answered, so nobody uses it; removing: was being removed */
		berth_log_info("recovery: removing %s (%s interrupted)", row->key,
			       STREQ(row->state, "creating") ? "create" : "remove");
		if (drv_call(s, "REMOVE", row->id, NULL, NULL, &e) < 0) {
			berth_log_error("recovery: remove layer of %s: %s (retried at the next start)",
					row->key, e.msg);
			continue;
		}
		if (snap_meta_delete(s->meta, row->id, &st) < 0)
			r = berth_error_set(err, BERTH_ERR_IO, EIO, "recovery: %s", st.msg);
	}
	for (size_t i = 0; i < n; i++)
		snap_row_clear(&rows[i]);
	free(rows);
	return r;
}
