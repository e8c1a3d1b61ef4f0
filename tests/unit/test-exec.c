// SPDX-License-Identifier: Apache-2.0
/* berth_exec: output capture, exit status, and the retry while the program is busy being
 * written (ETXTBSY), as when a plugin is replaced while a runtime calls it; a child started
 * before its input (berth_exec_start/feed/finish/abandon) and the storage client's driver
 * kept ready for one verb (berth_stor_client_keep_spare). */
#include <dirent.h>
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
#include "berth/storage-client.h"
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

static void write_prog(const char *text)
{
	FILE *f = fopen(prog, "w");

	fputs(text, f);
	fclose(f);
	chmod(prog, 0755);
}

/* Wait (up to 30 s) until `path` exists: a child got that far. */
static bool wait_file(const char *path)
{
	for (int i = 0; i < 1500; i++) {
		if (access(path, F_OK) == 0)
			return true;
		nanosleep(&(struct timespec){ .tv_nsec = 20 * 1000 * 1000 }, NULL);
	}
	return false;
}

static int count_started(void)
{
	char cmd[400];
	int n = -1;

	snprintf(cmd, sizeof(cmd), "ls %s | grep -c '^started\\.'", dir);
	FILE *p = popen(cmd, "r");
	if (p) {
		if (fscanf(p, "%d", &n) != 1)
			n = -1;
		pclose(p);
	}
	return n;
}

static void test_start_finish(void)
{
	char mark[300], script[600];
	struct berth_child c;
	berth_error err = { 0 };
	int status = -1;
	char *out = NULL, *errout = NULL;
	const char *argv[] = { prog, NULL };

	snprintf(mark, sizeof(mark), "%s/ran", dir);
	snprintf(script, sizeof(script), "#!/bin/sh\ntouch %s\ncat\necho done >&2\nexit 4\n", mark);
	write_prog(script);
	struct berth_exec_opts o = { .argv = argv, .extra_fd = -1, .input = "input, later",
				     .input_len = strlen("input, later") };
	is_int(berth_exec_start(&o, true, &c, &err), 0, "a child started before its input");
	ok(wait_file(mark), "... runs before it has any input");
	berth_exec_feed(&c, o.input, 6);
	is_int(berth_exec_finish(&c, &o, &status, &out, &errout, &err), 0,
	       "fed part, finished: it gets the rest");
	is_str(out, "input, later", "... its stdout is all the input, once");
	is_str(errout, "done\n", "... its stderr apart");
	is_int(status, 4, "... its exit status");
	errno = 0;
	ok(c.pid == -1 && waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD,
	   "... and it is reaped (no child left)");
	free(TAKE_PTR(out));
	free(TAKE_PTR(errout));

	is_int(berth_exec_start(&o, true, &c, &err), 0, "another started");
	berth_exec_abandon(&c);
	errno = 0;
	ok(waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD,
	   "abandoned: it read EOF, ended, and was reaped (no child left)");
	unlink(mark);
}

/* The fake driver: makes started.<pid> at its start, before reading its input, and answers
 * its pid, its STOR_COMMAND and the bytes of the request. */
static void test_spare(void)
{
	char script[700], path[320];
	struct berth_stor_client *c = NULL;
	berth_error err = { 0 };
	json_t *res = NULL;

	snprintf(script, sizeof(script),
		 "#!/bin/sh\ntouch %s/started.$$\nn=$(wc -c)\n"
		 "echo \"{\\\"pid\\\":$$,\\\"verb\\\":\\\"$STOR_COMMAND\\\",\\\"bytes\\\":$n}\"\n",
		 dir);
	write_prog(script);
	is_int(berth_stor_client_new(prog, "fake", dir, NULL, NULL, &c, &err), 0, "a storage client");
	is_int(berth_stor_client_keep_spare(c, "CREATE", &err), 0, "one driver kept ready for CREATE");
	for (int i = 0; i < 1500 && count_started() < 1; i++)
		nanosleep(&(struct timespec){ .tv_nsec = 20 * 1000 * 1000 }, NULL);
	is_int(count_started(), 1, "... started at once, before any call");

	is_int(berth_stor_client_call(c, "CREATE", NULL, -1, &res, &err), 0, "CREATE (%s)", err.msg);
	int first = (int)json_integer_value(json_object_get(res, "pid"));
	is_str(json_string_value(json_object_get(res, "verb")), "CREATE",
	       "... answered by a driver with STOR_COMMAND=CREATE");
	ok(json_integer_value(json_object_get(res, "bytes")) > 20, "... that read the whole request");
	snprintf(path, sizeof(path), "%s/started.%d", dir, first);
	ok(access(path, F_OK) == 0, "... the one started ahead (pid %d)", first);
	json_decref(TAKE_PTR(res));
	for (int i = 0; i < 1500 && count_started() < 2; i++)
		nanosleep(&(struct timespec){ .tv_nsec = 20 * 1000 * 1000 }, NULL);
	is_int(count_started(), 2, "... and the next one was started meanwhile");

	is_int(berth_stor_client_call(c, "VERSION", NULL, -1, &res, &err), 0, "VERSION (%s)", err.msg);
	is_str(json_string_value(json_object_get(res, "verb")), "VERSION",
	       "... runs a driver of its own, with STOR_COMMAND=VERSION");
	int version = (int)json_integer_value(json_object_get(res, "pid"));
	json_decref(TAKE_PTR(res));
	is_int(count_started(), 3, "... and leaves the waiting one");

	is_int(berth_stor_client_call(c, "CREATE", NULL, -1, &res, &err), 0, "CREATE again");
	int second = (int)json_integer_value(json_object_get(res, "pid"));
	json_decref(TAKE_PTR(res));
	ok(second > 0 && second != first, "... by another process (%d, then %d)", first, second);

	/* the waiting one killed: the next CREATE runs a driver of its own, succeeds, and starts
	 * the next one to wait */
	for (int i = 0; i < 1500 && count_started() < 4; i++)
		nanosleep(&(struct timespec){ .tv_nsec = 20 * 1000 * 1000 }, NULL);
	int waiting = -1;
	DIR *d = opendir(dir);
	for (struct dirent *de; d && (de = readdir(d));) {
		int p = strncmp(de->d_name, "started.", 8) ? -1 : atoi(de->d_name + 8);
		if (p > 0 && p != first && p != second && p != version)
			waiting = p;
	}
	if (d)
		closedir(d);
	ok(waiting > 0 && kill(waiting, SIGKILL) == 0, "the driver waiting (%d) is killed", waiting);
	char st[64];
	snprintf(st, sizeof(st), "/proc/%d/stat", waiting);
	for (int i = 0; i < 1500; i++) { /* until it is a zombie */
		char line[256] = "";
		FILE *sf = fopen(st, "r");
		bool z = !sf || (fgets(line, sizeof(line), sf) && strstr(line, ") Z "));
		if (sf)
			fclose(sf);
		if (z)
			break;
		nanosleep(&(struct timespec){ .tv_nsec = 20 * 1000 * 1000 }, NULL);
	}
	is_int(berth_stor_client_call(c, "CREATE", NULL, -1, &res, &err), 0,
	       "CREATE after the waiting driver died (%s)", err.msg);
	int third = (int)json_integer_value(json_object_get(res, "pid"));
	ok(third > 0 && third != waiting, "... answered by a driver of its own (%d)", third);
	json_decref(TAKE_PTR(res));
	for (int i = 0; i < 1500 && count_started() < 6; i++)
		nanosleep(&(struct timespec){ .tv_nsec = 20 * 1000 * 1000 }, NULL);
	is_int(count_started(), 6, "... and a new one waits for the next CREATE");
	is_int(berth_stor_client_call(c, "CREATE", NULL, -1, &res, &err), 0, "CREATE");
	int fourth = (int)json_integer_value(json_object_get(res, "pid"));
	json_decref(TAKE_PTR(res));
	ok(fourth > 0 && fourth != third && fourth != waiting, "... answered by that one (%d)", fourth);
	char cmd[400];

	berth_stor_client_free(c);
	errno = 0;
	ok(waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD,
	   "the client freed: the driver waiting was ended and reaped (no child left)");
	snprintf(cmd, sizeof(cmd), "rm -f %s/started.*", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "# could not remove %s/started.*\n", dir);
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

	test_start_finish();
	test_spare();

	unlink(pidfile);
	unlink(prog);
	rmdir(dir);
	return done_testing();
}
