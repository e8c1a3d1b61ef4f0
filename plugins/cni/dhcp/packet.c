// SPDX-License-Identifier: Apache-2.0
/* DHCPv4 messages: parsing what a server (or anything on the link) sends, building what the
 * client sends, and the IPv4+UDP framing a packet socket needs.  Debian ships no C library of
 * a DHCP client codec (dhcpcd, udhcpc and systemd's sd-dhcp-client are programs or private),
 * so this is a small one; everything it reads is bounds-checked and fuzzed
 * (tests/fuzz/fuzz-dhcp-packet.c). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <string.h>

#include "dhcp-internal.h"

#define DHCP_MAGIC 0x63825363u
#define OFF_SNAME 44
#define OFF_FILE 108
#define MAX_PARSE 3000 /* options area + sname + file always fit in opt_buf */

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Walk one options region: with copy false add each code's length to m->opt_len, with copy
 * true append the bytes at m->opt_off[code] + fill[code].  *overload gets option 52. */
static int walk(const uint8_t *p, size_t n, struct dhcp_msg *m, bool copy, uint16_t *fill,
		int *overload)
{
	size_t i = 0;

	while (i < n) {
		uint8_t code = p[i];
		if (code == DHCP_OPT_PAD) {
			i++;
			continue;
		}
		if (code == DHCP_OPT_END)
			return 0;
		if (i + 2 > n || i + 2 + (size_t)p[i + 1] > n)
			return -EINVAL;
		uint8_t len = p[i + 1];
		const uint8_t *v = p + i + 2;
		if (code == DHCP_OPT_OVERLOAD && overload) {
			if (len != 1 || v[0] < 1 || v[0] > 3)
				return -EINVAL;
			*overload = v[0];
		}
		if (!copy) {
			m->opt_len[code] += len;
			m->opt_has[code] = 1;
		} else {
			memcpy(m->opt_buf + m->opt_off[code] + fill[code], v, len);
			fill[code] += len;
		}
		i += 2 + (size_t)len;
	}
	return 0; /* a missing end option is tolerated, as most clients do */
}

int berth_dhcp_parse(const uint8_t *buf, size_t len, struct dhcp_msg *m)
{
	memset(m, 0, offsetof(struct dhcp_msg, opt_buf));
	if (len < DHCP_FIXED_LEN || len > MAX_PARSE)
		return -EINVAL;
	if (get32(buf + 236) != DHCP_MAGIC)
		return -EINVAL;
	m->op = buf[0];
	m->htype = buf[1];
	m->hlen = buf[2];
	m->xid = get32(buf + 4);
	m->flags = (uint16_t)(buf[10] << 8 | buf[11]);
	memcpy(&m->ciaddr, buf + 12, 4);
	memcpy(&m->yiaddr, buf + 16, 4);
	memcpy(&m->siaddr, buf + 20, 4);
	memcpy(&m->giaddr, buf + 24, 4);
	memcpy(m->chaddr, buf + 28, 16);

	/* pass 1: validate and size every code; option 52 (only from the main area) says whether
	 * file and sname carry options too */
	int overload = 0;
	const uint8_t *opts = buf + DHCP_FIXED_LEN;
	size_t nopts = len - DHCP_FIXED_LEN;
	if (walk(opts, nopts, m, false, NULL, &overload) < 0)
		return -EINVAL;
	if ((overload & 1) && walk(buf + OFF_FILE, 128, m, false, NULL, NULL) < 0)
		return -EINVAL;
	if ((overload & 2) && walk(buf + OFF_SNAME, 64, m, false, NULL, NULL) < 0)
		return -EINVAL;

	size_t off = 0;
	for (int c = 0; c < 256; c++) {
		m->opt_off[c] = (uint16_t)off;
		off += m->opt_len[c];
	}
	if (off > sizeof(m->opt_buf))
		return -EINVAL; /* cannot happen with MAX_PARSE; kept as the invariant's guard */

	/* pass 2: concatenate (RFC 3396) in the order main, file, sname */
	uint16_t fill[256] = { 0 };
	walk(opts, nopts, m, true, fill, NULL);
	if (overload & 1)
		walk(buf + OFF_FILE, 128, m, true, fill, NULL);
	if (overload & 2)
		walk(buf + OFF_SNAME, 64, m, true, fill, NULL);
	return 0;
}

const uint8_t *berth_dhcp_opt(const struct dhcp_msg *m, int code, size_t *ret_len)
{
	if (code < 0 || code > 255 || !m->opt_has[code]) {
		if (ret_len)
			*ret_len = 0;
		return NULL;
	}
	if (ret_len)
		*ret_len = m->opt_len[code];
	return m->opt_buf + m->opt_off[code];
}

bool berth_dhcp_opt_u32(const struct dhcp_msg *m, int code, uint32_t *ret)
{
	size_t n;
	const uint8_t *p = berth_dhcp_opt(m, code, &n);
	if (!p || n != 4)
		return false;
	memcpy(ret, p, 4);
	return true;
}

int berth_dhcp_msg_type(const struct dhcp_msg *m)
{
	size_t n;
	const uint8_t *p = berth_dhcp_opt(m, DHCP_OPT_MSG_TYPE, &n);
	return p && n == 1 ? p[0] : 0;
}

void berth_dhcp_build_start(struct dhcp_builder *b, int type, uint32_t xid, const uint8_t mac[6],
			    uint32_t ciaddr, bool broadcast)
{
	memset(b, 0, sizeof(*b));
	b->buf[0] = 1; /* BOOTREQUEST */
	b->buf[1] = 1; /* ethernet */
	b->buf[2] = 6;
	uint32_t x = htonl(xid);
	memcpy(b->buf + 4, &x, 4);
	if (broadcast)
		b->buf[10] = 0x80;
	memcpy(b->buf + 12, &ciaddr, 4);
	memcpy(b->buf + 28, mac, 6);
	uint32_t magic = htonl(DHCP_MAGIC);
	memcpy(b->buf + 236, &magic, 4);
	b->len = DHCP_FIXED_LEN;
	uint8_t t = (uint8_t)type;
	berth_dhcp_build_opt(b, DHCP_OPT_MSG_TYPE, &t, 1);
}

void berth_dhcp_build_opt(struct dhcp_builder *b, int code, const void *data, size_t len)
{
	/* longer values are split into several options of the same code (RFC 3396) */
	const uint8_t *p = data;
	do {
		size_t n = len > 255 ? 255 : len;
		if (b->len + 2 + n + 1 > sizeof(b->buf)) {
			b->overflow = true;
			return;
		}
		b->buf[b->len++] = (uint8_t)code;
		b->buf[b->len++] = (uint8_t)n;
		if (n)
			memcpy(b->buf + b->len, p, n);
		b->len += n;
		p += n;
		len -= n;
	} while (len > 0);
}

int berth_dhcp_build_end(struct dhcp_builder *b)
{
	if (b->overflow)
		return -EMSGSIZE;
	b->buf[b->len++] = DHCP_OPT_END;
	/* some servers ignore BOOTP messages shorter than 300 bytes */
	if (b->len < 300)
		b->len = 300;
	return 0;
}

static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		sum += (uint32_t)(p[n - 1] << 8);
	return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

int berth_dhcp_frame(const uint8_t *payload, size_t len, uint32_t saddr, uint32_t daddr,
		     uint8_t *out, size_t out_size)
{
	size_t total = sizeof(struct iphdr) + sizeof(struct udphdr) + len;
	if (total > out_size || total > 0xffff)
		return -EMSGSIZE;
	struct iphdr ip;
	struct udphdr udp;
	memset(&ip, 0, sizeof(ip)); /* bit fields and all: the checksum reads every byte */
	ip.version = 4;
	ip.ihl = 5;
	ip.tos = 0x10;
	ip.tot_len = htons((uint16_t)total);
	ip.ttl = 64;
	ip.protocol = IPPROTO_UDP;
	ip.saddr = saddr;
	ip.daddr = daddr;
	ip.check = htons(csum_fold(csum_add(0, (const uint8_t *)&ip, sizeof(ip))));
	memset(&udp, 0, sizeof(udp));
	udp.source = htons(68);
	udp.dest = htons(67);
	udp.len = htons((uint16_t)(sizeof(udp) + len));
	/* the pseudo header, then header and payload */
	uint8_t pseudo[12];
	memcpy(pseudo, &saddr, 4);
	memcpy(pseudo + 4, &daddr, 4);
	pseudo[8] = 0;
	pseudo[9] = IPPROTO_UDP;
	memcpy(pseudo + 10, &udp.len, 2);
	uint32_t sum = csum_add(0, pseudo, sizeof(pseudo));
	sum = csum_add(sum, (const uint8_t *)&udp, sizeof(udp));
	sum = csum_add(sum, payload, len);
	uint16_t c = csum_fold(sum);
	udp.check = htons(c ? c : 0xffff);
	memcpy(out, &ip, sizeof(ip));
	memcpy(out + sizeof(ip), &udp, sizeof(udp));
	memcpy(out + sizeof(ip) + sizeof(udp), payload, len);
	return (int)total;
}

int berth_dhcp_unframe(const uint8_t *pkt, size_t len, const uint8_t **ret_payload,
		       size_t *ret_len)
{
	struct iphdr ip;
	struct udphdr udp;

	if (len < sizeof(ip))
		return -EINVAL;
	memcpy(&ip, pkt, sizeof(ip));
	size_t ihl = (size_t)ip.ihl * 4;
	size_t tot = ntohs(ip.tot_len);
	if (ip.version != 4 || ihl < sizeof(ip) || tot < ihl || tot > len ||
	    ip.protocol != IPPROTO_UDP || (ntohs(ip.frag_off) & 0x3fff))
		return -EINVAL;
	if (tot - ihl < sizeof(udp))
		return -EINVAL;
	memcpy(&udp, pkt + ihl, sizeof(udp));
	size_t ulen = ntohs(udp.len);
	if (ntohs(udp.dest) != 68 || ulen < sizeof(udp) || ulen > tot - ihl)
		return -EINVAL;
	/* the UDP checksum is not verified: veth and most NICs hand packet sockets frames whose
	 * checksum is left to offload (as dhclient and udhcpc also accept) */
	*ret_payload = pkt + ihl + sizeof(udp);
	*ret_len = ulen - sizeof(udp);
	return 0;
}
