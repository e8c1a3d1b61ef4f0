/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>

#include "berth/cleanup.h"
#include "berth/error.h"

/*
 * Network namespaces.  setns() only changes the calling thread; every function that enters a
 * netns restores the previous one before returning, and a failure to restore aborts the
 * process (continuing in the wrong netns would touch the wrong interfaces).
 */

/* Open a netns path (e.g. /run/netns/x, /proc/PID/ns/net) and check that it is an nsfs inode of
 * type CLONE_NEWNET.  -ENOENT (code 4, BERTH_CNI_ERR_INVALID_ENV: CNI_NETNS is unusable) when
 * the path does not exist, -EINVAL (same code) when it exists but is not a network namespace. */
int berth_netns_open(const char *path, int *ret_fd, berth_error *err);

/* fd of the calling thread's netns. */
int berth_netns_open_current(int *ret_fd, berth_error *err);

/* true when nsfd refers to the netns the caller is in (same inode). */
bool berth_netns_is_current(int nsfd);
/* Same for a path (/run/netns/x, /proc/PID/ns/net); false when it cannot be stat'ed. */
bool berth_netns_path_is_current(const char *path);

/* Enter nsfd; *ret_saved receives an fd of the previous netns that berth_netns_restore()
 * returns to.  Use with _cleanup_netns_ so every path restores:
 *     _cleanup_netns_ int saved = -1;
 *     r = berth_netns_enter(fd, &saved, err);
 */
int berth_netns_enter(int nsfd, int *ret_saved, berth_error *err);
/* Return to *saved (no-op when -1) and close it; aborts if setns fails. */
void berth_netns_restore(int *saved);
#define _cleanup_netns_ _cleanup_(berth_netns_restore)

/* A new, empty netns that no path names, held by *ret_fd only (it dies when the fd is closed);
 * the caller stays in its own netns. */
int berth_netns_new_anon(int *ret_fd, berth_error *err);

/* Run fn(userdata, err) inside nsfd and come back; returns fn's value. */
typedef int (*berth_netns_fn)(void *userdata, berth_error *err);
int berth_netns_run(int nsfd, berth_netns_fn fn, void *userdata, berth_error *err);

/* Run fn(userdata, err) in a child process in a new, empty netns that goes with the child: a
 * probe of what this kernel can do (which may also load a module) that leaves nothing behind.
 * Returns 0, or fn's error handed back; `what` names the probe in the message of a child that
 * died without one. */
int berth_netns_probe(berth_netns_fn fn, void *userdata, const char *what, berth_error *err);
