/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* The client end of the storage protocol (berth/storage-proto.h): run a driver executable. */

#include <jansson.h>

#include "berth/error.h"
#include "berth/storage-proto.h"

struct berth_stor_spare;

struct berth_stor_client {
	char *path;     /* driver executable */
	json_t *config; /* {"protocolVersion","driver","root","runRoot","options"} */
	int timeout_ms; /* per call; 0 = no limit (default 10 minutes) */
	struct berth_stor_spare *spare; /* berth_stor_client_keep_spare */
};

/* options may be NULL; it is copied. run_root NULL = root/run. */
int berth_stor_client_new(const char *path, const char *driver, const char *root,
			  const char *run_root, json_t *options, struct berth_stor_client **ret,
			  berth_error *err);
void berth_stor_client_free(struct berth_stor_client *c);
static inline void berth_stor_client_freep(struct berth_stor_client **c)
{
	berth_stor_client_free(*c);
}
#define _cleanup_stor_client_ __attribute__((cleanup(berth_stor_client_freep)))

/* Run one verb.  args may be NULL (borrowed, not stolen).  stream_fd >= 0 is passed to the
 * driver as fd 3 and args.stream={"fd":3} is added; for DIFF give a regular file or a pipe
 * someone else drains (the client does not read it).  On success *ret (may be NULL) gets the
 * result object.  A driver error comes back in *err with its code/msg/details and the return
 * value is berth_stor_code_errno(code). */
int berth_stor_client_call(const struct berth_stor_client *c, const char *verb, json_t *args,
			   int stream_fd, json_t **ret, berth_error *err);

/* Keep one driver process for `verb` started ahead, waiting for its input on stdin, so that
 * a call of that verb (without a stream) skips the exec and the driver's start-up: the call
 * takes it and starts the next while the driver works.  Still one process per call, with the
 * environment of when it was started.  For a daemon on a latency path (berth-snapshotter's
 * CREATE); berth_stor_client_free ends the one waiting (it reads EOF and exits).  Thread-safe
 * with berth_stor_client_call. */
int berth_stor_client_keep_spare(struct berth_stor_client *c, const char *verb, berth_error *err);

/* Find a driver executable by name: $BERTH_STORAGE_PATH (':'-separated), then beside the
 * running program (../libexec/berth/storage, ../storage: installed or build tree), then
 * BERTH_STORAGE_BIN_DIR.  Returns a malloc'd path. */
int berth_stor_find_driver(const char *name, char **ret, berth_error *err);
