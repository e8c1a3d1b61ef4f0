// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "berth/fault.h"

#ifdef BERTH_FAULT_INJECTION
/*
 * BERTH_FAULT=[PROG:]NAME[#N]: SIGKILL the process (only a process named PROG, when given) the
 * N-th time (default 1st) it passes point NAME.  BERTH_FAULT=* with BERTH_FAULT_LOG=FILE
 * appends "PROG:NAME" to FILE at every point passed, so a test can enumerate them.
 */
void berth_fault_point(const char *name)
{
	static unsigned hits;
	const char *want = getenv("BERTH_FAULT");
	const char *prog = program_invocation_short_name;
	const char *colon;
	unsigned nth = 1;
	size_t n;

	if (!want || !*want)
		return;
	if (strcmp(want, "*") == 0) {
		const char *log = getenv("BERTH_FAULT_LOG");
		int fd = log ? open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600) : -1;

		if (fd >= 0) {
			dprintf(fd, "%s:%s\n", prog, name);
			close(fd);
		}
		return;
	}
	colon = strchr(want, ':');
	if (colon) {
		if (strncmp(want, prog, (size_t)(colon - want)) != 0 ||
		    prog[colon - want] != '\0')
			return;
		want = colon + 1;
	}
	n = strlen(name);
	if (strncmp(want, name, n) != 0 || (want[n] != '\0' && want[n] != '#'))
		return;
	if (want[n] == '#')
		nth = (unsigned)strtoul(want + n + 1, NULL, 10);
	if (++hits == nth)
		kill(getpid(), SIGKILL);
}
#endif
