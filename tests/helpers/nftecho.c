// SPDX-License-Identifier: Apache-2.0
/*
 * Test helper: a tiny server that answers every TCP connection / UDP datagram with the
 * address it came from, and a client that prints the answer.  Tests use it to see real
 * packets cross DNAT and to see which source address a masquerade left.
 *   nftecho serve tcp|udp|sctp PORT        (dual-stack, runs until killed)
 *   nftecho ask tcp|udp|sctp ADDR PORT [SRCADDR [SRCPORT]]  (prints the peer the server saw; exit 1 on
 *                                          failure or after 3 s without an answer)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int proto_of(const char *s, int *type)
{
	*type = strcmp(s, "udp") ? SOCK_STREAM : SOCK_DGRAM;
	return !strcmp(s, "udp") ? IPPROTO_UDP : !strcmp(s, "sctp") ? IPPROTO_SCTP : IPPROTO_TCP;
}

static void peer_str(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	const struct sockaddr_in6 *s6 = (const void *)ss;
	const struct sockaddr_in *s4 = (const void *)ss;
	if (ss->ss_family == AF_INET6) {
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
			inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], buf, len);
		else
			inet_ntop(AF_INET6, &s6->sin6_addr, buf, len);
	} else {
		inet_ntop(AF_INET, &s4->sin_addr, buf, len);
	}
	strcat(buf, "\n");
}

static int serve(const char *p, int port)
{
	int type, proto = proto_of(p, &type), zero = 0, one = 1;
	int fd = socket(AF_INET6, type, proto);
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons(port),
				  .sin6_addr = in6addr_any };
	if (fd < 0)
		return perror("socket"), 1;
	setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (void *)&a, sizeof(a)) < 0)
		return perror("bind"), 1;
	if (type == SOCK_STREAM && listen(fd, 64) < 0)
		return perror("listen"), 1;
	for (;;) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		char buf[512], out[INET6_ADDRSTRLEN + 2];
		if (type == SOCK_DGRAM) {
			ssize_t n = recvfrom(fd, buf, sizeof(buf), 0, (void *)&ss, &sl);
			if (n < 0)
				continue;
			peer_str(&ss, out, sizeof(out) - 1);
			sendto(fd, out, strlen(out), 0, (void *)&ss, sl);
		} else {
			int c = accept(fd, (void *)&ss, &sl);
			if (c < 0)
				continue;
			peer_str(&ss, out, sizeof(out) - 1);
			if (write(c, out, strlen(out)) < 0)
				perror("write");
			close(c);
		}
	}
}

static int ask(const char *p, const char *addr, const char *port, const char *src,
	       const char *sport)
{
	int type, proto = proto_of(p, &type);
	struct addrinfo hints = { .ai_socktype = type, .ai_flags = AI_NUMERICHOST }, *ai;
	if (getaddrinfo(addr, port, &hints, &ai))
		return fprintf(stderr, "bad address\n"), 2;
	int fd = socket(ai->ai_family, type, proto), one = 1, r;
	if (fd < 0)
		return perror("socket"), 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (src) {
		struct addrinfo *sa;
		if (getaddrinfo(src, sport ? sport : "0", &hints, &sa))
			return fprintf(stderr, "bad source address\n"), 2;
		r = bind(fd, sa->ai_addr, sa->ai_addrlen);
		freeaddrinfo(sa);
		if (r < 0)
			return perror("bind source"), 1;
	}
	/* non-blocking connect so a dropped SYN fails after the poll below, not after minutes */
	struct timeval tv = { 3, 0 };
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	r = connect(fd, ai->ai_addr, ai->ai_addrlen);
	freeaddrinfo(ai);
	if (r < 0)
		return perror("connect"), 1;
	if (type == SOCK_DGRAM && send(fd, "hi\n", 3, 0) < 0)
		return perror("send"), 1;
	struct pollfd pfd = { fd, POLLIN, 0 };
	if (poll(&pfd, 1, 3000) != 1)
		return fprintf(stderr, "no answer\n"), 1;
	char buf[256];
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return fprintf(stderr, "recv: %s\n", n < 0 ? strerror(errno) : "closed"), 1;
	buf[n] = 0;
	fputs(buf, stdout);
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 4 && !strcmp(argv[1], "serve"))
		return serve(argv[2], atoi(argv[3]));
	if (argc >= 5 && !strcmp(argv[1], "ask"))
		return ask(argv[2], argv[3], argv[4], argc > 5 ? argv[5] : NULL,
			   argc > 6 ? argv[6] : NULL);
	fprintf(stderr, "usage: nftecho serve PROTO PORT | ask PROTO ADDR PORT [SRC]\n");
	return 2;
}
