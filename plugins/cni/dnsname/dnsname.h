/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "berth/error.h"
#include "berth/ip.h"

/* dns.c: one DNS question over UDP, to ask our own dnsmasq whether it serves a name. */

/* Ask server:53 for `name` (type A or AAAA by want->family) once per `interval_ms` until the
 * answer holds `want` or timeout_ms passes.  Returns 1 when it does, 0 when the last answer did
 * not (NXDOMAIN, no such address, no answer at all), -errno when no query could be sent. */
int dnsname_query(const struct berth_ip *server, const char *name, const struct berth_ip *want,
		  int timeout_ms, int interval_ms, berth_error *err);

/* dnsmasq.c: the per-network dnsmasq daemon. */

/* The dnsmasq executable: $BERTH_DNSMASQ, else along PATH, else /usr/sbin, /sbin. */
int dnsname_dnsmasq_find(char **ret, berth_error *err);
/* The pid of the dnsmasq of `conf` (its pidfile, checked against /proc/PID/cmdline), 0 when
 * none runs. */
pid_t dnsname_dnsmasq_pid(const char *pidfile, const char *conf);
/* Start `bin --conf-file=conf`; returns when the daemon is up (dnsmasq's parent waits for its
 * child to bind) or fails with dnsmasq's own error text. */
int dnsname_dnsmasq_start(const char *bin, const char *conf, berth_error *err);
/* SIGTERM (SIGKILL after 5 s) and wait until the process is gone. */
void dnsname_dnsmasq_stop(pid_t pid);
