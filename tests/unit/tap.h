/* SPDX-License-Identifier: Apache-2.0 */
/* Minimal TAP producer for unit tests: ok()/is_int()/is_str(), done_testing() as exit code. */
#pragma once

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int tap_n, tap_failed;

static inline void __attribute__((format(printf, 2, 3))) tap_ok(int cond, const char *fmt, ...)
{
	va_list ap;
	tap_n++;
	if (!cond)
		tap_failed++;
	printf("%sok %d - ", cond ? "" : "not ", tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

#define ok(cond, ...) tap_ok(!!(cond), __VA_ARGS__)

/* A check that cannot run here: "ok N - DESCRIPTION # SKIP REASON".  scripts/test.sh counts it
 * as skipped, never as passed; under CI=true it fails unless tests/skip-allowlist lists it. */
static inline void tap_skip(const char *desc, const char *reason)
{
	tap_n++;
	printf("ok %d - %s # SKIP %s\n", tap_n, desc, reason);
	fflush(stdout);
}
#define is_int(got, want, ...)                                                                     \
	do {                                                                                       \
		long long _g = (got), _w = (want);                                                 \
		tap_ok(_g == _w, __VA_ARGS__);                                                     \
		if (_g != _w)                                                                      \
			printf("#   got %lld, want %lld (%s:%d)\n", _g, _w, __FILE__, __LINE__);      \
	} while (0)
#define is_str(got, want, ...)                                                                     \
	do {                                                                                       \
		const char *_g = (got), *_w = (want);                                              \
		int _eq = (_g && _w) ? strcmp(_g, _w) == 0 : _g == _w;                             \
		tap_ok(_eq, __VA_ARGS__);                                                          \
		if (!_eq)                                                                          \
			printf("#   got '%s', want '%s' (%s:%d)\n", _g ? _g : "(null)",                \
			       _w ? _w : "(null)", __FILE__, __LINE__);                             \
	} while (0)

static inline int done_testing(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}
