/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdarg.h>

#include "berth/error.h"

/*
 * One rtnetlink socket bound to one network namespace.  A socket stays in the netns it was
 * created in, so a plugin opens one per netns it touches (host, container) at the start of a
 * call and passes it to every link/addr/route function; no setns is needed afterwards.
 * Requests are sent with NLM_F_ACK and the kernel's extended ack message (when it gives one)
 * lands in the berth_error text.
 */
struct berth_nl;

/* Open a socket in the netns nsfd (-1: the current one).  Entering and leaving nsfd happens
 * inside this call, the caller's netns is always restored. */
int berth_nl_open(int nsfd, struct berth_nl **ret, berth_error *err);
void berth_nl_close(struct berth_nl *nl);
static inline void berth_nl_closep(struct berth_nl **nl)
{
	if (*nl)
		berth_nl_close(*nl);
}
#define _cleanup_nl_ __attribute__((cleanup(berth_nl_closep)))

/* libnl's NLE_* code to a positive errno. */
int berth_nle_to_errno(int nle);
/* Fill err from a libnl error (negative or positive NLE code): "<fmt>: <libnl text>", errno
 * from berth_nle_to_errno, CNI code 999 unless the caller sets another.  Returns -errno. */
int berth_nl_error(berth_error *err, int nle, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
