/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdarg.h>

/*
 * One error object travels up the call chain.  Functions return 0 (or a positive value) on
 * success and -errno on failure with *err filled in.  Only the plugin skeleton prints it.
 * `code` is a CNI error code for network plugins, a storage-protocol code for storage drivers.
 */

enum {
	BERTH_CNI_ERR_INCOMPATIBLE_VERSION = 1,
	BERTH_CNI_ERR_UNSUPPORTED_FIELD = 2,
	BERTH_CNI_ERR_UNKNOWN_CONTAINER = 3,
	BERTH_CNI_ERR_INVALID_ENV = 4,
	BERTH_CNI_ERR_IO = 5,
	BERTH_CNI_ERR_DECODE = 6,
	BERTH_CNI_ERR_INVALID_CONFIG = 7,
	BERTH_CNI_ERR_TRY_AGAIN = 11,
	BERTH_CNI_ERR_STATUS_NOT_READY = 50, /* STATUS: cannot ADD */
	BERTH_CNI_ERR_STATUS_UNAVAILABLE = 51,
	BERTH_CNI_ERR_INTERNAL = 999,
};

/* Storage protocol: 1-7 and 11 as CNI, then these (docs/storage-protocol.md). */
enum {
	BERTH_STOR_ERR_EXISTS = 8,
	BERTH_STOR_ERR_HAS_CHILDREN = 9,
	BERTH_STOR_ERR_BUSY = 10,
	BERTH_STOR_ERR_NOT_SUPPORTED = 12,
	BERTH_STOR_ERR_WRONG_FS = 13,
	BERTH_STOR_ERR_NO_SPACE = 14,
	BERTH_STOR_ERR_UNSAFE_ARCHIVE = 15,
};

#define BERTH_ERROR_MSG_MAX 1024

typedef struct berth_error {
	int errnum; /* positive errno, 0 when there is none */
	int code;   /* protocol error code, 0 = not set */
	char msg[BERTH_ERROR_MSG_MAX];
	char details[BERTH_ERROR_MSG_MAX];
} berth_error;

/* Fill *err (may be NULL) and return -errnum, or -EINVAL when errnum is 0. */
int berth_error_set(berth_error *err, int code, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Same, with the message taken from errno: "<text>: <strerror>". Returns -errno. */
int berth_error_errno(berth_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Set the details string. */
void berth_error_details(berth_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Prepend context: "context: previous message". Returns -err->errnum (or -EINVAL). */
int berth_error_prefix(berth_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void berth_error_clear(berth_error *err);
/* -errno the error stands for. */
int berth_error_ret(const berth_error *err);

/* For clang's static analyzer only: these calls always return a negative value, which it
 * cannot see across translation units; without this it walks "success" paths that do not
 * exist and reports uninitialized out-parameters on them. */
#if defined(__clang_analyzer__) && !defined(BERTH_ERROR_IMPL)
static inline int berth_error_analyzer_neg(int r)
{
	if (r >= 0)
		__builtin_unreachable();
	return r;
}
#define berth_error_set(...) berth_error_analyzer_neg(berth_error_set(__VA_ARGS__))
#define berth_error_errno(...) berth_error_analyzer_neg(berth_error_errno(__VA_ARGS__))
#define berth_error_prefix(...) berth_error_analyzer_neg(berth_error_prefix(__VA_ARGS__))
#define berth_error_ret(e) berth_error_analyzer_neg(berth_error_ret(e))
#endif
