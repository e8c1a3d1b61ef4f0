/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Crash injection for tests.  Compiled in only with `make FAULT=1` (build-fault/): then
 * BERTH_FAULT_POINT("name") kills the process with SIGKILL when the environment variable
 * BERTH_FAULT names that point (BERTH_FAULT=name, or BERTH_FAULT=* to list points on stderr).
 * In product builds the macro is empty.
 */
#ifdef BERTH_FAULT_INJECTION
void berth_fault_point(const char *name);
#define BERTH_FAULT_POINT(name) berth_fault_point(name)
#else
#define BERTH_FAULT_POINT(name) ((void)0)
#endif
