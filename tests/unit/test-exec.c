// SPDX-License-Identifier: Apache-2.0
/* berth_exec: output capture, exit status, and the retry while the program is busy being
 * written (ETXTBSY), as when a plugin is replaced while a runtime calls it. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
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

/*
 * The program is held open for writing by a thread of this process, so that exec fails with
 * ETXTBSY.  With release_on_retry, the thread lets go as soon as it sees the main thread
 * sleeping between two exec attempts (/proc/self/task/<tid>/syscall shows clock_nanosleep):
 * the next attempt must then succeed.  No fixed delay: the test waits for the event.  Without
 * it, the thread holds the file until the exec has given up (stop).
 */
struct holder {
	pthread_t thread;
	pid_t main_tid;
	int fd;
	bool release_on_retry;
	atomic_bool stop;
	atomic_bool saw_retry;
};

static bool main_thread_sleeping(pid_t tid)
{
	char path[64], buf[64] = "";
	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", tid);
	FILE *f = fopen(path, "r");
	if (!f)
		return false;
	bool r = fgets(buf, sizeof(buf), f) &&
		 (atol(buf) == SYS_clock_nanosleep || atol(buf) == SYS_nanosleep);
	fclose(f);
	return r;
}

static void *hold(void *arg)
{
	struct holder *h = arg;
	while (!atomic_load(&h->stop)) {
		if (h->release_on_retry && main_thread_sleeping(h->main_tid)) {
			atomic_store(&h->saw_retry, true);
			break;
		}
		nanosleep(&(struct timespec){ .tv_nsec = 200 * 1000 }, NULL);
	}
	close(h->fd);
	return NULL;
}

static int hold_start(struct holder *h, bool release_on_retry)
{
	*h = (struct holder){ .main_tid = (pid_t)syscall(SYS_gettid),
			      .release_on_retry = release_on_retry };
	h->fd = open(prog, O_WRONLY | O_CLOEXEC);
	if (h->fd < 0)
		return -errno;
	return -pthread_create(&h->thread, NULL, hold, h);
}

static void hold_stop(struct holder *h)
{
	atomic_store(&h->stop, true);
	pthread_join(h->thread, NULL);
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
						 .timeout_ms = 3000 },
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
	/* SIGKILL is sent before berth_exec returns; wait for it to land (up to 30 s) */
	for (int i = 0; i < 1500 && cpid > 0; i++) {
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

	struct holder h;
	is_int(hold_start(&h, true), 0, "the program is open for writing");
	berth_error_clear(&err);
	is_int(run(&status, &out, &err), 0, "exec while the program is open for writing, freed after "
					     "the first failed attempt: retried until it is free (%s)",
	       err.msg);
	is_str(out, "hello\n", "... and it ran");
	free(TAKE_PTR(out));
	hold_stop(&h);
	ok(atomic_load(&h.saw_retry), "... after sleeping between attempts (a retry happened)");

	is_int(hold_start(&h, false), 0, "the program is open for writing until exec gives up");
	berth_error_clear(&err);
	int r = run(&status, &out, &err);
	hold_stop(&h);
	is_int(r, -ETXTBSY, "busy for longer than the retries: -ETXTBSY");
	ok(strstr(err.msg, "exec") != NULL, "with a message naming the exec: %s", err.msg);
	free(TAKE_PTR(out));

	unlink(pidfile);
	unlink(prog);
	rmdir(dir);
	return done_testing();
}
