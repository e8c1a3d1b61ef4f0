// SPDX-License-Identifier: Apache-2.0
/* The DHCP client of one lease, run inside the container's netns: a packet socket bound to the
 * container's interface (the address is not configured yet when the lease is taken, and a
 * server may answer to the offered address or to the link broadcast), DISCOVER/OFFER/
 * REQUEST/ACK with retransmission, renewal at T1 (RENEWING, unicast to the server), rebinding
 * at T2 (broadcast), a new acquisition after expiry or a NAK, and DHCPRELEASE. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "berth/cleanup.h"
#include "berth/fault.h"
#include "berth/ip.h"
#include "berth/log.h"
#include "berth/netns.h"
#include "daemon.h"

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint32_t new_xid(void)
{
	uint32_t x;
	if (getrandom(&x, sizeof(x), 0) != sizeof(x))
		x = (uint32_t)mono_ms() ^ (uint32_t)getpid();
	return x;
}

static bool stopping(struct lease *l)
{
	return __atomic_load_n(&l->stop, __ATOMIC_ACQUIRE);
}

/* In the container's netns: a packet socket on ifname, its index and MAC. */
static int open_link(struct lease *l, int *ret_fd, int *ret_ifindex, bool set_up,
		     berth_error *err)
{
	_cleanup_close_ int fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, htons(ETH_P_IP));
	struct ifreq ifr = { 0 };

	if (fd < 0)
		return berth_error_errno(err, BERTH_ERR_IO, "packet socket");
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", l->ifname);
	if (ioctl(fd, SIOCGIFINDEX, &ifr) < 0)
		return berth_error_errno(err, BERTH_ERR_INVALID_ENV, "interface %s in %s", l->ifname,
					 l->netns);
	int ifindex = ifr.ifr_ifindex;
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0)
		return berth_error_errno(err, BERTH_ERR_IO, "hardware address of %s", l->ifname);
	if (ifr.ifr_hwaddr.sa_family != ARPHRD_ETHER)
		return berth_error_set(err, BERTH_ERR_INVALID_ENV, EINVAL,
				       "interface %s is not an ethernet interface", l->ifname);
	memcpy(l->mac, ifr.ifr_hwaddr.sa_data, 6);
	/* the main plugin may call IPAM before it sets the link up (bridge does); the reference
	 * sets it up then, and so do we, or nothing could be sent */
	if (set_up) {
		if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
			return berth_error_errno(err, BERTH_ERR_IO, "flags of %s", l->ifname);
		if (!(ifr.ifr_flags & IFF_UP)) {
			ifr.ifr_flags |= IFF_UP;
			if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
				return berth_error_errno(err, BERTH_ERR_IO, "setting %s up",
							 l->ifname);
		}
	}
	struct sockaddr_ll sll = {
		.sll_family = AF_PACKET,
		.sll_protocol = htons(ETH_P_IP),
		.sll_ifindex = ifindex,
	};
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0)
		return berth_error_errno(err, BERTH_ERR_IO, "binding a packet socket to %s",
					 l->ifname);
	*ret_fd = TAKE_FD(fd);
	*ret_ifindex = ifindex;
	return 0;
}

/* The options every message of ours carries after its type. */
static void common_opts(struct lease *l, struct dhcp_builder *b, bool params)
{
	size_t n = strlen(l->client_id);
	uint8_t cid[256];
	cid[0] = 0; /* type 0: not a hardware address (RFC 2132 9.14), as the reference sends */
	memcpy(cid + 1, l->client_id, n);
	berth_dhcp_build_opt(b, DHCP_OPT_CLIENT_ID, cid, n + 1);
	if (!params)
		return;
	uint8_t maxsz[2] = { DHCP_MAX_MSG >> 8, DHCP_MAX_MSG & 0xff };
	berth_dhcp_build_opt(b, DHCP_OPT_MAX_SIZE, maxsz, 2);
	if (l->n_request)
		berth_dhcp_build_opt(b, DHCP_OPT_PARAM_LIST, l->request, l->n_request);
	for (size_t i = 0; i < l->n_provide; i++)
		berth_dhcp_build_opt(b, l->provide[i].code, l->provide[i].value,
				     strlen(l->provide[i].value));
}

static int send_msg(int fd, int ifindex, struct dhcp_builder *b, uint32_t saddr, uint32_t daddr,
		    berth_error *err)
{
	uint8_t frame[DHCP_MAX_MSG + 64];
	if (berth_dhcp_build_end(b) < 0)
		return berth_error_set(err, BERTH_ERR_INVALID_CONFIG, EMSGSIZE,
				       "the DHCP options do not fit in one message");
	int n = berth_dhcp_frame(b->buf, b->len, saddr, daddr, frame, sizeof(frame));
	if (n < 0)
		return berth_error_set(err, BERTH_ERR_INTERNAL, EMSGSIZE, "DHCP message too long");
	struct sockaddr_ll sll = {
		.sll_family = AF_PACKET,
		.sll_protocol = htons(ETH_P_IP),
		.sll_ifindex = ifindex,
		.sll_halen = 6,
		.sll_addr = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff },
	};
	if (sendto(fd, frame, (size_t)n, 0, (struct sockaddr *)&sll, sizeof(sll)) < 0)
		return berth_error_errno(err, BERTH_ERR_IO, "sending a DHCP message on %s",
					 "the container interface");
	return 0;
}

/* Wait for a reply to xid of type want1 or want2 (from `server` when non-zero) until
 * deadline (monotonic ms).  1 = got one in *m (raw bytes in raw/ *raw_len), 0 = timeout,
 * -ECANCELED when the lease is being stopped. */
static int wait_reply(struct lease *l, int fd, uint32_t xid, int want1, int want2,
		      uint32_t server, int64_t deadline, struct dhcp_msg *m, uint8_t *raw,
		      size_t *raw_len)
{
	uint8_t pkt[4096];
	for (;;) {
		if (stopping(l))
			return -ECANCELED;
		int64_t left = deadline - mono_ms();
		if (left <= 0)
			return 0;
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int pr = poll(&p, 1, left > 200 ? 200 : (int)left);
		if (pr <= 0)
			continue;
		ssize_t n = recv(fd, pkt, sizeof(pkt), MSG_DONTWAIT);
		if (n <= 0)
			continue;
		const uint8_t *pl;
		size_t pn;
		if (berth_dhcp_unframe(pkt, (size_t)n, &pl, &pn) < 0 || berth_dhcp_parse(pl, pn, m) < 0)
			continue;
		if (m->op != 2 || m->xid != xid || memcmp(m->chaddr, l->mac, 6) != 0)
			continue;
		int t = berth_dhcp_msg_type(m);
		if (t != want1 && t != want2)
			continue;
		uint32_t sid = 0;
		if (server && berth_dhcp_opt_u32(m, DHCP_OPT_SERVER_ID, &sid) && sid != server)
			continue;
		if (raw && pn <= DHCP_MAX_MSG) {
			memcpy(raw, pl, pn);
			*raw_len = pn;
		} else if (raw) {
			continue;
		}
		return 1;
	}
}

/* Send what build() makes, retransmitting after 1, 2, 4, 4 ... s until a reply or deadline. */
typedef void (*build_fn)(struct lease *l, struct dhcp_builder *b, uint32_t xid, void *ud);
struct exch {
	uint32_t saddr, daddr, server;
	int want1, want2;
};
static int exchange(struct lease *l, int fd, int ifindex, const struct exch *x, build_fn build,
		    void *ud, uint32_t xid, int64_t deadline, struct dhcp_msg *m, uint8_t *raw,
		    size_t *raw_len, berth_error *err)
{
	int64_t delay = 1000;
	for (;;) {
		struct dhcp_builder b;
		build(l, &b, xid, ud);
		int r = send_msg(fd, ifindex, &b, x->saddr, x->daddr, err);
		if (r < 0)
			return r;
		int64_t until = mono_ms() + delay;
		if (until > deadline)
			until = deadline;
		r = wait_reply(l, fd, xid, x->want1, x->want2, x->server, until, m, raw, raw_len);
		if (r != 0)
			return r;
		if (mono_ms() >= deadline)
			return 0;
		if (delay < 4000)
			delay *= 2;
	}
}

struct req_ud {
	uint32_t requested, server, ciaddr;
};

static void build_discover(struct lease *l, struct dhcp_builder *b, uint32_t xid, void *ud)
{
	struct req_ud *u = ud;
	berth_dhcp_build_start(b, DHCP_DISCOVER, xid, l->mac, 0, l->broadcast);
	if (u->requested)
		berth_dhcp_build_opt(b, DHCP_OPT_REQUESTED_IP, &u->requested, 4);
	common_opts(l, b, true);
}

static void build_request(struct lease *l, struct dhcp_builder *b, uint32_t xid, void *ud)
{
	struct req_ud *u = ud;
	berth_dhcp_build_start(b, DHCP_REQUEST, xid, l->mac, u->ciaddr, l->broadcast && !u->ciaddr);
	if (u->requested)
		berth_dhcp_build_opt(b, DHCP_OPT_REQUESTED_IP, &u->requested, 4);
	if (u->server)
		berth_dhcp_build_opt(b, DHCP_OPT_SERVER_ID, &u->server, 4);
	common_opts(l, b, true);
}

static void build_release(struct lease *l, struct dhcp_builder *b, uint32_t xid, void *ud)
{
	berth_dhcp_build_start(b, DHCP_RELEASE, xid, l->mac, l->addr, false);
	berth_dhcp_build_opt(b, DHCP_OPT_SERVER_ID, &l->server_id, 4);
	common_opts(l, b, false);
}

int lease_commit(struct lease *l, const uint8_t *ack, size_t len, time_t now)
{
	struct dhcp_msg *m = malloc(sizeof(*m));
	if (!m)
		return -ENOMEM;
	if (len > sizeof(l->ack) || berth_dhcp_parse(ack, len, m) < 0 || !m->yiaddr) {
		free(m);
		return -EINVAL;
	}
	uint32_t v, sid = m->siaddr;
	uint32_t lt = 3600, t1, t2;
	if (berth_dhcp_opt_u32(m, DHCP_OPT_LEASE_TIME, &v))
		lt = ntohl(v);
	if (lt == 0)
		lt = 1;
	t1 = lt / 2;
	t2 = (uint32_t)((uint64_t)lt * 85 / 100);
	if (berth_dhcp_opt_u32(m, DHCP_OPT_T1, &v) && ntohl(v) > 0 && ntohl(v) < lt)
		t1 = ntohl(v);
	if (berth_dhcp_opt_u32(m, DHCP_OPT_T2, &v) && ntohl(v) > 0 && ntohl(v) < lt)
		t2 = ntohl(v);
	if (g_opts.max_renew_s && t1 > g_opts.max_renew_s)
		t1 = (uint32_t)g_opts.max_renew_s;
	if (g_opts.min_renew_s && t1 < g_opts.min_renew_s && g_opts.min_renew_s < lt)
		t1 = (uint32_t)g_opts.min_renew_s;
	if (t2 < t1)
		t2 = t1;
	berth_dhcp_opt_u32(m, DHCP_OPT_SERVER_ID, &sid);
	l->addr = m->yiaddr;
	l->server_id = sid;
	l->lease_time = lt;
	l->t1 = t1;
	l->t2 = t2;
	memcpy(l->ack, ack, len);
	l->ack_len = len;
	l->acquired = now;
	free(m);
	return 0;
}

int lease_result(const struct lease *l, struct berth_cni_result **ret, berth_error *err)
{
	return berth_dhcp_ack_result(l->ack, l->ack_len, l->priority, ret, err);
}

/* An exchange's error; -ECANCELED: the lease was released meanwhile (a runtime may retry). */
static int released_while_acquired(int r, berth_error *err)
{
	return r == -ECANCELED ? berth_error_set(err, BERTH_ERR_TRY_AGAIN, ECANCELED,
						 "the lease was released while acquired")
			       : r;
}

/* DISCOVER .. ACK.  Runs in the calling thread's netns (the caller entered it).  record (an
 * ADD): the OFFER is recorded in the lease's file as pending before the REQUEST goes out, so a
 * daemon killed before the bound lease is saved leaves what the next one needs to release it;
 * the maintainer's acquisitions do not (its file holds the bound lease the container uses). */
static int acquire_here(struct lease *l, int fd, int ifindex, uint32_t hint, int64_t timeout_ms,
			bool record, berth_error *err)
{
	int64_t deadline = mono_ms() + timeout_ms;
	_cleanup_free_ struct dhcp_msg *m = malloc(sizeof(*m));
	_cleanup_free_ uint8_t *raw = malloc(DHCP_MAX_MSG);
	size_t raw_len = 0;
	int naks = 0;

	if (!m || !raw)
		return berth_error_set(err, BERTH_ERR_INTERNAL, ENOMEM, "out of memory");
	while (mono_ms() < deadline) {
		uint32_t xid = new_xid();
		struct req_ud u = { .requested = hint };
		struct exch x = { .saddr = 0, .daddr = INADDR_BROADCAST, .want1 = DHCP_OFFER };
		int r = exchange(l, fd, ifindex, &x, build_discover, &u, xid, deadline, m, NULL,
				 NULL, err);
		if (r < 0)
			return released_while_acquired(r, err);
		if (r == 0)
			break;
		uint32_t sid = m->siaddr;
		berth_dhcp_opt_u32(m, DHCP_OPT_SERVER_ID, &sid);
		u.requested = m->yiaddr;
		u.server = sid;
		if (record) {
			pthread_mutex_lock(&g_lock);
			l->addr = m->yiaddr;
			l->server_id = sid;
			l->pending = true;
			pthread_mutex_unlock(&g_lock);
			/* not synced: only a crash of the process matters here */
			if (lease_save(l, false) < 0)
				return berth_error_set(err, BERTH_ERR_IO, EIO,
						       "cannot record the offered lease");
			BERTH_FAULT_POINT("dhcpd-after-offer");
		}
		x.want1 = DHCP_ACK;
		x.want2 = DHCP_NAK;
		x.server = sid;
		r = exchange(l, fd, ifindex, &x, build_request, &u, xid, deadline, m, raw, &raw_len,
			     err);
		if (r < 0)
			return released_while_acquired(r, err);
		if (r == 0)
			break;
		if (berth_dhcp_msg_type(m) == DHCP_NAK) {
			hint = 0;
			if (++naks > 3)
				return berth_error_set(err, BERTH_ERR_IO, EPROTO,
						       "the DHCP server refused (NAK) every request");
			continue;
		}
		pthread_mutex_lock(&g_lock);
		r = lease_commit(l, raw, raw_len, time(NULL));
		pthread_mutex_unlock(&g_lock);
		if (r < 0)
			return berth_error_set(err, BERTH_ERR_IO, EPROTO,
					       "the DHCPACK carries no usable address");
		return 0;
	}
	return berth_error_set(err, BERTH_ERR_TRY_AGAIN, ETIMEDOUT,
			       "no DHCP lease on %s in %s: no more tries within %lld ms", l->ifname,
			       l->netns, (long long)timeout_ms);
}

int lease_acquire(struct lease *l, berth_error *err)
{
	_cleanup_close_ int nsfd = -1, fd = -1;
	_cleanup_netns_ int saved = -1;
	int ifindex, r;

	if ((r = berth_netns_open(l->netns, &nsfd, err)) < 0 ||
	    (r = berth_netns_enter(nsfd, &saved, err)) < 0)
		return r;
	if ((r = open_link(l, &fd, &ifindex, true, err)) < 0)
		return r;
	return acquire_here(l, fd, ifindex, 0, l->timeout_ms, true, err);
}

void lease_release(struct lease *l)
{
	_cleanup_close_ int nsfd = -1, fd = -1;
	_cleanup_netns_ int saved = -1;
	berth_error err = { 0 };
	int ifindex;

	if (!l->addr || !l->netns || !*l->netns)
		return;
	if (berth_netns_open(l->netns, &nsfd, &err) < 0 ||
	    berth_netns_enter(nsfd, &saved, &err) < 0 || open_link(l, &fd, &ifindex, false, &err) < 0) {
		berth_log_info("%s: no DHCPRELEASE sent: %s", l->client_id, err.msg);
		return;
	}
	struct dhcp_builder b;
	build_release(l, &b, new_xid(), NULL);
	/* from the leased address to the server, as RFC 2131 4.4.6 has it */
	if (send_msg(fd, ifindex, &b, l->addr, l->server_id ? l->server_id : INADDR_BROADCAST,
		     &err) < 0)
		berth_log_info("%s: DHCPRELEASE: %s", l->client_id, err.msg);
	else
		berth_log_info("%s: released", l->client_id);
}

/* Sleep until the wall-clock time `when` or a stop; true when stopping. */
static bool sleep_until(struct lease *l, time_t when)
{
	struct timespec ts = { .tv_sec = when };
	pthread_mutex_lock(&g_lock);
	while (!l->stop && time(NULL) < when)
		pthread_cond_timedwait(&l->cond, &g_lock, &ts);
	bool s = l->stop;
	pthread_mutex_unlock(&g_lock);
	return s;
}

static void *maintain(void *arg)
{
	struct lease *l = arg;
	_cleanup_close_ int nsfd = -1;
	_cleanup_netns_ int saved = -1;
	_cleanup_free_ struct dhcp_msg *m = malloc(sizeof(*m));
	_cleanup_free_ uint8_t *raw = malloc(DHCP_MAX_MSG);
	berth_error err = { 0 };
	time_t next = 0;

	if (!m || !raw || berth_netns_open(l->netns, &nsfd, &err) < 0 ||
	    berth_netns_enter(nsfd, &saved, &err) < 0) {
		berth_log_warn("%s: lease not maintained: %s", l->client_id,
			       err.msg[0] ? err.msg : "out of memory");
		return NULL;
	}
	for (;;) {
		pthread_mutex_lock(&g_lock);
		time_t t1 = l->acquired + l->t1, t2 = l->acquired + l->t2,
		       exp = l->acquired + l->lease_time;
		pthread_mutex_unlock(&g_lock);
		if (next < t1)
			next = t1;
		if (sleep_until(l, next))
			break;

		_cleanup_close_ int fd = -1;
		int ifindex;
		berth_error_clear(&err);
		if (open_link(l, &fd, &ifindex, false, &err) < 0) {
			berth_log_warn("%s: %s; lease maintenance ends", l->client_id, err.msg);
			break;
		}
		time_t now = time(NULL);
		int r;
		size_t raw_len = 0;
		if (now >= exp) {
			berth_log_warn("%s: lease expired, acquiring again", l->client_id);
			r = acquire_here(l, fd, ifindex, l->addr, l->timeout_ms, false, &err);
		} else {
			bool rebind = now >= t2;
			struct req_ud u = { .ciaddr = l->addr };
			struct exch x = {
				.saddr = l->addr,
				.daddr = rebind || !l->server_id ? INADDR_BROADCAST : l->server_id,
				.want1 = DHCP_ACK,
				.want2 = DHCP_NAK,
			};
			int64_t wait = l->timeout_ms;
			r = exchange(l, fd, ifindex, &x, build_request, &u, new_xid(),
				     mono_ms() + wait, m, raw, &raw_len, &err);
			if (r == 1 && berth_dhcp_msg_type(m) == DHCP_NAK) {
				berth_log_warn("%s: renewal refused (NAK), acquiring again",
					       l->client_id);
				r = acquire_here(l, fd, ifindex, 0, l->timeout_ms, false, &err);
				if (r == 0)
					r = 2;
			} else if (r == 1) {
				pthread_mutex_lock(&g_lock);
				r = lease_commit(l, raw, raw_len, time(NULL)) < 0 ? 0 : 2;
				pthread_mutex_unlock(&g_lock);
			}
			if (r == 2)
				r = 0;
			else if (r >= 0)
				r = -ETIMEDOUT;
		}
		if (r == -ECANCELED || stopping(l))
			break;
		if (r == 0) {
			pthread_mutex_lock(&g_lock);
			l->renewals++;
			pthread_mutex_unlock(&g_lock);
			BERTH_FAULT_POINT("dhcpd-after-renew");
			/* not synced: a renewal lost in a crash only makes the next daemon renew
			 * sooner */
			lease_save(l, false);
			berth_log_info("%s: lease renewed for %u s", l->client_id, l->lease_time);
			next = 0;
		} else {
			/* RFC 2131 4.4.5: retry after half the time left, at least 1 s, at most
			 * 60 s; and never later than T1 after the failure, so a server that comes
			 * back is found again within one renewal period */
			now = time(NULL);
			time_t left = (now < t2 ? t2 : exp) - now;
			time_t d = left / 2, cap = l->t1 < 60 ? l->t1 : 60;
			d = d > cap ? cap : d;
			d = d < 1 ? 1 : d;
			next = now + d;
			berth_log_info("%s: renewal failed (%s), next try in %lld s", l->client_id,
				       err.msg, (long long)d);
		}
	}
	return NULL;
}

int lease_start_thread(struct lease *l, berth_error *err)
{
	int r = pthread_create(&l->thread, NULL, maintain, l);
	if (r)
		return berth_error_set(err, BERTH_ERR_INTERNAL, r, "starting the lease thread");
	l->thread_running = true;
	return 0;
}

void lease_stop_thread(struct lease *l)
{
	if (!l->thread_running)
		return;
	pthread_mutex_lock(&g_lock);
	__atomic_store_n(&l->stop, true, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&l->cond);
	pthread_mutex_unlock(&g_lock);
	pthread_join(l->thread, NULL);
	l->thread_running = false;
}
