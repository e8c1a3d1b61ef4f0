// SPDX-License-Identifier: Apache-2.0
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "berth/fault.h"

#ifdef BERTH_FAULT_INJECTION
void berth_fault_point(const char *name)
{
	const char *want = getenv("BERTH_FAULT");

	if (!want || !*want)
		return;
	if (strcmp(want, "*") == 0) {
		fprintf(stderr, "berth-fault-point: %s\n", name);
		return;
	}
	if (strcmp(want, name) == 0)
		kill(getpid(), SIGKILL);
}
#endif
