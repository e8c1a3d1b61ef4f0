/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Crash injection for tests.  Compiled in only with `make FAULT=1` (build-fault/): then
 * BERTH_FAULT_POINT("name") SIGKILLs the process when BERTH_FAULT=[PROG:]NAME[#N] selects it
 * (see common/fault.c); BERTH_FAULT=* with BERTH_FAULT_LOG=FILE records the points passed.
 * In product builds the macro is empty.
 */
#ifdef BERTH_FAULT_INJECTION
void berth_fault_point(const char *name);
#define BERTH_FAULT_POINT(name) berth_fault_point(name)
#else
#define BERTH_FAULT_POINT(name) ((void)0)
#endif
