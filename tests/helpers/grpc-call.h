/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One unary or server-streaming gRPC call over gRPC's C core, raw messages in and out: shared by
 * the test clients (snap-client: containerd's snapshots API; cri-client: the CRI runtime
 * service).  A header of static functions, because each C file in tests/helpers is its own program.
 */
#ifndef BERTH_TESTS_GRPC_CALL_H
#define BERTH_TESTS_GRPC_CALL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

static grpc_channel *chan;
static int timeout_s = 120;

/* A call's outcome: status, message, and the response messages (raw). */
struct reply {
	grpc_status_code code;
	char *message;
	size_t n;
	grpc_slice msgs[4096];
};

static void reply_free(struct reply *r)
{
	free(r->message);
	for (size_t i = 0; i < r->n; i++)
		grpc_slice_unref(r->msgs[i]);
}

static int wait_tag(grpc_completion_queue *cq, void *tag)
{
	grpc_event ev = grpc_completion_queue_pluck(cq, tag, gpr_inf_future(GPR_CLOCK_REALTIME),
						    NULL);
	return ev.type == GRPC_OP_COMPLETE && ev.success;
}

static void rpc(const char *method, const uint8_t *req, size_t len, struct reply *out)
{
	grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
	grpc_slice m = grpc_slice_from_copied_string(method), s = grpc_slice_from_copied_buffer(
								       (const char *)req, len);
	grpc_byte_buffer *send = grpc_raw_byte_buffer_create(&s, 1), *recv = NULL;
	grpc_metadata_array imd, tmd;
	grpc_slice details;
	grpc_op ops[4];
	grpc_call *call;
	int tag1, tag2, tag3;

	memset(out, 0, sizeof(*out));
	grpc_metadata_array_init(&imd);
	grpc_metadata_array_init(&tmd);
	call = grpc_channel_create_call(
		chan, NULL, GRPC_PROPAGATE_DEFAULTS, cq, m, NULL,
		gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
			     gpr_time_from_seconds(timeout_s, GPR_TIMESPAN)),
		NULL);
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = send;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = &imd;
	grpc_call_start_batch(call, ops, 4, &tag1, NULL);
	wait_tag(cq, &tag1);
	for (;;) {
		memset(ops, 0, sizeof(ops));
		ops[0].op = GRPC_OP_RECV_MESSAGE;
		ops[0].data.recv_message.recv_message = &recv;
		recv = NULL;
		grpc_call_start_batch(call, ops, 1, &tag2, NULL);
		if (!wait_tag(cq, &tag2) || !recv)
			break;
		grpc_byte_buffer_reader rd;
		grpc_byte_buffer_reader_init(&rd, recv);
		if (out->n < sizeof(out->msgs) / sizeof(out->msgs[0]))
			out->msgs[out->n++] = grpc_byte_buffer_reader_readall(&rd);
		grpc_byte_buffer_reader_destroy(&rd);
		grpc_byte_buffer_destroy(recv);
	}
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[0].data.recv_status_on_client.trailing_metadata = &tmd;
	ops[0].data.recv_status_on_client.status = &out->code;
	ops[0].data.recv_status_on_client.status_details = &details;
	grpc_call_start_batch(call, ops, 1, &tag3, NULL);
	wait_tag(cq, &tag3);
	out->message = grpc_slice_to_c_string(details);
	grpc_slice_unref(details);
	grpc_metadata_array_destroy(&imd);
	grpc_metadata_array_destroy(&tmd);
	grpc_byte_buffer_destroy(send);
	grpc_slice_unref(s);
	grpc_slice_unref(m);
	grpc_call_unref(call);
	grpc_completion_queue_shutdown(cq);
	while (grpc_completion_queue_pluck(cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
	       GRPC_QUEUE_SHUTDOWN)
		;
	grpc_completion_queue_destroy(cq);
}


/* grpc_connect SOCKET: the channel to a unix socket; no TLS (a root-only local socket). */
static void grpc_connect(const char *socket_path)
{
	char target[4200];
	grpc_channel_credentials *creds;

	grpc_init();
	snprintf(target, sizeof(target), "unix:%s", socket_path);
	creds = grpc_insecure_credentials_create();
	chan = grpc_channel_create(target, creds, NULL);
	grpc_channel_credentials_release(creds);
}

#endif
