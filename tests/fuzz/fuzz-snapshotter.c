/* SPDX-License-Identifier: Apache-2.0 */
/* berth-snapshotter's request decoding: the first byte picks the method (Prepare .. Cleanup),
 * the rest is the request as it arrives from the gRPC stream.  snap_decode() unpacks it with
 * protobuf-c and validates it (NUL bytes, UTF-8, key and label sizes, required fields); a List
 * request's filters then go through containerd's filter parser and are matched against a
 * snapshot, an Update's field paths are checked the way the metadata does.  Every result is
 * either a decoded request or InvalidArgument with a one-line message. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "github.com/containerd/containerd/api/services/snapshots/v1/snapshots.pb-c.h"
#include "snapshotter.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_status(const struct snap_status *st)
{
	if (st->code == SNAP_OK || !st->msg[0] || strchr(st->msg, '\n'))
		abort(); /* a failure always has a one-line message */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct snap_status st = { 0 };
	ProtobufCMessage *msg = NULL;
	enum snap_method m;

	if (size < 1)
		return 0;
	m = (enum snap_method)(data[0] % SNAP_M_COUNT);
	if (snap_decode(m, data + 1, size - 1, &msg, &st) < 0) {
		check_status(&st);
		if (st.code != SNAP_INVALID_ARGUMENT)
			abort();
		return 0;
	}
	if (m == SNAP_M_LIST) {
		Containerd__Services__Snapshots__V1__ListSnapshotsRequest *r = (void *)msg;
		struct snap_filter *f = NULL;
		char *keys[] = { "l", "containerd.io/gc.root" }, *values[] = { "2", "x" };
		struct snap_info in = { "a-wl", "p-wl", 2, 1, 2, 2, keys, values };

		if (snap_filter_parse(r->filters, r->n_filters, &f, &st) == 0) {
			(void)snap_filter_match(f, &in);
			in.n_labels = 0;
			(void)snap_filter_match(f, &in);
			snap_filter_free(f);
		} else {
			check_status(&st);
		}
	}
	if (m == SNAP_M_UPDATE) {
		Containerd__Services__Snapshots__V1__UpdateSnapshotRequest *r = (void *)msg;
		for (size_t i = 0; r->update_mask && i < r->update_mask->n_paths; i++)
			(void)snap_check_label(r->update_mask->paths[i], "", &st);
	}
	snap_request_free(msg);
	return 0;
}
