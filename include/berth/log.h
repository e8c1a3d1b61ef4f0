/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Logging goes to stderr only (stdout carries the protocol).  The level comes from
 * BERTH_LOG_LEVEL (error, warn, info, debug; default warn); BERTH_LOG_FILE appends to a file
 * instead.  Library code does not log errors it returns: the caller logs once.
 */
enum berth_log_level { BERTH_LOG_ERROR, BERTH_LOG_WARN, BERTH_LOG_INFO, BERTH_LOG_DEBUG };

void berth_log_init(const char *progname);
void berth_log(enum berth_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int berth_log_enabled(enum berth_log_level level);

#define berth_log_error(...) berth_log(BERTH_LOG_ERROR, __VA_ARGS__)
#define berth_log_warn(...) berth_log(BERTH_LOG_WARN, __VA_ARGS__)
#define berth_log_info(...) berth_log(BERTH_LOG_INFO, __VA_ARGS__)
#define berth_log_debug(...)                                                                       \
	do {                                                                                       \
		if (berth_log_enabled(BERTH_LOG_DEBUG))                                            \
			berth_log(BERTH_LOG_DEBUG, __VA_ARGS__);                                   \
	} while (0)
