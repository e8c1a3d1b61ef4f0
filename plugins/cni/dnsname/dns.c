/* SPDX-License-Identifier: Apache-2.0 */
/* A minimal DNS client: one question, read the A/AAAA records of the answer section. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>

#include "berth/cleanup.h"
#include "berth/cni.h"
#include "dnsname.h"

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Encode name as labels; returns the length or -EINVAL. */
static int put_name(uint8_t *p, size_t cap, const char *name)
{
	size_t o = 0;

	while (*name) {
		const char *dot = strchrnul(name, '.');
		size_t l = (size_t)(dot - name);

		if (l == 0 || l > 63 || o + l + 2 > cap)
			return -EINVAL;
		p[o++] = (uint8_t)l;
		memcpy(p + o, name, l);
		o += l;
		name = *dot ? dot + 1 : dot;
	}
	if (o + 1 > cap)
		return -EINVAL;
	p[o++] = 0;
	return (int)o;
}

/* Skip a (possibly compressed) name at off; returns the offset after it or -1. */
static int skip_name(const uint8_t *p, size_t n, size_t off)
{
	while (off < n) {
		uint8_t l = p[off];

		if ((l & 0xc0) == 0xc0)
			return off + 2 <= n ? (int)(off + 2) : -1;
		if (l == 0)
			return (int)(off + 1);
		off += 1 + (size_t)l;
	}
	return -1;
}

/* 1: the answer to query id holds want; 0: it does not; -1: not an answer to us. */
static int parse_answer(const uint8_t *p, size_t n, uint16_t id, int qlen,
			const struct berth_ip *want)
{
	size_t off;
	unsigned an;
	int alen = berth_ip_len(want->family);
	uint16_t type = want->family == AF_INET ? 1 : 28;

	if (n < 12 || ((p[0] << 8) | p[1]) != id || !(p[2] & 0x80))
		return -1;
	if ((p[3] & 0x0f) != 0) /* rcode: NXDOMAIN, SERVFAIL, ... */
		return 0;
	an = (unsigned)((p[6] << 8) | p[7]);
	off = 12 + (size_t)qlen;
	for (unsigned i = 0; i < an; i++) {
		int e = skip_name(p, n, off);
		uint16_t t, rdlen;

		if (e < 0 || (size_t)e + 10 > n)
			return 0;
		off = (size_t)e;
		t = (uint16_t)((p[off] << 8) | p[off + 1]);
		rdlen = (uint16_t)((p[off + 8] << 8) | p[off + 9]);
		off += 10;
		if (off + rdlen > n)
			return 0;
		if (t == type && rdlen == alen && memcmp(p + off, want->addr, (size_t)alen) == 0)
			return 1;
		off += rdlen;
	}
	return 0;
}

int dnsname_query(const struct berth_ip *server, const char *name, const struct berth_ip *want,
		  int timeout_ms, int interval_ms, berth_error *err)
{
	uint8_t q[512], a[1500];
	struct sockaddr_storage ss = { 0 };
	socklen_t sl;
	_cleanup_close_ int fd = -1;
	long deadline = now_ms() + timeout_ms;
	uint16_t id;
	int nl, found = 0;

	if (getrandom(&id, sizeof(id), 0) != sizeof(id))
		id = (uint16_t)now_ms();
	memset(q, 0, 12);
	q[0] = (uint8_t)(id >> 8);
	q[1] = (uint8_t)id;
	q[2] = 0x01; /* RD */
	q[5] = 1;    /* one question */
	if ((nl = put_name(q + 12, sizeof(q) - 16, name)) < 0)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "'%s' is not a name DNS can carry", name);
	q[12 + nl] = 0;
	q[13 + nl] = want->family == AF_INET ? 1 : 28;
	q[14 + nl] = 0;
	q[15 + nl] = 1; /* IN */
	nl += 4;

	if (server->family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(53);
		memcpy(&s4->sin_addr, server->addr, 4);
		sl = sizeof(*s4);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(53);
		memcpy(&s6->sin6_addr, server->addr, 16);
		sl = sizeof(*s6);
	}
	fd = socket(server->family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&ss, sl) < 0)
		return berth_error_errno(err, BERTH_CNI_ERR_IO, "DNS socket");
	for (;;) {
		long left = deadline - now_ms(), wait_until;

		/* ECONNREFUSED: nothing listens yet (bind-dynamic may bind a moment later) */
		(void)send(fd, q, 12 + (size_t)nl, 0);
		wait_until = now_ms() + (left < interval_ms ? left : interval_ms);
		for (;;) {
			struct pollfd pfd = { .fd = fd, .events = POLLIN };
			long w = wait_until - now_ms();
			ssize_t n;
			int r;

			if (w <= 0 || poll(&pfd, 1, (int)w) <= 0)
				break;
			n = recv(fd, a, sizeof(a), 0);
			if (n < 0)
				continue;
			r = parse_answer(a, (size_t)n, id, nl, want);
			if (r == 1)
				return 1;
			if (r == 0) {
				found = 0;
				break;
			}
		}
		if (now_ms() >= deadline)
			return found;
		{
			long w = wait_until - now_ms();
			struct timespec ts = { 0, (w > 0 ? w : 0) * 1000000L };

			if (w > 0)
				nanosleep(&ts, NULL);
		}
	}
}
