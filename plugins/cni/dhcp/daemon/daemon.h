/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "berth/cni.h"
#include "berth/error.h"
#include "dhcp-internal.h" /* plugins/cni/dhcp, on the include path (mk/plugin-dhcp.mk) */

/* The daemon's settings (command line). */
struct daemon_opts {
	int64_t timeout_ms;   /* one acquisition, all retransmissions included */
	bool broadcast;       /* ask servers to broadcast their answers */
	int64_t min_renew_s;  /* T1 floor, seconds (0: none) */
	int64_t max_renew_s;  /* T1 ceiling, seconds (0: none); for tests of renewal */
};
extern struct daemon_opts g_opts;

enum lease_state { LEASE_NEW, LEASE_BOUND, LEASE_STOPPED };

struct lease {
	struct lease *next;
	char *client_id, *container_id, *net_name, *ifname, *netns;
	uint8_t request[256];
	size_t n_request;
	struct dhcp_provide *provide;
	size_t n_provide;
	int priority;
	int64_t timeout_ms;
	bool broadcast;

	/* the lease itself: the ACK as received, and when it was received (wall clock, so it
	 * survives a restart) */
	uint8_t ack[DHCP_MAX_MSG];
	size_t ack_len;
	time_t acquired;
	uint32_t addr, server_id; /* network order */
	uint32_t lease_time, t1, t2;
	uint8_t mac[6];

	/* an ADD's lease from its OFFER to its bound save: addr and server_id are the offer's and
	 * the file says "pending" (a daemon that finds such a file releases the offer) */
	bool pending;

	enum lease_state state;
	bool stop, thread_running, busy;
	pthread_t thread;
	pthread_cond_t cond;
	uint64_t renewals;
};

extern pthread_mutex_t g_lock;

/* client.c: the DHCP client.  Acquire runs in the calling thread (it enters l->netns and
 * comes back); the maintainer thread renews at T1 until l->stop. */
int lease_acquire(struct lease *l, berth_error *err);
int lease_start_thread(struct lease *l, berth_error *err);
void lease_stop_thread(struct lease *l);
/* DHCPRELEASE (best effort: the netns or the link may be gone). */
void lease_release(struct lease *l);
/* Commit an ACK into the lease's times and address. */
int lease_commit(struct lease *l, const uint8_t *ack, size_t len, time_t now);
/* The CNI result (1.1.0) of the lease. */
int lease_result(const struct lease *l, struct berth_cni_result **ret, berth_error *err);

/* main.c: persistence.  Called by the one thread that owns the lease at the time (the ADD, then
 * its maintainer), without g_lock: only that thread writes the lease's fields.  A pending lease
 * (l->pending) is written with its offered address and server instead of an ACK. */
int lease_save(struct lease *l, bool sync);
