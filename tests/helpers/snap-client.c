// SPDX-License-Identifier: Apache-2.0
/*
 * A small client of containerd's snapshots API (gRPC, the messages generated from containerd's
 * protos), so that the berth-snapshotter tests need no containerd:
 *
 *   snap-client SOCKET prepare KEY [PARENT] [-l K=V]...     view KEY PARENT [-l K=V]...
 *   snap-client SOCKET mounts KEY | remove KEY | stat KEY | usage KEY | cleanup
 *   snap-client SOCKET commit NAME KEY [-l K=V]...
 *   snap-client SOCKET update NAME [-l K=V]... [-p PATH]...   (-p: an update_mask path)
 *   snap-client SOCKET list [-f FILTER]...
 *   snap-client SOCKET raw METHOD HEX     send HEX (the encoded request) to METHOD ("Prepare",
 *                                         or a full "/pkg.Service/Method" path)
 *   snap-client SOCKET parallel N CMD ARGS...  N calls at once (threads); "%d" in an argument
 *                                         becomes the call's index; prints counts per code
 *   snap-client SOCKET repeat N CMD ARGS...    N calls one after the other on one connection;
 *                                         prints the median, min and max latency in ms
 *
 * Prints one JSON object: {"code":0,...the result...} or {"code":N,"message":"..."}; exits
 * with the gRPC status code (0 = OK).  SNAP_CLIENT_TIMEOUT: seconds (default 120).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "github.com/containerd/containerd/api/services/snapshots/v1/snapshots.pb-c.h"
#include "grpc-call.h"

#define SVC "/containerd.services.snapshots.v1.Snapshots/"
#define MAX_LABELS 256

/* ---- building requests ---- */

struct args {
	const char *pos[4];
	size_t npos;
	const char *lk[MAX_LABELS], *lv[MAX_LABELS];
	size_t nl;
	char *paths[MAX_LABELS];
	size_t np;
	char *filters[MAX_LABELS];
	size_t nf;
	char *labelbuf[MAX_LABELS];
};

static int parse_args(int argc, char **argv, struct args *a)
{
	memset(a, 0, sizeof(*a));
	for (int i = 0; i < argc; i++) {
		if ((!strcmp(argv[i], "-l") || !strcmp(argv[i], "-p") || !strcmp(argv[i], "-f")) &&
		    i + 1 < argc) {
			const char *v = argv[++i];
			if (argv[i - 1][1] == 'l' && a->nl < MAX_LABELS) {
				char *eq = strchr(v, '=');
				char *c = strdup(v);
				if (!eq || !c)
					return -1;
				c[eq - v] = '\0';
				a->labelbuf[a->nl] = c;
				a->lk[a->nl] = c;
				a->lv[a->nl++] = c + (eq - v) + 1;
			} else if (argv[i - 1][1] == 'p' && a->np < MAX_LABELS) {
				a->paths[a->np++] = (char *)v;
			} else if (a->nf < MAX_LABELS) {
				a->filters[a->nf++] = (char *)v;
			}
		} else if (a->npos < 4) {
			a->pos[a->npos++] = argv[i];
		} else {
			return -1;
		}
	}
	return 0;
}

static void args_free(struct args *a)
{
	for (size_t i = 0; i < a->nl; i++)
		free(a->labelbuf[i]);
}

/* Map entries share one layout: {base, key, value}. */
static void **entries(const struct args *a, const ProtobufCMessageDescriptor *d)
{
	void **p = calloc(a->nl + 1, sizeof(void *));

	for (size_t i = 0; i < a->nl; i++) {
		struct {
			ProtobufCMessage base;
			char *key, *value;
		} *e = calloc(1, d->sizeof_message);
		protobuf_c_message_init(d, e);
		e->key = (char *)a->lk[i];
		e->value = (char *)a->lv[i];
		p[i] = e;
	}
	return p;
}

static void entries_free(void **p, size_t n)
{
	for (size_t i = 0; p && i < n; i++)
		free(p[i]);
	free(p);
}

static const char *pos(const struct args *a, size_t i)
{
	return i < a->npos ? a->pos[i] : "";
}

/* Encode the request of cmd; returns the method name or NULL. */
static const char *encode(const char *cmd, struct args *a, uint8_t **ret, size_t *ret_len)
{
	ProtobufCMessage *msg = NULL;
	const char *method = NULL;
	void **ents = NULL;
	union {
		Containerd__Services__Snapshots__V1__PrepareSnapshotRequest p;
		Containerd__Services__Snapshots__V1__ViewSnapshotRequest v;
		Containerd__Services__Snapshots__V1__MountsRequest m;
		Containerd__Services__Snapshots__V1__CommitSnapshotRequest c;
		Containerd__Services__Snapshots__V1__RemoveSnapshotRequest r;
		Containerd__Services__Snapshots__V1__StatSnapshotRequest s;
		Containerd__Services__Snapshots__V1__UpdateSnapshotRequest u;
		Containerd__Services__Snapshots__V1__ListSnapshotsRequest l;
		Containerd__Services__Snapshots__V1__UsageRequest us;
		Containerd__Services__Snapshots__V1__CleanupRequest cl;
	} q;
	Containerd__Services__Snapshots__V1__Info info;
	Google__Protobuf__FieldMask mask;

	if (!strcmp(cmd, "prepare")) {
		containerd__services__snapshots__v1__prepare_snapshot_request__init(&q.p);
		q.p.snapshotter = "berth";
		q.p.key = (char *)pos(a, 0);
		q.p.parent = (char *)pos(a, 1);
		q.p.n_labels = a->nl;
		q.p.labels = (void *)(ents = entries(
			a, &containerd__services__snapshots__v1__prepare_snapshot_request__labels_entry__descriptor));
		msg = &q.p.base, method = "Prepare";
	} else if (!strcmp(cmd, "view")) {
		containerd__services__snapshots__v1__view_snapshot_request__init(&q.v);
		q.v.snapshotter = "berth";
		q.v.key = (char *)pos(a, 0);
		q.v.parent = (char *)pos(a, 1);
		q.v.n_labels = a->nl;
		q.v.labels = (void *)(ents = entries(
			a, &containerd__services__snapshots__v1__view_snapshot_request__labels_entry__descriptor));
		msg = &q.v.base, method = "View";
	} else if (!strcmp(cmd, "mounts")) {
		containerd__services__snapshots__v1__mounts_request__init(&q.m);
		q.m.key = (char *)pos(a, 0);
		msg = &q.m.base, method = "Mounts";
	} else if (!strcmp(cmd, "commit")) {
		containerd__services__snapshots__v1__commit_snapshot_request__init(&q.c);
		q.c.name = (char *)pos(a, 0);
		q.c.key = (char *)pos(a, 1);
		q.c.n_labels = a->nl;
		q.c.labels = (void *)(ents = entries(
			a, &containerd__services__snapshots__v1__commit_snapshot_request__labels_entry__descriptor));
		msg = &q.c.base, method = "Commit";
	} else if (!strcmp(cmd, "remove")) {
		containerd__services__snapshots__v1__remove_snapshot_request__init(&q.r);
		q.r.key = (char *)pos(a, 0);
		msg = &q.r.base, method = "Remove";
	} else if (!strcmp(cmd, "stat")) {
		containerd__services__snapshots__v1__stat_snapshot_request__init(&q.s);
		q.s.key = (char *)pos(a, 0);
		msg = &q.s.base, method = "Stat";
	} else if (!strcmp(cmd, "usage")) {
		containerd__services__snapshots__v1__usage_request__init(&q.us);
		q.us.key = (char *)pos(a, 0);
		msg = &q.us.base, method = "Usage";
	} else if (!strcmp(cmd, "cleanup")) {
		containerd__services__snapshots__v1__cleanup_request__init(&q.cl);
		msg = &q.cl.base, method = "Cleanup";
	} else if (!strcmp(cmd, "list")) {
		containerd__services__snapshots__v1__list_snapshots_request__init(&q.l);
		q.l.n_filters = a->nf;
		q.l.filters = a->filters;
		msg = &q.l.base, method = "List";
	} else if (!strcmp(cmd, "update")) {
		containerd__services__snapshots__v1__update_snapshot_request__init(&q.u);
		containerd__services__snapshots__v1__info__init(&info);
		info.name = (char *)pos(a, 0);
		info.n_labels = a->nl;
		info.labels = (void *)(ents = entries(
			a, &containerd__services__snapshots__v1__info__labels_entry__descriptor));
		q.u.info = &info;
		if (a->np) {
			google__protobuf__field_mask__init(&mask);
			mask.n_paths = a->np;
			mask.paths = a->paths;
			q.u.update_mask = &mask;
		}
		msg = &q.u.base, method = "Update";
	} else {
		return NULL;
	}
	*ret_len = protobuf_c_message_get_packed_size(msg);
	*ret = malloc(*ret_len + 1);
	protobuf_c_message_pack(msg, *ret);
	entries_free(ents, a->nl);
	return method;
}

/* ---- printing replies ---- */

static const char *kind_name(int k)
{
	static const char *const names[] = { "unknown", "view", "active", "committed" };
	return k >= 0 && k <= 3 ? names[k] : "unknown";
}

static json_t *info_json(const Containerd__Services__Snapshots__V1__Info *in)
{
	json_t *labels = json_object(), *o;

	for (size_t i = 0; i < in->n_labels; i++)
		json_object_set_new(labels, in->labels[i]->key, json_string(in->labels[i]->value));
	o = json_pack("{s:s,s:s,s:s,s:o}", "name", in->name, "parent", in->parent, "kind",
		      kind_name(in->kind), "labels", labels);
	if (in->created_at)
		json_object_set_new(o, "created",
				    json_integer(in->created_at->seconds * 1000000000LL +
						 in->created_at->nanos));
	if (in->updated_at)
		json_object_set_new(o, "updated",
				    json_integer(in->updated_at->seconds * 1000000000LL +
						 in->updated_at->nanos));
	return o;
}

static json_t *mounts_json(size_t n, Containerd__Types__Mount **m)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++) {
		json_t *opts = json_array();
		for (size_t k = 0; k < m[i]->n_options; k++)
			json_array_append_new(opts, json_string(m[i]->options[k]));
		json_array_append_new(a, json_pack("{s:s,s:s,s:s,s:o}", "type", m[i]->type, "source",
						   m[i]->source, "target", m[i]->target, "options",
						   opts));
	}
	return a;
}

static json_t *result_json(const char *method, const struct reply *r)
{
	json_t *o = json_pack("{s:i}", "code", (int)r->code);

	if (r->code != GRPC_STATUS_OK) {
		json_object_set_new(o, "message", json_string(r->message ? r->message : ""));
		return o;
	}
	for (size_t i = 0; i < r->n; i++) {
		const uint8_t *d = GRPC_SLICE_START_PTR(r->msgs[i]);
		size_t l = GRPC_SLICE_LENGTH(r->msgs[i]);
		if (!strcmp(method, "Prepare") || !strcmp(method, "View") ||
		    !strcmp(method, "Mounts")) {
			/* the three responses share the layout: repeated Mount mounts = 1 */
			Containerd__Services__Snapshots__V1__MountsResponse *m =
				containerd__services__snapshots__v1__mounts_response__unpack(NULL, l, d);
			if (m) {
				json_object_set_new(o, "mounts", mounts_json(m->n_mounts, m->mounts));
				containerd__services__snapshots__v1__mounts_response__free_unpacked(m, NULL);
			}
		} else if (!strcmp(method, "Stat") || !strcmp(method, "Update")) {
			Containerd__Services__Snapshots__V1__StatSnapshotResponse *s =
				containerd__services__snapshots__v1__stat_snapshot_response__unpack(NULL, l, d);
			if (s && s->info)
				json_object_set_new(o, "info", info_json(s->info));
			if (s)
				containerd__services__snapshots__v1__stat_snapshot_response__free_unpacked(s, NULL);
		} else if (!strcmp(method, "List")) {
			Containerd__Services__Snapshots__V1__ListSnapshotsResponse *ls =
				containerd__services__snapshots__v1__list_snapshots_response__unpack(NULL, l, d);
			json_t *arr = json_object_get(o, "infos");
			if (!arr)
				json_object_set_new(o, "infos", arr = json_array());
			for (size_t k = 0; ls && k < ls->n_info; k++)
				json_array_append_new(arr, info_json(ls->info[k]));
			if (ls)
				containerd__services__snapshots__v1__list_snapshots_response__free_unpacked(ls, NULL);
			json_object_set_new(o, "messages", json_integer((json_int_t)r->n));
		} else if (!strcmp(method, "Usage")) {
			Containerd__Services__Snapshots__V1__UsageResponse *u =
				containerd__services__snapshots__v1__usage_response__unpack(NULL, l, d);
			if (u) {
				json_object_set_new(o, "size", json_integer(u->size));
				json_object_set_new(o, "inodes", json_integer(u->inodes));
				containerd__services__snapshots__v1__usage_response__free_unpacked(u, NULL);
			}
		}
	}
	if (!strcmp(method, "List") && !json_object_get(o, "infos"))
		json_object_set_new(o, "infos", json_array());
	return o;
}

static int hexval(int c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
				       : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* One command; *out gets the JSON.  Returns the status code (or 2 for a usage error). */
static int run(int argc, char **argv, json_t **out)
{
	struct args a;
	struct reply r;
	uint8_t *req = NULL;
	size_t len = 0;
	const char *method;
	char path[512];

	*out = NULL;
	if (argc < 1)
		return -1;
	if (!strcmp(argv[0], "raw")) {
		const char *hex = argc > 2 ? argv[2] : "";
		if (argc != 3 || strlen(hex) % 2)
			return -1;
		req = malloc(strlen(hex) / 2 + 1);
		for (size_t i = 0; hex[2 * i]; i++) {
			int h = hexval(hex[2 * i]), l = hexval(hex[2 * i + 1]);
			if (h < 0 || l < 0) {
				free(req);
				return -1;
			}
			req[len++] = (uint8_t)(h * 16 + l);
		}
		method = argv[1];
	} else {
		if (parse_args(argc - 1, argv + 1, &a) < 0)
			return -1;
		method = encode(argv[0], &a, &req, &len);
		args_free(&a);
		if (!method)
			return -1;
	}
	if (method[0] == '/')
		snprintf(path, sizeof(path), "%s", method);
	else
		snprintf(path, sizeof(path), SVC "%s", method);
	rpc(path, req, len, &r);
	free(req);
	*out = result_json(strrchr(path, '/') + 1, &r);
	reply_free(&r);
	return (int)r.code;
}

struct par {
	pthread_t t;
	int argc, idx, code;
	char **argv;
	double ms;
};

static void *par_main(void *p)
{
	struct par *x = p;
	char **argv = calloc((size_t)x->argc + 1, sizeof(char *));
	struct timespec a, b;
	json_t *o = NULL;

	for (int i = 0; i < x->argc; i++) {
		char *pc = strstr(x->argv[i], "%d");
		if (pc) {
			size_t n = strlen(x->argv[i]) + 16;
			argv[i] = malloc(n);
			snprintf(argv[i], n, "%.*s%d%s", (int)(pc - x->argv[i]), x->argv[i], x->idx,
				 pc + 2);
		} else {
			argv[i] = strdup(x->argv[i]);
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &a);
	x->code = run(x->argc, argv, &o);
	clock_gettime(CLOCK_MONOTONIC, &b);
	x->ms = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
	if (o)
		json_decref(o);
	for (int i = 0; i < x->argc; i++)
		free(argv[i]);
	free(argv);
	return NULL;
}

static int usage(void)
{
	fputs("usage: snap-client SOCKET prepare|view|mounts|commit|remove|stat|update|list|usage|"
	      "cleanup ARGS...\n       snap-client SOCKET raw METHOD HEX\n"
	      "       snap-client SOCKET parallel N CMD ARGS...\n",
	      stderr);
	return 2;
}

int main(int argc, char **argv)
{
	json_t *o = NULL;
	int rc;

	if (argc < 3)
		return usage();
	const char *tmo = getenv("SNAP_CLIENT_TIMEOUT");
	if (tmo)
		timeout_s = atoi(tmo);
	grpc_connect(argv[1]);
	if (!strcmp(argv[2], "repeat") && argc > 4) {
		/* N calls one after the other on one connection: latency per call */
		int n = atoi(argv[3]), ok = 0;
		double *ms = calloc((size_t)(n > 0 ? n : 1), sizeof(double));
		for (int i = 0; i < n; i++) {
			struct par p = { .argc = argc - 4, .argv = argv + 4, .idx = i };
			par_main(&p);
			ms[i] = p.ms;
			ok += p.code == 0;
		}
		for (int i = 1; i < n; i++) /* insertion sort: n is small */
			for (int k = i; k > 0 && ms[k - 1] > ms[k]; k--) {
				double t = ms[k];
				ms[k] = ms[k - 1];
				ms[k - 1] = t;
			}
		o = json_pack("{s:i,s:i,s:i,s:f,s:f,s:f}", "code", ok == n ? 0 : 2, "ok", ok, "n", n,
			      "median_ms", n ? ms[n / 2] : 0.0, "min_ms", n ? ms[0] : 0.0, "max_ms",
			      n ? ms[n - 1] : 0.0);
		rc = ok == n ? 0 : 2;
		free(ms);
	} else if (!strcmp(argv[2], "parallel") && argc > 4) {
		int n = atoi(argv[3]), ok = 0;
		struct par *ps = calloc((size_t)n, sizeof(*ps));
		json_t *codes = json_object();
		double max = 0;
		for (int i = 0; i < n; i++) {
			ps[i] = (struct par){ .argc = argc - 4, .argv = argv + 4, .idx = i };
			pthread_create(&ps[i].t, NULL, par_main, &ps[i]);
		}
		for (int i = 0; i < n; i++) {
			char k[16];
			pthread_join(ps[i].t, NULL);
			snprintf(k, sizeof(k), "%d", ps[i].code);
			json_object_set_new(codes, k,
					    json_integer(json_integer_value(json_object_get(codes, k)) + 1));
			ok += ps[i].code == 0;
			if (ps[i].ms > max)
				max = ps[i].ms;
		}
		o = json_pack("{s:i,s:i,s:i,s:o}", "code", ok == n ? 0 : 2, "ok", ok, "failed",
			      n - ok, "codes", codes);
		rc = ok == n ? 0 : 2;
		free(ps);
	} else {
		rc = run(argc - 2, argv + 2, &o);
		if (rc < 0) {
			grpc_channel_destroy(chan);
			grpc_shutdown();
			return usage();
		}
	}
	if (o) {
		char *s = json_dumps(o, JSON_COMPACT);
		puts(s);
		free(s);
		json_decref(o);
	}
	grpc_channel_destroy(chan);
	grpc_shutdown();
	return rc;
}
