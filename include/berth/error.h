/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdarg.h>

/*
 * One error object travels up the call chain.  Functions return 0 (or a positive value) on
 * success and -errno on failure with *err filled in.  Only a protocol skeleton prints it.
 * `code` is the protocol's error code: the protocols this suite speaks share the numbering
 * below, and each adds codes of its own in its own header.
 */

enum {
	BERTH_ERR_INCOMPATIBLE_VERSION = 1,
	BERTH_ERR_UNSUPPORTED_FIELD = 2,
	BERTH_ERR_NOT_FOUND = 3, /* an unknown container, layer, ... */
	BERTH_ERR_INVALID_ENV = 4,
	BERTH_ERR_IO = 5,
	BERTH_ERR_DECODE = 6,
	BERTH_ERR_INVALID_CONFIG = 7,
	BERTH_ERR_TRY_AGAIN = 11,
	BERTH_ERR_INTERNAL = 999,
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
