// SPDX-License-Identifier: Apache-2.0
/*
 * Prepare+Mounts latency through containerd's own snapshots service (the path a container
 * start takes), for any snapshotter containerd knows (a built-in one or a proxy), for
 * bench/containerd-snapshotter.sh:
 *
 *   ctrd-snap-bench SOCKET NAMESPACE SNAPSHOTTER PARENT N [PARALLEL]
 *
 * Sends N times Prepare(key, PARENT) then Mounts(key) to containerd at SOCKET (gRPC, metadata
 * containerd-namespace: NAMESPACE) and prints one line per pair: the nanoseconds from sending
 * the Prepare to receiving the Mounts reply.  With PARALLEL, N keys are prepared by PARALLEL
 * threads at once (each Prepare+Mounts, released together) and each pair's time is printed the
 * same way.  Afterwards every key is removed (not timed).  Any call that fails stops the run:
 * the error goes to stderr and the exit status is 1 (a failed call is never a sample).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include "github.com/containerd/containerd/api/services/snapshots/v1/snapshots.pb-c.h"

#define SVC "/containerd.services.snapshots.v1.Snapshots/"

static grpc_channel *chan;
static const char *ns, *snapshotter, *parent;
static char prefix[64];
static pthread_barrier_t barrier;

/* One unary call; returns the gRPC status, fills *resp (free with grpc_slice_unref). */
static grpc_status_code call(const char *method, const ProtobufCMessage *req, grpc_slice *resp,
			     char **msg)
{
	grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
	size_t len = protobuf_c_message_get_packed_size(req);
	uint8_t *buf = malloc(len ? len : 1);
	grpc_slice m = grpc_slice_from_copied_string(method), s;
	grpc_byte_buffer *send, *recv = NULL;
	grpc_metadata md = { .key = grpc_slice_from_static_string("containerd-namespace"),
			     .value = grpc_slice_from_copied_string(ns) };
	grpc_metadata_array imd, tmd;
	grpc_status_code code = GRPC_STATUS_UNKNOWN;
	grpc_slice details;
	grpc_op ops[6];
	grpc_call *c;
	grpc_event ev;

	protobuf_c_message_pack(req, buf);
	s = grpc_slice_from_copied_buffer((const char *)buf, len);
	free(buf);
	send = grpc_raw_byte_buffer_create(&s, 1);
	grpc_metadata_array_init(&imd);
	grpc_metadata_array_init(&tmd);
	c = grpc_channel_create_call(chan, NULL, GRPC_PROPAGATE_DEFAULTS, cq, m, NULL,
				     gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
						  gpr_time_from_seconds(300, GPR_TIMESPAN)),
				     NULL);
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[0].data.send_initial_metadata.count = 1;
	ops[0].data.send_initial_metadata.metadata = &md;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = send;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = &imd;
	ops[4].op = GRPC_OP_RECV_MESSAGE;
	ops[4].data.recv_message.recv_message = &recv;
	ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[5].data.recv_status_on_client.trailing_metadata = &tmd;
	ops[5].data.recv_status_on_client.status = &code;
	ops[5].data.recv_status_on_client.status_details = &details;
	if (grpc_call_start_batch(c, ops, 6, (void *)1, NULL) != GRPC_CALL_OK) {
		code = GRPC_STATUS_INTERNAL;
		*msg = strdup("grpc_call_start_batch failed");
	} else {
		ev = grpc_completion_queue_pluck(cq, (void *)1, gpr_inf_future(GPR_CLOCK_REALTIME),
						 NULL);
		if (ev.type != GRPC_OP_COMPLETE)
			code = GRPC_STATUS_INTERNAL;
		*msg = grpc_slice_to_c_string(details);
		grpc_slice_unref(details);
	}
	*resp = grpc_empty_slice();
	if (recv) {
		grpc_byte_buffer_reader rd;
		grpc_byte_buffer_reader_init(&rd, recv);
		*resp = grpc_byte_buffer_reader_readall(&rd);
		grpc_byte_buffer_reader_destroy(&rd);
		grpc_byte_buffer_destroy(recv);
	}
	grpc_metadata_array_destroy(&imd);
	grpc_metadata_array_destroy(&tmd);
	grpc_byte_buffer_destroy(send);
	grpc_slice_unref(s);
	grpc_slice_unref(m);
	grpc_slice_unref(md.value);
	grpc_call_unref(c);
	grpc_completion_queue_shutdown(cq);
	while (grpc_completion_queue_pluck(cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
	       GRPC_QUEUE_SHUTDOWN)
		;
	grpc_completion_queue_destroy(cq);
	return code;
}

static int check(const char *what, const char *key, grpc_status_code code, char *msg,
		 grpc_slice resp)
{
	grpc_slice_unref(resp);
	if (code != GRPC_STATUS_OK) {
		fprintf(stderr, "ctrd-snap-bench: %s %s: code %d: %s\n", what, key, (int)code,
			msg ? msg : "");
		free(msg);
		return -1;
	}
	free(msg);
	return 0;
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Prepare + Mounts of key i; its time in *ns_out. */
static int prepare_mounts(int i, int64_t *ns_out)
{
	char key[128];
	grpc_slice r;
	char *msg = NULL;
	Containerd__Services__Snapshots__V1__PrepareSnapshotRequest p =
		CONTAINERD__SERVICES__SNAPSHOTS__V1__PREPARE_SNAPSHOT_REQUEST__INIT;
	Containerd__Services__Snapshots__V1__MountsRequest mr =
		CONTAINERD__SERVICES__SNAPSHOTS__V1__MOUNTS_REQUEST__INIT;
	int64_t t0;

	snprintf(key, sizeof(key), "%s-%d", prefix, i);
	/* gc.root: containerd's garbage collector would otherwise remove a snapshot that no
	 * container, image or lease references (a GC runs after every removal) */
	Containerd__Services__Snapshots__V1__PrepareSnapshotRequest__LabelsEntry gc =
		CONTAINERD__SERVICES__SNAPSHOTS__V1__PREPARE_SNAPSHOT_REQUEST__LABELS_ENTRY__INIT;
	Containerd__Services__Snapshots__V1__PrepareSnapshotRequest__LabelsEntry *gcp = &gc;

	gc.key = "containerd.io/gc.root";
	gc.value = "ctrd-snap-bench";
	p.snapshotter = (char *)snapshotter;
	p.key = key;
	p.parent = (char *)parent;
	p.n_labels = 1;
	p.labels = &gcp;
	mr.snapshotter = (char *)snapshotter;
	mr.key = key;
	t0 = now_ns();
	if (check("Prepare", key, call(SVC "Prepare", &p.base, &r, &msg), msg, r) < 0)
		return -1;
	msg = NULL;
	if (check("Mounts", key, call(SVC "Mounts", &mr.base, &r, &msg), msg, r) < 0)
		return -1;
	*ns_out = now_ns() - t0;
	return 0;
}

static int remove_key(int i)
{
	char key[128], *msg = NULL;
	grpc_slice r;
	Containerd__Services__Snapshots__V1__RemoveSnapshotRequest rm =
		CONTAINERD__SERVICES__SNAPSHOTS__V1__REMOVE_SNAPSHOT_REQUEST__INIT;

	snprintf(key, sizeof(key), "%s-%d", prefix, i);
	rm.snapshotter = (char *)snapshotter;
	rm.key = key;
	return check("Remove", key, call(SVC "Remove", &rm.base, &r, &msg), msg, r);
}

struct worker {
	pthread_t t;
	int first, step, n, failed;
	int64_t *times;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	pthread_barrier_wait(&barrier);
	for (int i = w->first; i < w->n; i += w->step)
		if (prepare_mounts(i, &w->times[i]) < 0) {
			w->failed = 1;
			break;
		}
	return NULL;
}

int main(int argc, char **argv)
{
	char target[600];
	grpc_channel_credentials *creds;
	int n, par = 0, rc = 0, done = 0;
	int64_t *times;

	if (argc < 6 || argc > 7) {
		fprintf(stderr, "usage: ctrd-snap-bench SOCKET NAMESPACE SNAPSHOTTER PARENT N [PARALLEL]\n");
		return 2;
	}
	ns = argv[2];
	snapshotter = argv[3];
	parent = argv[4];
	n = atoi(argv[5]);
	if (argc == 7)
		par = atoi(argv[6]);
	if (n <= 0 || par < 0) {
		fprintf(stderr, "ctrd-snap-bench: bad N or PARALLEL\n");
		return 2;
	}
	times = calloc((size_t)n, sizeof(*times));
	if (!times)
		return 1;
	snprintf(prefix, sizeof(prefix), "bench-%d-%ld", (int)getpid(), (long)time(NULL));
	grpc_init();
	snprintf(target, sizeof(target), "unix:%s", argv[1]);
	creds = grpc_insecure_credentials_create();
	chan = grpc_channel_create(target, creds, NULL);
	grpc_channel_credentials_release(creds);

	if (par > 0) {
		struct worker *ws = calloc((size_t)par, sizeof(*ws));
		if (!ws)
			return 1;
		pthread_barrier_init(&barrier, NULL, (unsigned)par);
		for (int i = 0; i < par; i++) {
			ws[i] = (struct worker){ .first = i, .step = par, .n = n, .times = times };
			pthread_create(&ws[i].t, NULL, worker_main, &ws[i]);
		}
		for (int i = 0; i < par; i++) {
			pthread_join(ws[i].t, NULL);
			if (ws[i].failed)
				rc = 1;
		}
		free(ws);
		done = n;
	} else {
		for (done = 0; done < n; done++)
			if (prepare_mounts(done, &times[done]) < 0) {
				rc = 1;
				break;
			}
	}
	if (rc == 0)
		for (int i = 0; i < n; i++)
			printf("%lld\n", (long long)times[i]);
	/* remove what exists (a failed run removes what it made; NotFound is not an error then) */
	for (int i = 0; i < done; i++)
		if (remove_key(i) < 0 && rc == 0)
			rc = 1;
	free(times);
	grpc_channel_destroy(chan);
	grpc_shutdown();
	return rc;
}
