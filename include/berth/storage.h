/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#include "berth/error.h"

/*
 * The storage driver protocol (docs/storage-protocol.md).  A driver is an executable; the verb
 * is in the environment (STOR_COMMAND), its static per-host config and the per-call arguments
 * are one JSON object on stdin:
 *
 *   {"protocolVersion":"1.0.0","driver":"overlay","root":"/var/lib/berth/storage/overlay",
 *    "runRoot":"/run/berth/storage/overlay","options":{...},"args":{...}}
 *
 * The result (a JSON object) or the error {code,msg,details} goes to stdout; exit 0 / 1.
 * Tar streams never travel on stdin: args.stream is {"fd":N} (an inherited descriptor, the
 * client passes fd 3) or {"path":"/some/file"}.
 */

#define BERTH_STOR_PROTOCOL_VERSION "1.0.0"
#define BERTH_STOR_ENV_COMMAND "STOR_COMMAND"
/* NULL-terminated list of protocol versions this build speaks. */
extern const char *const berth_stor_versions[];

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
 * (err->code one of BERTH_CNI_ERR_* / BERTH_STOR_ERR_*; 0 becomes 5 / I/O). */
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

/* Layer ids: ^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$ (they become file and device names). */
bool berth_stor_id_valid(const char *id);
/* Read args[key] as a layer id: missing and required, or invalid, is code 7 naming the key. */
int berth_stor_arg_id(const struct berth_stor_call *call, const char *key, bool required,
		      const char **ret, berth_error *err);
/* Map an errno to the protocol code a driver should report for it (ENOSPC/EDQUOT -> 14, EBUSY
 * -> 10, EEXIST -> 8, ENOTEMPTY -> 9, ENOENT -> 3, EOPNOTSUPP -> 12, else 5). */
int berth_stor_errno_code(int errnum);
/* The inverse, used by the client: a protocol code to a -errno. */
int berth_stor_code_errno(int code);

/* ---- client side (core, tests) ---- */

struct berth_stor_client {
	char *path;     /* driver executable */
	json_t *config; /* {"protocolVersion","driver","root","runRoot","options"} */
	int timeout_ms; /* per call; 0 = no limit (default 10 minutes) */
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

/* Find a driver executable by name: $BERTH_STORAGE_PATH (':'-separated), then beside the
 * running program (../libexec/berth/storage, ../storage: installed or build tree), then
 * BERTH_STORAGE_BIN_DIR.  Returns a malloc'd path. */
int berth_stor_find_driver(const char *name, char **ret, berth_error *err);

/* ---- per-host selection (storage/select.c), shared by the core and the containerd
 * snapshotter ---- */

#define BERTH_STOR_DEFAULT_ROOT "/var/lib/berth/storage"
#define BERTH_STOR_DEFAULT_RUNROOT "/run/berth/storage"

/* /etc/berth/storage.json (every key optional; unknown keys are code 2, named):
 *   {"driver":"auto", "root":"/var/lib/berth/storage", "runRoot":"/run/berth/storage",
 *    "priority":["overlay","devicemapper",...], "options":{"overlay":{...},...}} */
struct berth_stor_config {
	char *source; /* the file read, or "<embedded default>" */
	char *driver; /* "auto" or a driver name */
	char *root;
	char *run_root;
	json_t *options;  /* {driver: {options}} */
	json_t *priority; /* array of names for auto */
};

/* path NULL: $BERTH_STORAGE_CONFIG, else SYSCONFDIR/berth/storage.json, else the embedded
 * default. */
int berth_stor_config_load(const char *path, struct berth_stor_config **ret, berth_error *err);
void berth_stor_config_free(struct berth_stor_config *c);

struct berth_stor_selection {
	char *driver;      /* the selected driver */
	char *driver_path; /* its executable */
	char *reason;      /* why it was selected */
	json_t *probes;    /* [{driver, ok, code?, msg}] from auto selection */
	json_t *init;      /* INIT's result */
	struct berth_stor_client *client; /* root/<driver>, run_root/<driver>, its options */
};

/* Select the driver cfg names, or with "auto" the first of cfg->priority whose INIT succeeds
 * (a driver refusing its options, code 2 or 7, stops the search with that error).  Each driver
 * gets root/<name> and run_root/<name> (NULL: cfg's).  sticky (may be NULL) is a file that
 * records auto's choice and is honoured on later calls: layers live in one driver. */
int berth_stor_select(const struct berth_stor_config *cfg, const char *root, const char *run_root,
		      const char *sticky, struct berth_stor_selection *ret, berth_error *err);
void berth_stor_selection_clear(struct berth_stor_selection *s);
