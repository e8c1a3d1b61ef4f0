// SPDX-License-Identifier: Apache-2.0
/* berth_exec: output capture, exit status, and the retry while the program is busy being
 * written (ETXTBSY), as when a plugin is replaced while a runtime calls it. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "berth/cleanup.h"
#include "berth/exec.h"
#include "tap.h"

static char dir[] = "/tmp/berth-test-exec.XXXXXX";
static char prog[256];

static int run(int *status, char **out, berth_error *err)
{
	const char *argv[] = { prog, NULL };
	return berth_exec(&(struct berth_exec_opts){ .argv = argv, .extra_fd = -1 }, status, out,
			  NULL, err);
}

/* a child holds the program open for writing for `ms` milliseconds, then exits */
static pid_t hold_open(int ms)
{
	int ready[2];
	if (pipe(ready) < 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		int fd = open(prog, O_WRONLY);
		close(ready[0]);
		(void)!write(ready[1], "x", 1);
		nanosleep(&(struct timespec){ .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L },
			  NULL);
		close(fd);
		_exit(0);
	}
	char c;
	close(ready[1]);
	(void)!read(ready[0], &c, 1);
	close(ready[0]);
	return pid;
}

int main(void)
{
	berth_error err = { 0 };
	int status = -1;
	char *out = NULL;

	if (!mkdtemp(dir))
		return 1;
	snprintf(prog, sizeof(prog), "%s/plugin", dir);
	FILE *f = fopen(prog, "w");
	fputs("#!/bin/sh\necho hello\nexit 3\n", f);
	fclose(f);
	chmod(prog, 0755);

	is_int(run(&status, &out, &err), 0, "exec runs the program");
	is_int(status, 3, "its exit status");
	is_str(out, "hello\n", "its output");
	free(TAKE_PTR(out));

	/* a plugin that hangs while a process it started (its IPAM plugin, say) hangs too: on the
	 * timeout both go */
	char pidfile[300], script[700];
	snprintf(pidfile, sizeof(pidfile), "%s/child.pid", dir);
	snprintf(script, sizeof(script), "#!/bin/sh\nsleep 600 &\necho $! > %s\nsleep 600\n", pidfile);
	f = fopen(prog, "w");
	fputs(script, f);
	fclose(f);
	const char *hang_argv[] = { prog, NULL };
	berth_error_clear(&err);
	int hr = berth_exec(&(struct berth_exec_opts){ .argv = hang_argv, .extra_fd = -1,
						 .timeout_ms = 1000 },
			    &status, &out, NULL, &err);
	is_int(hr, -ETIMEDOUT, "a hanging plugin times out (%s)", err.msg);
	free(TAKE_PTR(out));
	int cpid = 0;
	FILE *pf = fopen(pidfile, "r");
	if (pf) {
		if (fscanf(pf, "%d", &cpid) != 1)
			cpid = 0;
		fclose(pf);
	}
	ok(cpid > 0, "the plugin started a child (pid %d)", cpid);
	/* killed, it is reparented and reaped by init/subreaper; it must not be running */
	int alive = 0;
	for (int i = 0; i < 50 && cpid > 0; i++) {
		char st[64], line[256] = "";
		snprintf(st, sizeof(st), "/proc/%d/stat", cpid);
		FILE *sf = fopen(st, "r");
		alive = sf && fgets(line, sizeof(line), sf) && !strstr(line, ") Z ");
		if (sf)
			fclose(sf);
		if (!alive)
			break;
		nanosleep(&(struct timespec){ .tv_nsec = 20 * 1000 * 1000 }, NULL);
	}
	ok(cpid > 0 && !alive, "... and the plugin's child was killed with it");
	if (alive)
		kill(cpid, SIGKILL);
	f = fopen(prog, "w");
	fputs("#!/bin/sh\necho hello\nexit 3\n", f);
	fclose(f);

	pid_t pid = hold_open(300);
	berth_error_clear(&err);
	is_int(run(&status, &out, &err), 0, "exec while the program is open for writing for 300 ms: "
					     "retried until it is free (%s)", err.msg);
	is_str(out, "hello\n", "... and it ran");
	free(TAKE_PTR(out));
	waitpid(pid, NULL, 0);

	pid = hold_open(3000);
	berth_error_clear(&err);
	int r = run(&status, &out, &err);
	is_int(r, -ETXTBSY, "busy for longer than the retries: -ETXTBSY");
	ok(strstr(err.msg, "exec") != NULL, "with a message naming the exec: %s", err.msg);
	free(TAKE_PTR(out));
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);

	unlink(prog);
	rmdir(dir);
	return done_testing();
}
