/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The gRPC server (gRPC's C core, the completion-queue API).  Each worker thread owns one
 * completion queue, registered with the server, and asks for one call at a time on it
 * (grpc_server_request_call: any method): an idle worker takes the next call, a busy one is
 * not asked, so a slow driver call delays nobody else.  The worker runs the call to its end
 * synchronously (receive, decode, service, send), the List stream included.
 */
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/time.h>

#include "berth/cleanup.h"
#include "berth/log.h"
#include "github.com/containerd/containerd/api/services/snapshots/v1/snapshots.pb-c.h"
#include "google/protobuf/empty.pb-c.h"
#include "snapshotter.h"

#define LIST_BATCH 100 /* infos per List message, as containerd's own service sends them */

struct worker {
	pthread_t thread;
	grpc_completion_queue *cq;
	grpc_server *server;
	struct snap_svc *svc;
	bool started;
	int method;      /* the call being served, for the debug log */
	const char *key; /* its key or name, "" when it has none */
};

static gpr_timespec forever(void)
{
	return gpr_inf_future(GPR_CLOCK_REALTIME);
}

/* Run one batch on the worker's queue and wait for it: true when it succeeded. */
static bool batch(struct worker *w, grpc_call *call, const grpc_op *ops, size_t n)
{
	void *tag = (void *)ops;
	grpc_event ev;

	if (grpc_call_start_batch(call, ops, n, tag, NULL) != GRPC_CALL_OK)
		return false;
	for (;;) {
		ev = grpc_completion_queue_next(w->cq, forever(), NULL);
		if (ev.type == GRPC_QUEUE_SHUTDOWN)
			return false;
		if (ev.type == GRPC_OP_COMPLETE && ev.tag == tag)
			return ev.success != 0;
	}
}

static grpc_byte_buffer *pack(const ProtobufCMessage *m)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	grpc_slice s = grpc_slice_malloc(n);
	grpc_byte_buffer *bb;

	protobuf_c_message_pack(m, GRPC_SLICE_START_PTR(s));
	bb = grpc_raw_byte_buffer_create(&s, 1);
	grpc_slice_unref(s);
	return bb;
}

/* Finish a call: initial metadata unless sent, an optional message, the status. */
static void finish(struct worker *w, grpc_call *call, bool sent_md, const ProtobufCMessage *msg,
		   const struct snap_status *st)
{
	grpc_op ops[4];
	grpc_byte_buffer *bb = msg && st->code == SNAP_OK ? pack(msg) : NULL;

	if (berth_log_enabled(BERTH_LOG_DEBUG)) {
		char q[200];
		berth_log_debug("%s %s -> %d%s%s", w->method >= 0 ? snap_method_names[w->method] : "?",
				snap_quote(w->key ? w->key : "", 128, q, sizeof(q)), st->code,
				st->code ? " " : "", st->code ? st->msg : "");
	}
	grpc_slice details = grpc_slice_from_copied_string(st->code == SNAP_OK ? "" : st->msg);
	int cancelled = 0;
	size_t n = 0;

	memset(ops, 0, sizeof(ops));
	if (!sent_md)
		ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
	if (bb) {
		ops[n].op = GRPC_OP_SEND_MESSAGE;
		ops[n++].data.send_message.send_message = bb;
	}
	ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
	ops[n].data.send_status_from_server.status = (grpc_status_code)st->code;
	ops[n++].data.send_status_from_server.status_details = &details;
	ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
	ops[n++].data.recv_close_on_server.cancelled = &cancelled;
	batch(w, call, ops, n);
	if (bb)
		grpc_byte_buffer_destroy(bb);
	grpc_slice_unref(details);
}

/* ---- conversions ---- */

struct labels_buf {
	struct snap_labels l;
	const char **keys, **values;
};

/* Map entries of any request type are {base, key, value}. */
struct map_entry {
	ProtobufCMessage base;
	char *key;
	char *value;
};

static int take_labels(size_t n, void **entries, struct labels_buf *b, struct snap_status *st)
{
	memset(b, 0, sizeof(*b));
	if (!n)
		return 0;
	b->keys = calloc(n, sizeof(char *));
	b->values = calloc(n, sizeof(char *));
	if (!b->keys || !b->values) {
		free(b->keys);
		free(b->values);
		return snap_fail(st, SNAP_INTERNAL, "out of memory");
	}
	for (size_t i = 0; i < n; i++) {
		const struct map_entry *e = entries[i];
		b->keys[i] = e->key;
		b->values[i] = e->value;
	}
	b->l = (struct snap_labels){ n, b->keys, b->values };
	return 0;
}

static void labels_free(struct labels_buf *b)
{
	free(b->keys);
	free(b->values);
}

/* The driver's mounts (JSON) as containerd.types.Mount messages. */
struct mounts_buf {
	size_t n;
	Containerd__Types__Mount *m;
	Containerd__Types__Mount **p;
	char ***opts;
};

static int take_mounts(json_t *arr, struct mounts_buf *b, struct snap_status *st)
{
	size_t i;
	json_t *v;

	memset(b, 0, sizeof(*b));
	b->n = json_array_size(arr);
	b->m = calloc(b->n ? b->n : 1, sizeof(*b->m));
	b->p = calloc(b->n ? b->n : 1, sizeof(*b->p));
	b->opts = calloc(b->n ? b->n : 1, sizeof(*b->opts));
	if (!b->m || !b->p || !b->opts)
		return snap_fail(st, SNAP_INTERNAL, "out of memory");
	json_array_foreach(arr, i, v) {
		json_t *o = json_object_get(v, "options"), *ov;
		size_t k;
		containerd__types__mount__init(&b->m[i]);
		b->m[i].type = (char *)(json_string_value(json_object_get(v, "type")) ?: "");
		b->m[i].source = (char *)(json_string_value(json_object_get(v, "source")) ?: "");
		b->m[i].n_options = json_array_size(o);
		b->opts[i] = calloc(b->m[i].n_options + 1, sizeof(char *));
		if (!b->opts[i])
			return snap_fail(st, SNAP_INTERNAL, "out of memory");
		json_array_foreach(o, k, ov)
			b->opts[i][k] = (char *)(json_string_value(ov) ?: "");
		b->m[i].options = b->opts[i];
		b->p[i] = &b->m[i];
	}
	return 0;
}

static void mounts_free(struct mounts_buf *b)
{
	for (size_t i = 0; b->opts && i < b->n; i++)
		free(b->opts[i]);
	free(b->opts);
	free(b->m);
	free(b->p);
}

/* A row as an Info message; the strings stay the row's. */
struct info_buf {
	Containerd__Services__Snapshots__V1__Info info;
	Google__Protobuf__Timestamp created, updated;
	Containerd__Services__Snapshots__V1__Info__LabelsEntry *entries;
	Containerd__Services__Snapshots__V1__Info__LabelsEntry **ptrs;
};

static int fill_info(const struct snap_row *r, struct info_buf *b, struct snap_status *st)
{
	containerd__services__snapshots__v1__info__init(&b->info);
	google__protobuf__timestamp__init(&b->created);
	google__protobuf__timestamp__init(&b->updated);
	b->info.name = r->key;
	b->info.parent = r->parent;
	b->info.kind = (Containerd__Services__Snapshots__V1__Kind)r->kind;
	b->created.seconds = r->created / 1000000000;
	b->created.nanos = (int32_t)(r->created % 1000000000);
	b->updated.seconds = r->updated / 1000000000;
	b->updated.nanos = (int32_t)(r->updated % 1000000000);
	b->info.created_at = &b->created;
	b->info.updated_at = &b->updated;
	b->entries = NULL;
	b->ptrs = NULL;
	if (r->n_labels) {
		b->entries = calloc(r->n_labels, sizeof(*b->entries));
		b->ptrs = calloc(r->n_labels, sizeof(*b->ptrs));
		if (!b->entries || !b->ptrs) {
			free(b->entries);
			free(b->ptrs);
			return snap_fail(st, SNAP_INTERNAL, "out of memory");
		}
		for (size_t i = 0; i < r->n_labels; i++) {
			containerd__services__snapshots__v1__info__labels_entry__init(&b->entries[i]);
			b->entries[i].key = r->label_keys[i];
			b->entries[i].value = r->label_values[i];
			b->ptrs[i] = &b->entries[i];
		}
	}
	b->info.n_labels = r->n_labels;
	b->info.labels = b->ptrs;
	return 0;
}

static void info_free(struct info_buf *b)
{
	free(b->entries);
	free(b->ptrs);
}

/* ---- methods ---- */

static void do_create(struct worker *w, grpc_call *call, ProtobufCMessage *req, int kind)
{
	struct snap_status st = { 0 };
	struct labels_buf lb;
	struct mounts_buf mb = { 0 };
	json_t *mounts = NULL;
	const char *key, *parent;
	size_t nl;
	void **entries;

	if (kind == SNAP_KIND_ACTIVE) {
		Containerd__Services__Snapshots__V1__PrepareSnapshotRequest *r = (void *)req;
		key = r->key, parent = r->parent, nl = r->n_labels, entries = (void **)r->labels;
	} else {
		Containerd__Services__Snapshots__V1__ViewSnapshotRequest *r = (void *)req;
		key = r->key, parent = r->parent, nl = r->n_labels, entries = (void **)r->labels;
	}
	if (take_labels(nl, entries, &lb, &st) == 0 &&
	    snap_svc_create(w->svc, kind, key, parent, &lb.l, &mounts, &st) == 0 &&
	    take_mounts(mounts, &mb, &st) == 0) {
		/* Prepare and View responses have the same shape: repeated Mount mounts = 1 */
		Containerd__Services__Snapshots__V1__PrepareSnapshotResponse p =
			CONTAINERD__SERVICES__SNAPSHOTS__V1__PREPARE_SNAPSHOT_RESPONSE__INIT;
		Containerd__Services__Snapshots__V1__ViewSnapshotResponse v =
			CONTAINERD__SERVICES__SNAPSHOTS__V1__VIEW_SNAPSHOT_RESPONSE__INIT;
		p.n_mounts = v.n_mounts = mb.n;
		p.mounts = v.mounts = mb.p;
		finish(w, call, false,
		       kind == SNAP_KIND_ACTIVE ? &p.base : &v.base, &st);
	} else {
		finish(w, call, false, NULL, &st);
	}
	mounts_free(&mb);
	if (mounts)
		json_decref(mounts);
	labels_free(&lb);
}

static void do_mounts(struct worker *w, grpc_call *call, ProtobufCMessage *req)
{
	Containerd__Services__Snapshots__V1__MountsRequest *r = (void *)req;
	Containerd__Services__Snapshots__V1__MountsResponse resp =
		CONTAINERD__SERVICES__SNAPSHOTS__V1__MOUNTS_RESPONSE__INIT;
	struct snap_status st = { 0 };
	struct mounts_buf mb = { 0 };
	json_t *mounts = NULL;

	if (snap_svc_mounts(w->svc, r->key, &mounts, &st) == 0 &&
	    take_mounts(mounts, &mb, &st) == 0) {
		resp.n_mounts = mb.n;
		resp.mounts = mb.p;
	}
	finish(w, call, false, &resp.base, &st);
	mounts_free(&mb);
	if (mounts)
		json_decref(mounts);
}

static void do_commit(struct worker *w, grpc_call *call, ProtobufCMessage *req)
{
	Containerd__Services__Snapshots__V1__CommitSnapshotRequest *r = (void *)req;
	Google__Protobuf__Empty empty = GOOGLE__PROTOBUF__EMPTY__INIT;
	struct snap_status st = { 0 };
	struct labels_buf lb;

	if (take_labels(r->n_labels, (void **)r->labels, &lb, &st) == 0) {
		snap_svc_commit(w->svc, r->name, r->key, &lb.l, &st);
		labels_free(&lb);
	}
	finish(w, call, false, &empty.base, &st);
}

static void do_remove(struct worker *w, grpc_call *call, ProtobufCMessage *req)
{
	Containerd__Services__Snapshots__V1__RemoveSnapshotRequest *r = (void *)req;
	Google__Protobuf__Empty empty = GOOGLE__PROTOBUF__EMPTY__INIT;
	struct snap_status st = { 0 };

	snap_svc_remove(w->svc, r->key, &st);
	finish(w, call, false, &empty.base, &st);
}

static void reply_info(struct worker *w, grpc_call *call, const struct snap_row *row, bool update,
		       struct snap_status *st)
{
	Containerd__Services__Snapshots__V1__StatSnapshotResponse s =
		CONTAINERD__SERVICES__SNAPSHOTS__V1__STAT_SNAPSHOT_RESPONSE__INIT;
	Containerd__Services__Snapshots__V1__UpdateSnapshotResponse u =
		CONTAINERD__SERVICES__SNAPSHOTS__V1__UPDATE_SNAPSHOT_RESPONSE__INIT;
	struct info_buf ib = { 0 };

	if (st->code == SNAP_OK && fill_info(row, &ib, st) == 0) {
		s.info = u.info = &ib.info;
		finish(w, call, false, update ? &u.base : &s.base, st);
		info_free(&ib);
		return;
	}
	finish(w, call, false, NULL, st);
}

static void do_stat(struct worker *w, grpc_call *call, ProtobufCMessage *req)
{
	Containerd__Services__Snapshots__V1__StatSnapshotRequest *r = (void *)req;
	struct snap_status st = { 0 };
	struct snap_row row = { 0 };

	snap_svc_stat(w->svc, r->key, &row, &st);
	reply_info(w, call, &row, false, &st);
	snap_row_clear(&row);
}

static void do_update(struct worker *w, grpc_call *call, ProtobufCMessage *req)
{
	Containerd__Services__Snapshots__V1__UpdateSnapshotRequest *r = (void *)req;
	struct snap_status st = { 0 };
	struct snap_row row = { 0 };
	struct labels_buf lb;
	struct timespec ts;

	if (take_labels(r->info->n_labels, (void **)r->info->labels, &lb, &st) == 0) {
		clock_gettime(CLOCK_REALTIME, &ts);
		snap_meta_update(w->svc->meta, r->info->name, &lb.l,
				 r->update_mask ? r->update_mask->paths : NULL,
				 r->update_mask ? r->update_mask->n_paths : 0,
				 (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec, &row, &st);
		labels_free(&lb);
	}
	reply_info(w, call, &row, true, &st);
	snap_row_clear(&row);
}

static void do_usage(struct worker *w, grpc_call *call, ProtobufCMessage *req)
{
	Containerd__Services__Snapshots__V1__UsageRequest *r = (void *)req;
	Containerd__Services__Snapshots__V1__UsageResponse resp =
		CONTAINERD__SERVICES__SNAPSHOTS__V1__USAGE_RESPONSE__INIT;
	struct snap_status st = { 0 };

	snap_svc_usage(w->svc, r->key, &resp.size, &resp.inodes, &st);
	finish(w, call, false, &resp.base, &st);
}

static void do_cleanup(struct worker *w, grpc_call *call, ProtobufCMessage *req)
{
	Google__Protobuf__Empty empty = GOOGLE__PROTOBUF__EMPTY__INIT;
	struct snap_status st = { 0 };

	snap_svc_cleanup(w->svc, &st);
	finish(w, call, false, &empty.base, &st);
}

/* List: the rows in id order, LIST_BATCH per message, filters applied here.  The metadata
 * lock is held only while a batch is read, never while the client takes it. */
static void do_list(struct worker *w, grpc_call *call, ProtobufCMessage *req)
{
	Containerd__Services__Snapshots__V1__ListSnapshotsRequest *r = (void *)req;
	struct snap_status st = { 0 };
	struct snap_filter *f = NULL;
	struct snap_row rows[LIST_BATCH];
	struct info_buf ibs[LIST_BATCH];
	Containerd__Services__Snapshots__V1__Info *infos[LIST_BATCH];
	bool sent_md = false;
	int64_t after = 0;
	size_t n;

	if (snap_filter_parse(r->filters, r->n_filters, &f, &st) < 0) {
		finish(w, call, false, NULL, &st);
		return;
	}
	for (;;) {
		Containerd__Services__Snapshots__V1__ListSnapshotsResponse resp =
			CONTAINERD__SERVICES__SNAPSHOTS__V1__LIST_SNAPSHOTS_RESPONSE__INIT;
		size_t k = 0;
		bool ok = true;

		if (snap_meta_list(w->svc->meta, after, LIST_BATCH, rows, &n, &st) < 0)
			break;
		if (n == 0)
			break;
		after = rows[n - 1].id;
		for (size_t i = 0; i < n; i++) {
			struct snap_info in = { rows[i].key, rows[i].parent, rows[i].kind,
						rows[i].created, rows[i].updated, rows[i].n_labels,
						rows[i].label_keys, rows[i].label_values };
			if (!snap_filter_match(f, &in))
				continue;
			if (fill_info(&rows[i], &ibs[k], &st) < 0) {
				ok = false;
				break;
			}
			infos[k] = &ibs[k].info;
			k++;
		}
		if (ok && k) {
			grpc_op ops[2];
			size_t no = 0;
			memset(ops, 0, sizeof(ops));
			resp.n_info = k;
			resp.info = infos;
			if (!sent_md)
				ops[no++].op = GRPC_OP_SEND_INITIAL_METADATA;
			ops[no].op = GRPC_OP_SEND_MESSAGE;
			ops[no++].data.send_message.send_message = pack(&resp.base);
			ok = batch(w, call, ops, no);
			grpc_byte_buffer_destroy(ops[no - 1].data.send_message.send_message);
			if (!ok)
				snap_fail(&st, SNAP_CANCELLED, "client went away");
			sent_md = true;
		}
		for (size_t i = 0; i < k; i++)
			info_free(&ibs[i]);
		for (size_t i = 0; i < n; i++)
			snap_row_clear(&rows[i]);
		if (!ok)
			break;
	}
	snap_filter_free(f);
	finish(w, call, sent_md, NULL, &st);
}

/* ---- calls ---- */

static const char *request_key(enum snap_method m, ProtobufCMessage *req)
{
	switch (m) {
	case SNAP_M_PREPARE:
		return ((Containerd__Services__Snapshots__V1__PrepareSnapshotRequest *)req)->key;
	case SNAP_M_VIEW:
		return ((Containerd__Services__Snapshots__V1__ViewSnapshotRequest *)req)->key;
	case SNAP_M_MOUNTS:
		return ((Containerd__Services__Snapshots__V1__MountsRequest *)req)->key;
	case SNAP_M_COMMIT:
		return ((Containerd__Services__Snapshots__V1__CommitSnapshotRequest *)req)->key;
	case SNAP_M_REMOVE:
		return ((Containerd__Services__Snapshots__V1__RemoveSnapshotRequest *)req)->key;
	case SNAP_M_STAT:
		return ((Containerd__Services__Snapshots__V1__StatSnapshotRequest *)req)->key;
	case SNAP_M_USAGE:
		return ((Containerd__Services__Snapshots__V1__UsageRequest *)req)->key;
	case SNAP_M_UPDATE:
		return ((Containerd__Services__Snapshots__V1__UpdateSnapshotRequest *)req)->info->name;
	default:
		return "";
	}
}

static void handle(struct worker *w, grpc_call *call, const grpc_call_details *d)
{
	struct snap_status st = { 0 };
	ProtobufCMessage *req = NULL;
	grpc_byte_buffer *bb = NULL;
	grpc_op op;
	int m;

	m = snap_method_lookup((const char *)GRPC_SLICE_START_PTR(d->method),
			       GRPC_SLICE_LENGTH(d->method));
	w->method = m;
	w->key = "";
	memset(&op, 0, sizeof(op));
	op.op = GRPC_OP_RECV_MESSAGE;
	op.data.recv_message.recv_message = &bb;
	if (!batch(w, call, &op, 1))
		return;
	if (m < 0) {
		snap_fail(&st, SNAP_UNIMPLEMENTED, "unknown method %.*s",
			  (int)(GRPC_SLICE_LENGTH(d->method) > 200 ? 200
								     : GRPC_SLICE_LENGTH(d->method)),
			  (const char *)GRPC_SLICE_START_PTR(d->method));
		goto fail;
	}
	if (!bb) {
		snap_fail(&st, SNAP_INVALID_ARGUMENT, "%s: no request message", snap_method_names[m]);
		goto fail;
	}
	{
		grpc_byte_buffer_reader rd;
		grpc_slice all;
		if (!grpc_byte_buffer_reader_init(&rd, bb)) {
			snap_fail(&st, SNAP_INVALID_ARGUMENT, "%s: unreadable request",
				  snap_method_names[m]);
			goto fail;
		}
		all = grpc_byte_buffer_reader_readall(&rd);
		grpc_byte_buffer_reader_destroy(&rd);
		snap_decode((enum snap_method)m, GRPC_SLICE_START_PTR(all), GRPC_SLICE_LENGTH(all),
			    &req, &st);
		grpc_slice_unref(all);
		grpc_byte_buffer_destroy(bb);
		bb = NULL;
	}
	if (!req)
		goto fail;
	w->key = request_key((enum snap_method)m, req);
	switch (m) {
	case SNAP_M_PREPARE:
		do_create(w, call, req, SNAP_KIND_ACTIVE);
		break;
	case SNAP_M_VIEW:
		do_create(w, call, req, SNAP_KIND_VIEW);
		break;
	case SNAP_M_MOUNTS:
		do_mounts(w, call, req);
		break;
	case SNAP_M_COMMIT:
		do_commit(w, call, req);
		break;
	case SNAP_M_REMOVE:
		do_remove(w, call, req);
		break;
	case SNAP_M_STAT:
		do_stat(w, call, req);
		break;
	case SNAP_M_UPDATE:
		do_update(w, call, req);
		break;
	case SNAP_M_LIST:
		do_list(w, call, req);
		break;
	case SNAP_M_USAGE:
		do_usage(w, call, req);
		break;
	case SNAP_M_CLEANUP:
		do_cleanup(w, call, req);
		break;
	}
	snap_request_free(req);
	w->key = "";
	return;
fail:
	if (bb)
		grpc_byte_buffer_destroy(bb);
	if (st.code != SNAP_UNIMPLEMENTED)
		berth_log_info("%s: %s", m >= 0 ? snap_method_names[m] : "?", st.msg);
	finish(w, call, false, NULL, &st);
}

/* Calls running now: when the last one ends, free memory goes back to the kernel, so that
 * a burst of calls does not leave the heap at its peak. */
static int active_calls;

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	for (;;) {
		grpc_call *call = NULL;
		grpc_call_details details;
		grpc_metadata_array md;
		grpc_event ev;
		int tag_new;

		grpc_call_details_init(&details);
		grpc_metadata_array_init(&md);
		if (grpc_server_request_call(w->server, &call, &details, &md, w->cq, w->cq,
					     &tag_new) != GRPC_CALL_OK) {
			grpc_call_details_destroy(&details);
			grpc_metadata_array_destroy(&md);
			break;
		}
		do
			ev = grpc_completion_queue_next(w->cq, forever(), NULL);
		while (ev.type == GRPC_OP_COMPLETE && ev.tag != &tag_new);
		if (ev.type != GRPC_OP_COMPLETE || !ev.success) {
			/* the server shuts down */
			if (call)
				grpc_call_unref(call);
			grpc_call_details_destroy(&details);
			grpc_metadata_array_destroy(&md);
			break;
		}
		__atomic_add_fetch(&active_calls, 1, __ATOMIC_SEQ_CST);
		handle(w, call, &details);
		grpc_call_unref(call);
		grpc_call_details_destroy(&details);
		grpc_metadata_array_destroy(&md);
		if (__atomic_sub_fetch(&active_calls, 1, __ATOMIC_SEQ_CST) == 0)
			malloc_trim(0);
	}
	return NULL;
}

static void drain_cq(grpc_completion_queue *cq, bool pluck)
{
	grpc_event ev;

	grpc_completion_queue_shutdown(cq);
	do
		ev = pluck ? grpc_completion_queue_pluck(cq, NULL, forever(), NULL)
			   : grpc_completion_queue_next(cq, forever(), NULL);
	while (ev.type != GRPC_QUEUE_SHUTDOWN);
	grpc_completion_queue_destroy(cq);
}

int snap_server_run(struct snap_svc *svc, const struct snap_server_opts *o,
		    volatile int *stop, int wake_fd, berth_error *err)
{
	grpc_arg args[] = {
		{ .type = GRPC_ARG_INTEGER,
		  .key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
		  .value.integer = SNAP_MESSAGE_MAX },
		{ .type = GRPC_ARG_INTEGER,
		  .key = (char *)GRPC_ARG_ENABLE_CHANNELZ,
		  .value.integer = 0 },
		/* as many streams per connection as there are workers to serve them: the rest wait
		 * in the client (HTTP/2 flow control) instead of in our memory */
		{ .type = GRPC_ARG_INTEGER,
		  .key = (char *)GRPC_ARG_MAX_CONCURRENT_STREAMS,
		  .value.integer = (int)o->workers },
	};
	grpc_channel_args cargs = { .num_args = ARRAY_SIZE(args), .args = args };
	grpc_server_credentials *creds;
	grpc_completion_queue *scq;
	struct worker *ws;
	pthread_attr_t attr;
	_cleanup_free_ char *addr = NULL;
	grpc_server *server;
	grpc_event ev;
	mode_t old;
	int r = 0, port;
	bool shut = false;
	char tag;

	if (asprintf(&addr, "unix:%s", o->address) < 0)
		return berth_error_set(err, BERTH_ERR_INTERNAL, ENOMEM, "out of memory");
	ws = calloc(o->workers, sizeof(*ws));
	if (!ws)
		return berth_error_set(err, BERTH_ERR_INTERNAL, ENOMEM, "out of memory");
	grpc_init();
	server = grpc_server_create(&cargs, NULL);
	for (unsigned i = 0; i < o->workers; i++) {
		ws[i].cq = grpc_completion_queue_create_for_next(NULL);
		ws[i].server = server;
		ws[i].svc = svc;
		grpc_server_register_completion_queue(server, ws[i].cq, NULL);
	}
	/* the socket is created 0600 (and its directory was checked to be root's 0700) */
	old = umask(0177);
	creds = grpc_insecure_server_credentials_create();
	port = grpc_server_add_http2_port(server, addr, creds);
	grpc_server_credentials_release(creds);
	umask(old);
	if (!port) {
		r = berth_error_set(err, BERTH_ERR_IO, EADDRNOTAVAIL, "cannot listen on %s",
				    o->address);
		goto out_destroy;
	}
	if (chmod(o->address, 0600) < 0) {
		r = berth_error_errno(err, BERTH_ERR_IO, "chmod %s", o->address);
		goto out_destroy;
	}
	grpc_server_start(server);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	for (unsigned i = 0; i < o->workers; i++) {
		if (pthread_create(&ws[i].thread, &attr, worker_main, &ws[i]) != 0) {
			r = berth_error_set(err, BERTH_ERR_INTERNAL, EAGAIN,
					    "cannot start worker thread %u", i);
			*stop = 1;
			break;
		}
		ws[i].started = true;
	}
	pthread_attr_destroy(&attr);
	berth_log_info("serving %s on %s (%u workers, driver %s)", SNAP_SERVICE, o->address,
		       o->workers, svc->driver);
	snap_trim_memory();

	while (!*stop) {
		struct pollfd p = { .fd = wake_fd, .events = POLLIN };
		struct signalfd_siginfo si;
		if (poll(&p, 1, -1) < 0 && errno != EINTR)
			break;
		if (!(p.revents & POLLIN))
			continue;
		if (read(wake_fd, &si, sizeof(si)) == (ssize_t)sizeof(si) && si.ssi_signo == SIGHUP) {
			berth_log_info("SIGHUP: nothing to reload (restart to apply a new config)");
			continue;
		}
		berth_log_info("signal %u", si.ssi_signo);
		break;
	}

	/* drain: no new calls; running ones get drain_seconds, then are cancelled */
	berth_log_info("shutting down: draining calls (up to %u s)", o->drain_seconds);
	scq = grpc_completion_queue_create_for_pluck(NULL);
	grpc_server_shutdown_and_notify(server, scq, &tag);
	ev = grpc_completion_queue_pluck(
		scq, &tag,
		gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
			     gpr_time_from_seconds(o->drain_seconds, GPR_TIMESPAN)),
		NULL);
	if (ev.type == GRPC_QUEUE_TIMEOUT) {
		berth_log_warn("calls still running after %u s: cancelled", o->drain_seconds);
		grpc_server_cancel_all_calls(server);
		grpc_completion_queue_pluck(scq, &tag, forever(), NULL);
	}
	for (unsigned i = 0; i < o->workers; i++)
		if (ws[i].started)
			pthread_join(ws[i].thread, NULL);
	drain_cq(scq, true);
	shut = true;
out_destroy:
	if (!shut) {
		/* not started: shutdown still has to be asked for before destroy */
		scq = grpc_completion_queue_create_for_pluck(NULL);
		grpc_server_shutdown_and_notify(server, scq, &tag);
		grpc_server_cancel_all_calls(server);
		grpc_completion_queue_pluck(scq, &tag, forever(), NULL);
		drain_cq(scq, true);
	}
	grpc_server_destroy(server);
	for (unsigned i = 0; i < o->workers; i++)
		drain_cq(ws[i].cq, false);
	free(ws);
	grpc_shutdown();
	unlink(o->address);
	return r;
}
