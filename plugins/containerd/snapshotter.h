/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * berth-snapshotter: containerd's snapshots API (containerd.services.snapshots.v1.Snapshots)
 * served over gRPC on a unix socket, every layer operation delegated to the host's berth
 * storage driver through the storage protocol (docs/containerd.md).
 *
 *   main.c     command line, config, socket and capability hardening, signals
 *   server.c   the gRPC C-core server: one completion queue per worker thread, unary calls and
 *              the List stream, status codes
 *   decode.c   request decoding and validation (protobuf-c, containerd's label limits); the
 *              fuzz target drives it
 *   service.c  the snapshot semantics (active/view/committed, parents, labels, usage), each
 *              operation as metadata transaction + driver call in a crash-safe order
 *   meta.c     the metadata store (SQLite, WAL, synchronous=FULL)
 *   filter.c   containerd's filter language for List
 */

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

#include "berth/error.h"
#include "berth/storage-client.h"
#include "berth/storage-proto.h"
#include "berth/storage-select.h"

/* gRPC status codes (grpc/status.h), kept here so that only server.c includes gRPC. */
enum {
	SNAP_OK = 0,
	SNAP_CANCELLED = 1,
	SNAP_UNKNOWN = 2,
	SNAP_INVALID_ARGUMENT = 3,
	SNAP_NOT_FOUND = 5,
	SNAP_ALREADY_EXISTS = 6,
	SNAP_RESOURCE_EXHAUSTED = 8,
	SNAP_FAILED_PRECONDITION = 9,
	SNAP_UNIMPLEMENTED = 12,
	SNAP_INTERNAL = 13,
	SNAP_UNAVAILABLE = 14,
};

/* The status of one RPC: a gRPC code and a one-line message. */
struct snap_status {
	int code;
	char msg[512];
};
/* Set *st (code, printf message made one line); returns -1. */
int snap_fail(struct snap_status *st, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* A driver error as a status: its protocol code mapped to a gRPC code, its message kept. */
int snap_fail_driver(struct snap_status *st, const char *what, const berth_error *err);
/* Quote a user string for a message: at most max bytes, control and non-ASCII bytes escaped. */
const char *snap_quote(const char *s, size_t max, char *buf, size_t len);

/* ---- methods and decoding (decode.c) ---- */

enum snap_method {
	SNAP_M_PREPARE,
	SNAP_M_VIEW,
	SNAP_M_MOUNTS,
	SNAP_M_COMMIT,
	SNAP_M_REMOVE,
	SNAP_M_STAT,
	SNAP_M_UPDATE,
	SNAP_M_LIST,
	SNAP_M_USAGE,
	SNAP_M_CLEANUP,
	SNAP_M_COUNT,
};

#define SNAP_SERVICE "containerd.services.snapshots.v1.Snapshots"
#define SNAP_KEY_MAX 4096   /* bytes of a snapshot key or name */
#define SNAP_LABEL_MAX 4096 /* bytes of a label's key + value (containerd's labels.Validate) */
#define SNAP_MESSAGE_MAX (1 << 20)

extern const char *const snap_method_names[SNAP_M_COUNT]; /* "Prepare", ... */
/* "/containerd.services.snapshots.v1.Snapshots/Prepare" -> SNAP_M_PREPARE; -1 if unknown. */
int snap_method_lookup(const char *path, size_t len);
/* The request and response descriptors of a method. */
const ProtobufCMessageDescriptor *snap_request_desc(enum snap_method m);

/* Unpack a request and validate it: strings are UTF-8 without NUL bytes, keys and names are
 * present where the method needs them and at most SNAP_KEY_MAX bytes, labels within
 * containerd's size limit.  InvalidArgument with a one-line message otherwise.  Free *ret
 * with snap_request_free(). */
int snap_decode(enum snap_method m, const uint8_t *data, size_t len, ProtobufCMessage **ret,
		struct snap_status *st);
void snap_request_free(ProtobufCMessage *msg);
/* Validate one label (also used by Update's field paths). */
int snap_check_label(const char *key, const char *value, struct snap_status *st);

/* ---- filters (filter.c) ---- */

struct snap_info {
	const char *name, *parent;
	int kind; /* 1 view, 2 active, 3 committed (the proto's Kind) */
	int64_t created, updated; /* ns since the epoch */
	size_t n_labels;
	char **label_keys, **label_values;
};

struct snap_filter;
/* containerd's filter syntax (filters.Parse): selectors joined by ',' (all must match) and
 * any of the given strings may match; fields name, parent, kind, labels.<key>.  ~= uses POSIX
 * extended regular expressions.  A syntax error is InvalidArgument. */
int snap_filter_parse(char **filters, size_t n, struct snap_filter **ret, struct snap_status *st);
bool snap_filter_match(const struct snap_filter *f, const struct snap_info *info);
void snap_filter_free(struct snap_filter *f);

/* ---- metadata (meta.c) ---- */

enum snap_kind { SNAP_KIND_VIEW = 1, SNAP_KIND_ACTIVE = 2, SNAP_KIND_COMMITTED = 3 };

struct snap_row {
	int64_t id;
	char *key;    /* the key (active, view) or the name (committed) */
	char *parent; /* the parent's name, "" for none */
	int64_t parent_id;
	int kind;
	char state[16]; /* ready, creating, committing, removing */
	int64_t created, updated;
	int64_t usage_size, usage_inodes;
	bool usage_known; /* committed: usage measured (lazily, by the first Usage) */
	char *mounts;     /* cached mount specs (JSON), NULL when not cached */
	bool activated;   /* the driver's MOUNTS activated something RELEASE undoes */
	size_t n_labels;
	char **label_keys, **label_values;
};
void snap_row_clear(struct snap_row *r);
/* The driver's layer id of a snapshot row. */
void snap_layer_id(int64_t id, char *buf, size_t len);

struct snap_meta;
int snap_meta_open(const char *path, struct snap_meta **ret, berth_error *err);
void snap_meta_close(struct snap_meta *m);

struct snap_labels {
	size_t n;
	const char *const *keys, *const *values;
};

/* A new row in state "creating" (invisible to Stat/List) for kind/key on parent (NULL or "").
 * AlreadyExists, NotFound (parent), InvalidArgument (parent not committed). */
int snap_meta_begin_create(struct snap_meta *m, int kind, const char *key, const char *parent,
			   const struct snap_labels *labels, int64_t now, int64_t *ret_id,
			   int64_t *ret_parent_id, struct snap_status *st);
/* Row "ready", with the mount specs to cache (NULL: none) and whether they activated
 * something (then they are never cached: Mounts asks the driver each time). */
int snap_meta_finish_create(struct snap_meta *m, int64_t id, const char *mounts, bool activated,
			    struct snap_status *st);
int snap_meta_set_mounts(struct snap_meta *m, int64_t id, const char *mounts, bool activated,
			 struct snap_status *st);
/* A committed snapshot's usage, measured by the first Usage. */
int snap_meta_set_usage(struct snap_meta *m, int64_t id, int64_t size, int64_t inodes,
			struct snap_status *st);
/* At start: forget cached mounts (the driver's options may have changed). */
int snap_meta_startup(struct snap_meta *m, struct snap_status *st);
/* Rows whose layer the driver keeps activated (-1 on error). */
int snap_meta_count_activated(struct snap_meta *m);
int snap_meta_set_state(struct snap_meta *m, int64_t id, const char *state,
			struct snap_status *st);
int snap_meta_delete(struct snap_meta *m, int64_t id, struct snap_status *st);
/* A visible row by key (ready or committing); NotFound otherwise. */
int snap_meta_get(struct snap_meta *m, const char *key, struct snap_row *ret,
		  struct snap_status *st);
/* Mark an active snapshot "committing": NotFound, FailedPrecondition (not active), Unavailable
 * (another operation on it runs), AlreadyExists (name taken). */
int snap_meta_begin_commit(struct snap_meta *m, const char *key, const char *name,
			   struct snap_row *ret, struct snap_status *st);
/* Rename to name, committed, labels replaced, state ready; usage stored when size >= 0, else
 * left for the first Usage to measure.  Cached mounts are dropped. */
int snap_meta_finish_commit(struct snap_meta *m, int64_t id, const char *name,
			    const struct snap_labels *labels, int64_t size, int64_t inodes,
			    int64_t now, struct snap_status *st);
/* Mark "removing": NotFound, Unavailable (busy), FailedPrecondition (has children). */
int snap_meta_begin_remove(struct snap_meta *m, const char *key, struct snap_row *ret,
			   struct snap_status *st);
/* Update labels by field paths (none: replace all).  Unknown path: InvalidArgument. */
int snap_meta_update(struct snap_meta *m, const char *name, const struct snap_labels *labels,
		     char **paths, size_t n_paths, int64_t now, struct snap_row *ret,
		     struct snap_status *st);
/* Up to max visible rows with id > after, by id; *ret_n rows in ret (clear each). */
int snap_meta_list(struct snap_meta *m, int64_t after, size_t max, struct snap_row *ret,
		   size_t *ret_n, struct snap_status *st);
/* Every row id, whatever its state (the layers Cleanup keeps). */
int snap_meta_all_ids(struct snap_meta *m, int64_t **ret, size_t *ret_n, struct snap_status *st);
/* Rows in state creating/removing/committing (crash leftovers), for recovery at startup. */
int snap_meta_unfinished(struct snap_meta *m, struct snap_row **ret, size_t *ret_n,
			 struct snap_status *st);
/* meta key/value (the selected driver, the schema version) */
int snap_meta_get_kv(struct snap_meta *m, const char *k, char **ret);
int snap_meta_set_kv(struct snap_meta *m, const char *k, const char *v, struct snap_status *st);

/* ---- the service (service.c) ---- */

struct snap_svc {
	struct snap_meta *meta;
	struct berth_stor_client *drv;
	const char *driver;
	/* Cleanup (GC with the list of layers the metadata knows) excludes the window between a
	 * new row and its layer: creators hold it shared, Cleanup exclusively. */
	pthread_rwlock_t gc_lock;
};

int snap_svc_init(struct snap_svc *s, struct snap_meta *meta, struct berth_stor_client *drv,
		  const char *driver, berth_error *err);
void snap_svc_fini(struct snap_svc *s);
/* Startup recovery: finish or undo what a crash left (rows creating/removing/committing). */
int snap_svc_recover(struct snap_svc *s, berth_error *err);

/* Mounts as returned by the driver's MOUNTS: a JSON array of {type,source,options}. */
int snap_svc_create(struct snap_svc *s, int kind, const char *key, const char *parent,
		    const struct snap_labels *labels, json_t **ret_mounts, struct snap_status *st);
int snap_svc_mounts(struct snap_svc *s, const char *key, json_t **ret_mounts,
		    struct snap_status *st);
int snap_svc_commit(struct snap_svc *s, const char *name, const char *key,
		    const struct snap_labels *labels, struct snap_status *st);
int snap_svc_remove(struct snap_svc *s, const char *key, struct snap_status *st);
int snap_svc_stat(struct snap_svc *s, const char *key, struct snap_row *ret,
		  struct snap_status *st);
int snap_svc_usage(struct snap_svc *s, const char *key, int64_t *ret_size, int64_t *ret_inodes,
		   struct snap_status *st);
int snap_svc_cleanup(struct snap_svc *s, struct snap_status *st);

/* Drop the library pages only start-up needed from the RSS (main.c). */
void snap_trim_memory(void);

/* ---- the server (server.c) ---- */

struct snap_server_opts {
	const char *address; /* a filesystem path (the socket) */
	unsigned workers;    /* concurrent calls */
	unsigned drain_seconds;
};
/* Serve until a signal other than SIGHUP arrives on wake_fd (a signalfd), then drain: stop
 * accepting calls, let the running ones finish for drain_seconds, cancel the rest. */
int snap_server_run(struct snap_svc *svc, const struct snap_server_opts *o,
		    volatile int *stop, int wake_fd, berth_error *err);
