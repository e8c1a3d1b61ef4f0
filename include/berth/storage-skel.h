/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#include "berth/error.h"
#include "berth/storage-proto.h"

/*
 * The driver end of the storage protocol (berth/storage-proto.h): a driver's main() hands its
 * verb table to berth_stor_main(), the counterpart of the CNI skeleton (berth/cni-skel.h).
 */

enum berth_stor_stream {
	BERTH_STOR_STREAM_NONE = 0,
	BERTH_STOR_STREAM_IN,  /* the driver reads a tar (APPLY_DIFF) */
	BERTH_STOR_STREAM_OUT, /* the driver writes a tar (DIFF) */
};

struct berth_stor_call {
	const char *command;  /* the verb, validated against the driver's table */
	const char *version;  /* protocolVersion of the request (negotiated) */
	json_t *config;       /* the whole parsed stdin, owned by the skeleton */
	const char *driver;   /* "driver", "" when absent */
	const char *root;     /* absolute, no trailing '/'; required for every verb but VERSION */
	const char *run_root; /* absolute; defaults to root + "/run" when absent */
	json_t *options;      /* "options" object, {} when absent; unknown keys already refused */
	json_t *args;         /* "args" object, {} when absent */
	int stream_fd;        /* the tar stream for verbs with a stream, else -1 (skeleton closes) */
};

/* A verb handler: fill *ret with a JSON object (NULL means {}), or return -errno with *err set
 * (err->code one of BERTH_ERR_* / BERTH_STOR_ERR_*; 0 becomes 5 / I/O). */
typedef int (*berth_stor_verb_fn)(const struct berth_stor_call *call, json_t **ret,
				  berth_error *err);

struct berth_stor_verb {
	const char *name; /* "INIT", "CREATE", ... */
	berth_stor_verb_fn fn;
	enum berth_stor_stream stream;
};

struct berth_stor_driver {
	const char *name;
	const char *version;                 /* the driver's own version string */
	const char *const *options;          /* accepted option keys, NULL-terminated; NULL = any */
	const struct berth_stor_verb *verbs; /* terminated by {NULL}; VERSION is built in */
};

/* The skeleton: reads STOR_COMMAND and stdin, validates, negotiates the version, opens the
 * stream, dispatches, prints the result or the error JSON on stdout, returns the exit code.
 * A protocol verb the table lacks gets code 12 (not supported); an unknown verb code 4. */
int berth_stor_main(const struct berth_stor_driver *drv, int argc, char **argv);

/* Read args[key] as a layer id: missing and required, or invalid, is code 7 naming the key. */
int berth_stor_arg_id(const struct berth_stor_call *call, const char *key, bool required,
		      const char **ret, berth_error *err);
