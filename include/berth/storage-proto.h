/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>

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

/* Error codes: 1-7 and 11 as CNI (BERTH_ERR_* in berth/error.h), then these. */
enum {
	BERTH_STOR_ERR_EXISTS = 8,
	BERTH_STOR_ERR_HAS_CHILDREN = 9,
	BERTH_STOR_ERR_BUSY = 10,
	BERTH_STOR_ERR_NOT_SUPPORTED = 12,
	BERTH_STOR_ERR_WRONG_FS = 13,
	BERTH_STOR_ERR_NO_SPACE = 14,
	BERTH_STOR_ERR_UNSAFE_ARCHIVE = 15,
};

/* Layer ids: ^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$ (they become file and device names). */
bool berth_stor_id_valid(const char *id);
/* Map an errno to the protocol code a driver should report for it (ENOSPC/EDQUOT -> 14, EBUSY
 * -> 10, EEXIST -> 8, ENOTEMPTY -> 9, ENOENT -> 3, EOPNOTSUPP -> 12, else 5). */
int berth_stor_errno_code(int errnum);
/* The inverse, used by the client: a protocol code to a -errno. */
int berth_stor_code_errno(int code);
