/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The snapshotter's metadata in SQLite: one row per snapshot (its key or, once committed, its
 * name; kind; parent row; timestamps; usage stored at commit) and its labels.  WAL with
 * synchronous=FULL: a transaction that returned is on disk, one a SIGKILL interrupted is not.
 *
 * A row's "state" orders the work with the driver: a row is made "creating" before the driver
 * CREATE and becomes "ready" after it; "removing" before the driver REMOVE, deleted after;
 * "committing" while Commit asks the driver for the usage.  Rows not "ready"/"committing" are
 * invisible to Stat, List and Mounts; startup recovery finishes or undoes them.
 *
 * One connection, one mutex: every function here is one short transaction and never waits
 * for a driver, so a slow driver call on one snapshot does not hold up the others.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth/cleanup.h"
#include "snapshotter.h"

struct snap_meta {
	sqlite3 *db;
	pthread_mutex_t lock;
};

static const char schema[] =
	"CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS snapshots ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" key TEXT NOT NULL UNIQUE,"
	" kind INTEGER NOT NULL CHECK (kind BETWEEN 1 AND 3),"
	" parent INTEGER REFERENCES snapshots(id),"
	" state TEXT NOT NULL,"
	" created INTEGER NOT NULL, updated INTEGER NOT NULL,"
	" usage_size INTEGER NOT NULL DEFAULT 0, usage_inodes INTEGER NOT NULL DEFAULT 0,"
	" usage_known INTEGER NOT NULL DEFAULT 0,"
	" mounts TEXT, activated INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX IF NOT EXISTS snapshots_parent ON snapshots(parent);"
	"CREATE TABLE IF NOT EXISTS labels ("
	" snap INTEGER NOT NULL REFERENCES snapshots(id) ON DELETE CASCADE,"
	" name TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (snap, name));"
	"INSERT OR IGNORE INTO meta (k, v) VALUES ('schema', '1');";

void snap_layer_id(int64_t id, char *buf, size_t len)
{
	snprintf(buf, len, "snap-%" PRId64, id);
}

void snap_row_clear(struct snap_row *r)
{
	free(r->key);
	free(r->parent);
	free(r->mounts);
	for (size_t i = 0; i < r->n_labels; i++) {
		free(r->label_keys[i]);
		free(r->label_values[i]);
	}
	free(r->label_keys);
	free(r->label_values);
	memset(r, 0, sizeof(*r));
}

static int db_fail(struct snap_meta *m, struct snap_status *st, const char *what)
{
	return snap_fail(st, SNAP_INTERNAL, "metadata: %s: %s", what, sqlite3_errmsg(m->db));
}

int snap_meta_open(const char *path, struct snap_meta **ret, berth_error *err)
{
	struct snap_meta *m = calloc(1, sizeof(*m));
	char *msg = NULL;
	int r;

	if (!m)
		return berth_error_set(err, BERTH_ERR_INTERNAL, ENOMEM, "out of memory");
	pthread_mutex_init(&m->lock, NULL);
	r = sqlite3_open_v2(path, &m->db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX |
				    SQLITE_OPEN_NOFOLLOW,
			    NULL);
	if (r != SQLITE_OK) {
		berth_error_set(err, BERTH_ERR_IO, EIO, "metadata %s: %s", path,
				m->db ? sqlite3_errmsg(m->db) : sqlite3_errstr(r));
		snap_meta_close(m);
		return -EIO;
	}
	sqlite3_busy_timeout(m->db, 10000);
	r = sqlite3_exec(m->db,
			 "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"
			 "PRAGMA cache_size=-256;",
			 NULL, NULL, &msg);
	if (r == SQLITE_OK)
		r = sqlite3_exec(m->db, schema, NULL, NULL, &msg);
	if (r != SQLITE_OK) {
		berth_error_set(err, BERTH_ERR_IO, EIO, "metadata %s: %s", path,
				msg ? msg : sqlite3_errstr(r));
		sqlite3_free(msg);
		snap_meta_close(m);
		return -EIO;
	}
	*ret = m;
	return 0;
}

void snap_meta_close(struct snap_meta *m)
{
	if (!m)
		return;
	if (m->db)
		sqlite3_close_v2(m->db);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

/* ---- small helpers; the caller holds m->lock ---- */

static sqlite3_stmt *prep(struct snap_meta *m, const char *sql)
{
	sqlite3_stmt *s = NULL;

	if (sqlite3_prepare_v2(m->db, sql, -1, &s, NULL) != SQLITE_OK)
		return NULL;
	return s;
}

static void finalizep(sqlite3_stmt **s)
{
	if (*s)
		sqlite3_finalize(*s);
}
#define _cleanup_stmt_ __attribute__((cleanup(finalizep)))

static int exec(struct snap_meta *m, const char *sql)
{
	return sqlite3_exec(m->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

/* A transaction.  durable: its COMMIT syncs the WAL (and with it every transaction before).
 * Durable are the states an answer or an irreversible driver call depends on: a snapshot
 * made or committed (before the reply), "removing" (before the driver REMOVE).  The others
 * need not be: a power cut that rolls back a "creating" row leaves a layer no row names
 * (Cleanup removes it), one that rolls back a row's deletion leaves it "removing" (the next
 * start removes it again).  A SIGKILL loses no committed transaction either way (WAL). */
static int begin(struct snap_meta *m, struct snap_status *st, bool durable)
{
	pthread_mutex_lock(&m->lock);
	if (exec(m, durable ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL") < 0 ||
	    exec(m, "BEGIN IMMEDIATE") < 0) {
		db_fail(m, st, "begin");
		pthread_mutex_unlock(&m->lock);
		return -1;
	}
	return 0;
}

/* Commit when ok, else roll back; unlocks.  Returns r, or -1 when the commit fails. */
static int end(struct snap_meta *m, int r, struct snap_status *st)
{
	if (r >= 0 && exec(m, "COMMIT") < 0) {
		db_fail(m, st, "commit");
		r = -1;
	}
	if (r < 0)
		exec(m, "ROLLBACK");
	pthread_mutex_unlock(&m->lock);
	return r;
}

static char *col_str(sqlite3_stmt *s, int i)
{
	const unsigned char *t = sqlite3_column_text(s, i);

	return strdup(t ? (const char *)t : "");
}

#define ROW_COLS                                                                                  \
	"s.id, s.key, COALESCE(p.key, ''), COALESCE(s.parent, 0), s.kind, s.state, s.created, "  \
	"s.updated, s.usage_size, s.usage_inodes, s.usage_known, s.mounts, s.activated "         \
	"FROM snapshots s LEFT JOIN snapshots p ON "                                               \
	"p.id = s.parent "

static int read_labels(struct snap_meta *m, struct snap_row *r, struct snap_status *st)
{
	_cleanup_stmt_ sqlite3_stmt *s = prep(m, "SELECT name, value FROM labels WHERE snap = ? "
						 "ORDER BY name");
	size_t cap = 0;
	int rc;

	if (!s)
		return db_fail(m, st, "labels");
	sqlite3_bind_int64(s, 1, r->id);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (r->n_labels == cap) {
			char **k, **v;
			cap = cap ? cap * 2 : 8;
			k = realloc(r->label_keys, cap * sizeof(char *));
			if (k)
				r->label_keys = k;
			v = realloc(r->label_values, cap * sizeof(char *));
			if (v)
				r->label_values = v;
			if (!k || !v)
				return snap_fail(st, SNAP_INTERNAL, "out of memory");
		}
		r->label_keys[r->n_labels] = col_str(s, 0);
		r->label_values[r->n_labels] = col_str(s, 1);
		r->n_labels++;
	}
	return rc == SQLITE_DONE ? 0 : db_fail(m, st, "labels");
}

static void fill_row(sqlite3_stmt *s, struct snap_row *r)
{
	const unsigned char *state;

	r->id = sqlite3_column_int64(s, 0);
	r->key = col_str(s, 1);
	r->parent = col_str(s, 2);
	r->parent_id = sqlite3_column_int64(s, 3);
	r->kind = sqlite3_column_int(s, 4);
	state = sqlite3_column_text(s, 5);
	snprintf(r->state, sizeof(r->state), "%s", state ? (const char *)state : "");
	r->created = sqlite3_column_int64(s, 6);
	r->updated = sqlite3_column_int64(s, 7);
	r->usage_size = sqlite3_column_int64(s, 8);
	r->usage_inodes = sqlite3_column_int64(s, 9);
	r->usage_known = sqlite3_column_int(s, 10) != 0;
	r->mounts = sqlite3_column_type(s, 11) == SQLITE_NULL ? NULL : col_str(s, 11);
	r->activated = sqlite3_column_int(s, 12) != 0;
}

/* Any row by key (whatever its state): 1 found, 0 not, -1 error. */
static int find(struct snap_meta *m, const char *key, struct snap_row *ret, bool labels,
		struct snap_status *st)
{
	_cleanup_stmt_ sqlite3_stmt *s = prep(m, "SELECT " ROW_COLS "WHERE s.key = ?");
	int rc;

	memset(ret, 0, sizeof(*ret));
	if (!s)
		return db_fail(m, st, "lookup");
	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE)
		return 0;
	if (rc != SQLITE_ROW)
		return db_fail(m, st, "lookup");
	fill_row(s, ret);
	if (!ret->key || !ret->parent)
		return snap_fail(st, SNAP_INTERNAL, "out of memory");
	if (labels && read_labels(m, ret, st) < 0)
		return -1;
	return 1;
}

static bool visible(const struct snap_row *r)
{
	return STREQ(r->state, "ready") || STREQ(r->state, "committing");
}

static int not_found(struct snap_status *st, const char *key)
{
	char q[200];

	return snap_fail(st, SNAP_NOT_FOUND, "snapshot %s does not exist",
			 snap_quote(key, 128, q, sizeof(q)));
}

static int busy(struct snap_status *st, const struct snap_row *r)
{
	char q[200];

	return snap_fail(st, SNAP_UNAVAILABLE, "snapshot %s is being %s by another call",
			 snap_quote(r->key, 128, q, sizeof(q)),
			 STREQ(r->state, "creating")	 ? "created"
			 : STREQ(r->state, "removing") ? "removed"
						       : "committed");
}

static int put_labels(struct snap_meta *m, int64_t id, const struct snap_labels *l,
		      struct snap_status *st)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;

	if (!l || !l->n)
		return 0;
	s = prep(m, "INSERT OR REPLACE INTO labels (snap, name, value) VALUES (?, ?, ?)");
	if (!s)
		return db_fail(m, st, "labels");
	for (size_t i = 0; i < l->n; i++) {
		if (!*l->values[i])
			continue; /* containerd drops labels with an empty value */
		sqlite3_reset(s);
		sqlite3_bind_int64(s, 1, id);
		sqlite3_bind_text(s, 2, l->keys[i], -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 3, l->values[i], -1, SQLITE_STATIC);
		if (sqlite3_step(s) != SQLITE_DONE)
			return db_fail(m, st, "labels");
	}
	return 0;
}

static int run1(struct snap_meta *m, const char *sql, int64_t a, const char *t, int64_t b,
		struct snap_status *st)
{
	_cleanup_stmt_ sqlite3_stmt *s = prep(m, sql);

	if (!s)
		return db_fail(m, st, "update");
	/* parameters ?1 (int), ?2 (text), ?3 (int), whichever the statement uses */
	if (sqlite3_bind_parameter_count(s) >= 1)
		sqlite3_bind_int64(s, 1, a);
	if (sqlite3_bind_parameter_count(s) >= 2)
		sqlite3_bind_text(s, 2, t, -1, SQLITE_STATIC);
	if (sqlite3_bind_parameter_count(s) >= 3)
		sqlite3_bind_int64(s, 3, b);
	if (sqlite3_step(s) != SQLITE_DONE)
		return db_fail(m, st, "update");
	return sqlite3_changes(m->db);
}

/* ---- operations ---- */

int snap_meta_begin_create(struct snap_meta *m, int kind, const char *key, const char *parent,
			   const struct snap_labels *labels, int64_t now, int64_t *ret_id,
			   int64_t *ret_parent_id, struct snap_status *st)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	struct snap_row r = { 0 }, p = { 0 };
	char q[200];
	int rc = 0;

	if (begin(m, st, false) < 0)
		return -1;
	rc = find(m, key, &r, false, st);
	if (rc > 0) {
		rc = visible(&r) ? snap_fail(st, SNAP_ALREADY_EXISTS, "snapshot %s already exists",
					     snap_quote(key, 128, q, sizeof(q)))
				 : busy(st, &r);
		goto out;
	}
	if (rc < 0)
		goto out;
	if (parent && *parent) {
		rc = find(m, parent, &p, false, st);
		if (rc == 0 || (rc > 0 && !visible(&p))) {
			rc = snap_fail(st, SNAP_NOT_FOUND, "parent snapshot %s does not exist",
				       snap_quote(parent, 128, q, sizeof(q)));
			goto out;
		}
		if (rc < 0)
			goto out;
		if (p.kind != SNAP_KIND_COMMITTED) {
			rc = snap_fail(st, SNAP_INVALID_ARGUMENT,
				       "parent %s is not a committed snapshot",
				       snap_quote(parent, 128, q, sizeof(q)));
			goto out;
		}
	}
	s = prep(m, "INSERT INTO snapshots (key, kind, parent, state, created, updated) VALUES "
		    "(?, ?, ?, 'creating', ?, ?)");
	if (!s) {
		rc = db_fail(m, st, "insert");
		goto out;
	}
	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 2, kind);
	if (p.id)
		sqlite3_bind_int64(s, 3, p.id);
	else
		sqlite3_bind_null(s, 3);
	sqlite3_bind_int64(s, 4, now);
	sqlite3_bind_int64(s, 5, now);
	if (sqlite3_step(s) != SQLITE_DONE) {
		rc = db_fail(m, st, "insert");
		goto out;
	}
	*ret_id = sqlite3_last_insert_rowid(m->db);
	*ret_parent_id = p.id;
	rc = put_labels(m, *ret_id, labels, st);
out:
	snap_row_clear(&r);
	snap_row_clear(&p);
	return end(m, rc < 0 ? -1 : 0, st);
}

int snap_meta_finish_create(struct snap_meta *m, int64_t id, const char *mounts, bool activated,
			    struct snap_status *st)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	int rc;

	if (begin(m, st, true) < 0)
		return -1;
	s = prep(m, "UPDATE snapshots SET state = 'ready', mounts = ?, activated = ? WHERE id = ?");
	if (!s) {
		rc = db_fail(m, st, "update");
	} else {
		if (mounts)
			sqlite3_bind_text(s, 1, mounts, -1, SQLITE_STATIC);
		else
			sqlite3_bind_null(s, 1);
		sqlite3_bind_int(s, 2, activated);
		sqlite3_bind_int64(s, 3, id);
		rc = sqlite3_step(s) == SQLITE_DONE ? 0 : db_fail(m, st, "update");
	}
	return end(m, rc, st);
}

int snap_meta_set_mounts(struct snap_meta *m, int64_t id, const char *mounts, bool activated,
			 struct snap_status *st)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	int rc;

	if (begin(m, st, false) < 0)
		return -1;
	s = prep(m, "UPDATE snapshots SET mounts = ?, activated = ? WHERE id = ?");
	if (!s) {
		rc = db_fail(m, st, "update");
	} else {
		if (mounts)
			sqlite3_bind_text(s, 1, mounts, -1, SQLITE_STATIC);
		else
			sqlite3_bind_null(s, 1);
		sqlite3_bind_int(s, 2, activated);
		sqlite3_bind_int64(s, 3, id);
		rc = sqlite3_step(s) == SQLITE_DONE ? 0 : db_fail(m, st, "update");
	}
	return end(m, rc, st);
}

int snap_meta_set_usage(struct snap_meta *m, int64_t id, int64_t size, int64_t inodes,
			struct snap_status *st)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	int rc;

	if (begin(m, st, false) < 0)
		return -1;
	s = prep(m, "UPDATE snapshots SET usage_size = ?, usage_inodes = ?, usage_known = 1 "
		    "WHERE id = ? AND kind = 3");
	if (!s) {
		rc = db_fail(m, st, "usage");
	} else {
		sqlite3_bind_int64(s, 1, size);
		sqlite3_bind_int64(s, 2, inodes);
		sqlite3_bind_int64(s, 3, id);
		rc = sqlite3_step(s) == SQLITE_DONE ? 0 : db_fail(m, st, "usage");
	}
	return end(m, rc, st);
}

int snap_meta_startup(struct snap_meta *m, struct snap_status *st)
{
	int rc;

	/* cached mount specs were made with the driver options of the last run */
	if (begin(m, st, true) < 0)
		return -1;
	rc = exec(m, "UPDATE snapshots SET mounts = NULL") < 0 ? db_fail(m, st, "startup") : 0;
	return end(m, rc, st);
}

int snap_meta_count_activated(struct snap_meta *m)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	int n = -1;

	pthread_mutex_lock(&m->lock);
	s = prep(m, "SELECT count(*) FROM snapshots WHERE activated != 0");
	if (s && sqlite3_step(s) == SQLITE_ROW)
		n = sqlite3_column_int(s, 0);
	pthread_mutex_unlock(&m->lock);
	return n;
}

int snap_meta_set_state(struct snap_meta *m, int64_t id, const char *state,
			struct snap_status *st)
{
	int r;

	if (begin(m, st, true) < 0)
		return -1;
	r = run1(m, "UPDATE snapshots SET state = ?2 WHERE id = ?1", id, state, 0, st);
	return end(m, r < 0 ? -1 : 0, st);
}

int snap_meta_delete(struct snap_meta *m, int64_t id, struct snap_status *st)
{
	int r;

	if (begin(m, st, false) < 0) /* a "removing" row lost to a power cut is removed again */
		return -1;
	r = run1(m, "DELETE FROM labels WHERE snap = ?1", id, NULL, 0, st);
	if (r >= 0)
		r = run1(m, "DELETE FROM snapshots WHERE id = ?1", id, NULL, 0, st);
	return end(m, r < 0 ? -1 : 0, st);
}

int snap_meta_get(struct snap_meta *m, const char *key, struct snap_row *ret,
		  struct snap_status *st)
{
	int r;

	pthread_mutex_lock(&m->lock);
	r = find(m, key, ret, true, st);
	pthread_mutex_unlock(&m->lock);
	if (r > 0 && !visible(ret))
		r = 0;
	if (r <= 0) {
		snap_row_clear(ret);
		return r < 0 ? -1 : not_found(st, key);
	}
	return 0;
}

int snap_meta_begin_commit(struct snap_meta *m, const char *key, const char *name,
			   struct snap_row *ret, struct snap_status *st)
{
	struct snap_row n = { 0 };
	char q[200];
	int rc;

	if (begin(m, st, false) < 0)
		return -1;
	rc = find(m, key, ret, false, st);
	if (rc == 0 || (rc > 0 && !visible(ret) && !STREQ(ret->state, "removing"))) {
		rc = not_found(st, key);
		goto out;
	}
	if (rc < 0)
		goto out;
	if (!STREQ(ret->state, "ready")) {
		rc = busy(st, ret);
		goto out;
	}
	if (ret->kind != SNAP_KIND_ACTIVE) {
		rc = snap_fail(st, SNAP_FAILED_PRECONDITION, "snapshot %s is not active (it is a %s)",
			       snap_quote(key, 128, q, sizeof(q)),
			       ret->kind == SNAP_KIND_VIEW ? "view" : "committed snapshot");
		goto out;
	}
	rc = find(m, name, &n, false, st);
	if (rc > 0) {
		rc = snap_fail(st, SNAP_ALREADY_EXISTS, "snapshot %s already exists",
			       snap_quote(name, 128, q, sizeof(q)));
		goto out;
	}
	if (rc < 0)
		goto out;
	rc = run1(m, "UPDATE snapshots SET state = 'committing' WHERE id = ?1", ret->id, NULL, 0,
		  st);
out:
	snap_row_clear(&n);
	if (rc < 0)
		snap_row_clear(ret);
	return end(m, rc < 0 ? -1 : 0, st);
}

int snap_meta_finish_commit(struct snap_meta *m, int64_t id, const char *name,
			    const struct snap_labels *labels, int64_t size, int64_t inodes,
			    int64_t now, struct snap_status *st)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	char q[200];
	int rc = -1;

	if (begin(m, st, true) < 0)
		return -1;
	s = prep(m, "UPDATE snapshots SET key = ?, kind = 3, state = 'ready', created = ?, "
		    "updated = ?, usage_size = ?, usage_inodes = ?, usage_known = ?, mounts = NULL "
		    "WHERE id = ?");
	if (!s) {
		db_fail(m, st, "commit");
		goto out;
	}
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, now);
	sqlite3_bind_int64(s, 3, now);
	sqlite3_bind_int64(s, 4, size < 0 ? 0 : size);
	sqlite3_bind_int64(s, 5, inodes < 0 ? 0 : inodes);
	sqlite3_bind_int(s, 6, size >= 0);
	sqlite3_bind_int64(s, 7, id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_CONSTRAINT) {
		rc = snap_fail(st, SNAP_ALREADY_EXISTS, "snapshot %s already exists",
			       snap_quote(name, 128, q, sizeof(q)));
		goto out;
	}
	if (rc != SQLITE_DONE) {
		rc = db_fail(m, st, "commit");
		goto out;
	}
	/* labels are replaced, not inherited (containerd's CommitActive) */
	rc = run1(m, "DELETE FROM labels WHERE snap = ?1", id, NULL, 0, st);
	if (rc >= 0)
		rc = put_labels(m, id, labels, st);
out:
	return end(m, rc < 0 ? -1 : 0, st);
}

int snap_meta_begin_remove(struct snap_meta *m, const char *key, struct snap_row *ret,
			   struct snap_status *st)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	char q[200];
	int rc;

	if (begin(m, st, true) < 0) /* before the irreversible driver REMOVE */
		return -1;
	rc = find(m, key, ret, false, st);
	if (rc == 0 || (rc > 0 && STREQ(ret->state, "creating"))) {
		rc = not_found(st, key);
		goto out;
	}
	if (rc < 0)
		goto out;
	if (!STREQ(ret->state, "ready")) {
		rc = busy(st, ret);
		goto out;
	}
	s = prep(m, "SELECT key FROM snapshots WHERE parent = ? LIMIT 1");
	if (!s) {
		rc = db_fail(m, st, "children");
		goto out;
	}
	sqlite3_bind_int64(s, 1, ret->id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		char q2[200];
		rc = snap_fail(st, SNAP_FAILED_PRECONDITION,
			       "cannot remove snapshot %s with child %s",
			       snap_quote(key, 128, q, sizeof(q)),
			       snap_quote((const char *)sqlite3_column_text(s, 0), 64, q2,
					  sizeof(q2)));
		goto out;
	}
	if (rc != SQLITE_DONE) {
		rc = db_fail(m, st, "children");
		goto out;
	}
	rc = run1(m, "UPDATE snapshots SET state = 'removing' WHERE id = ?1", ret->id, NULL, 0,
		  st);
out:
	if (rc < 0)
		snap_row_clear(ret);
	return end(m, rc < 0 ? -1 : 0, st);
}

int snap_meta_update(struct snap_meta *m, const char *name, const struct snap_labels *labels,
		     char **paths, size_t n_paths, int64_t now, struct snap_row *ret,
		     struct snap_status *st)
{
	char q[200], q2[200];
	int rc;

	if (begin(m, st, true) < 0)
		return -1;
	rc = find(m, name, ret, false, st);
	if (rc == 0 || (rc > 0 && !visible(ret))) {
		rc = not_found(st, name);
		goto out;
	}
	if (rc < 0)
		goto out;
	/* validate every path before changing anything */
	for (size_t i = 0; i < n_paths; i++)
		if (!STREQ(paths[i], "labels") && strncmp(paths[i], "labels.", 7) != 0) {
			rc = snap_fail(st, SNAP_INVALID_ARGUMENT,
				       "cannot update %s field on snapshot %s",
				       snap_quote(paths[i], 64, q2, sizeof(q2)),
				       snap_quote(name, 128, q, sizeof(q)));
			goto out;
		}
	if (n_paths == 0) {
		rc = run1(m, "DELETE FROM labels WHERE snap = ?1", ret->id, NULL, 0, st);
		if (rc >= 0)
			rc = put_labels(m, ret->id, labels, st);
	}
	for (size_t i = 0; i < n_paths && rc >= 0; i++) {
		if (STREQ(paths[i], "labels")) {
			rc = run1(m, "DELETE FROM labels WHERE snap = ?1", ret->id, NULL, 0, st);
			if (rc >= 0)
				rc = put_labels(m, ret->id, labels, st);
			continue;
		}
		/* labels.<key>: set to the value given, or delete when the request has none
		 * (containerd stores "", which reads back as no label) */
		const char *key = paths[i] + 7, *value = NULL;
		for (size_t k = 0; labels && k < labels->n; k++)
			if (STREQ(labels->keys[k], key))
				value = labels->values[k];
		if (value && *value) {
			struct snap_labels one = { 1, &key, &value };
			rc = snap_check_label(key, value, st);
			if (rc >= 0)
				rc = put_labels(m, ret->id, &one, st);
		} else {
			_cleanup_stmt_ sqlite3_stmt *s =
				prep(m, "DELETE FROM labels WHERE snap = ? AND name = ?");
			if (!s) {
				rc = db_fail(m, st, "labels");
				break;
			}
			sqlite3_bind_int64(s, 1, ret->id);
			sqlite3_bind_text(s, 2, key, -1, SQLITE_STATIC);
			rc = sqlite3_step(s) == SQLITE_DONE ? 0 : db_fail(m, st, "labels");
		}
	}
	if (rc >= 0)
		rc = run1(m, "UPDATE snapshots SET updated = ?3 WHERE id = ?1", ret->id, NULL, now,
			  st);
	if (rc >= 0) {
		int64_t id = ret->id;
		snap_row_clear(ret);
		_cleanup_stmt_ sqlite3_stmt *s = prep(m, "SELECT " ROW_COLS "WHERE s.id = ?");
		if (!s || (sqlite3_bind_int64(s, 1, id), sqlite3_step(s)) != SQLITE_ROW) {
			rc = db_fail(m, st, "read back");
			goto out;
		}
		fill_row(s, ret);
		rc = read_labels(m, ret, st);
	}
out:
	if (rc < 0)
		snap_row_clear(ret);
	return end(m, rc < 0 ? -1 : 0, st);
}

int snap_meta_list(struct snap_meta *m, int64_t after, size_t max, struct snap_row *ret,
		   size_t *ret_n, struct snap_status *st)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	size_t n = 0;
	int rc = 0;

	pthread_mutex_lock(&m->lock);
	s = prep(m, "SELECT " ROW_COLS "WHERE s.id > ? AND s.state IN ('ready', 'committing') "
		    "ORDER BY s.id LIMIT ?");
	if (!s) {
		rc = db_fail(m, st, "list");
		goto out;
	}
	sqlite3_bind_int64(s, 1, after);
	sqlite3_bind_int64(s, 2, (int64_t)max);
	while (n < max && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		memset(&ret[n], 0, sizeof(ret[n]));
		fill_row(s, &ret[n]);
		n++;
		if (read_labels(m, &ret[n - 1], st) < 0) {
			rc = -1;
			goto out;
		}
	}
	rc = (rc == SQLITE_DONE || rc == SQLITE_ROW) ? 0 : db_fail(m, st, "list");
out:
	pthread_mutex_unlock(&m->lock);
	if (rc < 0)
		for (size_t i = 0; i < n; i++)
			snap_row_clear(&ret[i]);
	*ret_n = rc < 0 ? 0 : n;
	return rc;
}

int snap_meta_all_ids(struct snap_meta *m, int64_t **ret, size_t *ret_n, struct snap_status *st)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	int64_t *ids = NULL;
	size_t n = 0, cap = 0;
	int rc;

	pthread_mutex_lock(&m->lock);
	s = prep(m, "SELECT id FROM snapshots");
	if (!s) {
		rc = db_fail(m, st, "ids");
		goto out;
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (n == cap) {
			int64_t *ni = realloc(ids, (cap = cap ? cap * 2 : 64) * sizeof(*ids));
			if (!ni) {
				rc = snap_fail(st, SNAP_INTERNAL, "out of memory");
				goto out;
			}
			ids = ni;
		}
		ids[n++] = sqlite3_column_int64(s, 0);
	}
	rc = rc == SQLITE_DONE ? 0 : db_fail(m, st, "ids");
out:
	pthread_mutex_unlock(&m->lock);
	if (rc < 0) {
		free(ids);
		return -1;
	}
	*ret = ids;
	*ret_n = n;
	return 0;
}

int snap_meta_unfinished(struct snap_meta *m, struct snap_row **ret, size_t *ret_n,
			 struct snap_status *st)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	struct snap_row *rows = NULL;
	size_t n = 0, cap = 0;
	int rc;

	pthread_mutex_lock(&m->lock);
	/* children first: a creating child of a removing parent goes before it */
	s = prep(m, "SELECT " ROW_COLS "WHERE s.state != 'ready' ORDER BY s.id DESC");
	if (!s) {
		rc = db_fail(m, st, "recovery");
		goto out;
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (n == cap) {
			struct snap_row *nr = realloc(rows, (cap = cap ? cap * 2 : 16) * sizeof(*rows));
			if (!nr) {
				rc = snap_fail(st, SNAP_INTERNAL, "out of memory");
				goto out;
			}
			rows = nr;
		}
		memset(&rows[n], 0, sizeof(rows[n]));
		fill_row(s, &rows[n++]);
	}
	rc = rc == SQLITE_DONE ? 0 : db_fail(m, st, "recovery");
out:
	pthread_mutex_unlock(&m->lock);
	if (rc < 0) {
		for (size_t i = 0; i < n; i++)
			snap_row_clear(&rows[i]);
		free(rows);
		return -1;
	}
	*ret = rows;
	*ret_n = n;
	return 0;
}

int snap_meta_get_kv(struct snap_meta *m, const char *k, char **ret)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	int rc = -1;

	pthread_mutex_lock(&m->lock);
	s = prep(m, "SELECT v FROM meta WHERE k = ?");
	if (s) {
		sqlite3_bind_text(s, 1, k, -1, SQLITE_STATIC);
		if (sqlite3_step(s) == SQLITE_ROW) {
			*ret = col_str(s, 0);
			rc = *ret ? 0 : -1;
		}
	}
	pthread_mutex_unlock(&m->lock);
	return rc;
}

int snap_meta_set_kv(struct snap_meta *m, const char *k, const char *v, struct snap_status *st)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	int rc;

	if (begin(m, st, true) < 0)
		return -1;
	s = prep(m, "INSERT OR REPLACE INTO meta (k, v) VALUES (?, ?)");
	if (!s) {
		rc = db_fail(m, st, "meta");
	} else {
		sqlite3_bind_text(s, 1, k, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, v, -1, SQLITE_STATIC);
		rc = sqlite3_step(s) == SQLITE_DONE ? 0 : db_fail(m, st, "meta");
	}
	return end(m, rc, st);
}
