// SPDX-License-Identifier: Apache-2.0
/*
 * dnsname benchmark driver (bench/dnsname.sh runs it), one call per invocation:
 *
 *   dnsname-bench add PLUGIN CONFIG_FILE SERVER NAME IP   ->  "ADD_MS RESOLVE_MS"
 *   dnsname-bench del PLUGIN CONFIG_FILE                  ->  "DEL_MS"
 *
 * The CNI_* variables come from the environment.  add: runs the plugin's ADD with the config on
 * stdin (fork+exec+wait, CLOCK_MONOTONIC), then asks SERVER:53 for NAME (type A) over UDP again
 * and again (a new question as soon as an answer does not hold IP, or 1 ms without an answer;
 * all with one id, so that a late answer counts)
 * until an answer holds IP.  ADD_MS is the plugin call; RESOLVE_MS runs from the start of the
 * ADD to that first answer: how long after a runtime starts ADD a peer finds the new name,
 * "-" when it did not within 2 s (the name is lost until the server reloads for another
 * reason).  A plugin that fails exits 1: never a sample.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int run_plugin(const char *plugin, const char *config)
{
	int fd = open(config, O_RDONLY | O_CLOEXEC), status;
	pid_t pid;

	if (fd < 0) {
		perror(config);
		return -1;
	}
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int nul = open("/dev/null", O_WRONLY);

		dup2(fd, 0);
		if (nul >= 0)
			dup2(nul, 1);
		execl(plugin, plugin, (char *)NULL);
		_exit(127);
	}
	close(fd);
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "%s %s failed (status %d)\n", plugin, getenv("CNI_COMMAND"),
			WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		return -1;
	}
	return 0;
}

/* The question for NAME, type A; returns its length. */
static size_t build_query(uint8_t *q, size_t cap, const char *name, uint16_t id)
{
	size_t o = 12;

	memset(q, 0, 12);
	q[0] = (uint8_t)(id >> 8);
	q[1] = (uint8_t)id;
	q[2] = 0x01;
	q[5] = 1;
	while (*name && o + 70 < cap) {
		const char *dot = strchrnul(name, '.');
		size_t l = (size_t)(dot - name);

		q[o++] = (uint8_t)l;
		memcpy(q + o, name, l);
		o += l;
		name = *dot ? dot + 1 : dot;
	}
	q[o++] = 0;
	q[o++] = 0;
	q[o++] = 1;
	q[o++] = 0;
	q[o++] = 1;
	return o;
}

/* 1 when the answer to id holds addr as an A record, 0 otherwise. */
static int holds(const uint8_t *p, size_t n, uint16_t id, size_t qlen, const struct in_addr *addr)
{
	size_t off = qlen;
	unsigned an;

	if (n < 12 || ((p[0] << 8) | p[1]) != id || (p[3] & 0x0f))
		return 0;
	an = (unsigned)((p[6] << 8) | p[7]);
	for (unsigned i = 0; i < an; i++) {
		while (off < n && p[off] && (p[off] & 0xc0) != 0xc0)
			off += 1 + p[off];
		off += off < n && (p[off] & 0xc0) == 0xc0 ? 2 : 1;
		if (off + 10 > n)
			return 0;
		uint16_t type = (uint16_t)((p[off] << 8) | p[off + 1]);
		uint16_t rdlen = (uint16_t)((p[off + 8] << 8) | p[off + 9]);
		off += 10;
		if (off + rdlen > n)
			return 0;
		if (type == 1 && rdlen == 4 && memcmp(p + off, addr, 4) == 0)
			return 1;
		off += rdlen;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(53) };
	struct in_addr want;
	uint8_t q[512], a[1500];
	double t0, t1, t2 = 0;
	size_t qlen;
	uint16_t id = 1;
	int fd;

	if (argc == 4 && strcmp(argv[1], "del") == 0) {
		t0 = now_ms();
		if (run_plugin(argv[2], argv[3]) < 0)
			return 1;
		printf("%.3f\n", now_ms() - t0);
		return 0;
	}
	if (argc != 7 || strcmp(argv[1], "add") != 0 || inet_pton(AF_INET, argv[4], &sa.sin_addr) != 1 ||
	    inet_pton(AF_INET, argv[6], &want) != 1) {
		fprintf(stderr, "usage: %s add PLUGIN CONFIG SERVER NAME IP | del PLUGIN CONFIG\n",
			argv[0]);
		return 2;
	}
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("socket");
		return 1;
	}
	t0 = now_ms();
	if (run_plugin(argv[2], argv[3]) < 0)
		return 1;
	t1 = now_ms();
	while (now_ms() - t1 < 2000) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t n;

		/* one id for every question: on a loaded machine an answer can come after the
		 * next question went out, and it still tells whether the name resolves */
		qlen = build_query(q, sizeof(q), argv[5], id);
		if (send(fd, q, qlen, 0) < 0 && errno != ECONNREFUSED) {
			perror("send");
			return 1;
		}
		if (poll(&pfd, 1, 1) <= 0)
			continue;
		n = recv(fd, a, sizeof(a), 0);
		if (n > 0 && holds(a, (size_t)n, id, qlen, &want)) {
			t2 = now_ms();
			break;
		}
		/* not yet: do not flood the server that is reloading */
		nanosleep(&(struct timespec){ 0, 200000 }, NULL);
	}
	if (t2 == 0) {
		fprintf(stderr, "%s did not resolve to %s within 2 s\n", argv[5], argv[6]);
		printf("%.3f -\n", t1 - t0);
		return 0;
	}
	printf("%.3f %.3f\n", t1 - t0, t2 - t0);
	return 0;
}
