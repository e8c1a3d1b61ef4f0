/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "berth/error.h"

/*
 * Run a protocol executable: write `input` to its stdin, collect stdout (and stderr), wait at
 * most timeout_ms (0 = no limit; on expiry the child and every process it started are
 * SIGKILLed and -ETIMEDOUT returned with code 5, message naming the program and the timeout).
 * envp replaces the environment (NULL = inherit).  extra_fd, when >= 0, is passed to the child
 * as fd 3 (tar streams).  Returns 0 when the child ran to an exit status, which goes to
 * *ret_status (the exit code, or 128+signal); stdout in *ret_out (NUL-terminated, caller frees),
 * stderr in *ret_errout when non-NULL (else inherited).
 */
struct berth_exec_opts {
	const char *const *argv; /* argv[0] is the path */
	char *const *envp;
	const char *input;
	size_t input_len;
	int timeout_ms;
	int extra_fd;
};

int berth_exec(const struct berth_exec_opts *opts, int *ret_status, char **ret_out,
	       char **ret_errout, berth_error *err);

/*
 * berth_exec in two halves, so that a child can be started before its input is known (a
 * driver process kept ready, storage/client.c): berth_exec_start spawns it (opts->input and
 * timeout_ms are not used yet; want_err: a pipe for its stderr, else inherited) and
 * berth_exec_finish gives it `input`, collects its output and reaps it, as berth_exec does,
 * the deadline counting from there.  berth_exec_abandon closes its stdin unwritten (it reads
 * EOF) and reaps it.  A child that was started is finished or abandoned exactly once.
 */
struct berth_child {
	int pid;
	int in, out, err; /* our ends; -1 when closed */
	size_t written;   /* bytes of input already written */
};
#define BERTH_CHILD_NONE ((struct berth_child){ .pid = -1, .in = -1, .out = -1, .err = -1 })

int berth_exec_start(const struct berth_exec_opts *opts, bool want_err, struct berth_child *ret,
		     berth_error *err);
/* Write what of input fits without blocking (the rest goes in berth_exec_finish). */
void berth_exec_feed(struct berth_child *c, const char *input, size_t len);
int berth_exec_finish(struct berth_child *c, const struct berth_exec_opts *opts, int *ret_status,
		      char **ret_out, char **ret_errout, berth_error *err);
void berth_exec_abandon(struct berth_child *c);

/* Find `name` (a plain file name, no '/') along a ':'-separated path of directories.
 * Returns a malloc'd full path, or -ENOENT. */
int berth_find_in_path(const char *name, const char *path, char **ret, berth_error *err);

/* Build a new environment: the current one with each "K=V" in set overriding (V empty and
 * no '=' means unset).  NULL-terminated; free with berth_strv_free. */
char **berth_env_override(char *const *base, const char *const *set);

/* The directories "<dir of this executable>/<rel>" that exist, for each rel, ':'-joined and
 * followed by `rest` (may be NULL).  Lets an installed or build-tree `berth` find the plugins
 * beside it (../libexec/berth/cni, ../cni) whatever PREFIX it was built with.  Caller frees. */
char *berth_self_relative_path(const char *const *rels, const char *rest);
