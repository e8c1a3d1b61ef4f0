// SPDX-License-Identifier: Apache-2.0
/*
 * tapio NAME [mq|sq] [ETHERTYPE]: attach to the existing tap NAME (in the caller's netns) as a VM monitor would,
 * and print the first frame the kernel sends out of it, within 5 s, as
 * "ETHERTYPE SRC-MAC DST-MAC" (e.g. "0806 02:11:22:33:44:55 ff:ff:ff:ff:ff:ff"), or the first of ETHERTYPE (hex, e.g. 0806).  "mq" attaches
 * with IFF_MULTI_QUEUE (a multi-queue tap refuses other attachers).  Exit 1 on error or timeout.
 * Tests use it to see a packet leave through a tap the tap plugin made.
 */
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct ifreq ifr = { 0 };
	unsigned char buf[2048];
	struct pollfd p;
	ssize_t n;
	int fd;

	if (argc < 2 || strlen(argv[1]) >= IFNAMSIZ) {
		fprintf(stderr, "usage: tapio NAME [mq|sq] [ETHERTYPE]\n");
		return 2;
	}
	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		perror("/dev/net/tun");
		return 1;
	}
	memcpy(ifr.ifr_name, argv[1], strlen(argv[1]));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	if (argc > 2 && strcmp(argv[2], "mq") == 0)
		ifr.ifr_flags |= IFF_MULTI_QUEUE;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		perror("TUNSETIFF");
		return 1;
	}
	/* ready: the carrier is up from here */
	fprintf(stderr, "attached\n");
	p = (struct pollfd){ .fd = fd, .events = POLLIN };
	for (;;) {
		if (poll(&p, 1, 5000) <= 0) {
			fprintf(stderr, "no frame\n");
			return 1;
		}
		n = read(fd, buf, sizeof(buf));
		if (n < 14)
			continue;
		if (argc > 3 && strtoul(argv[3], NULL, 16) != (unsigned long)(buf[12] << 8 | buf[13]))
			continue;
		printf("%02x%02x %02x:%02x:%02x:%02x:%02x:%02x %02x:%02x:%02x:%02x:%02x:%02x\n",
		       buf[12], buf[13], buf[6], buf[7], buf[8], buf[9], buf[10], buf[11], buf[0],
		       buf[1], buf[2], buf[3], buf[4], buf[5]);
		return 0;
	}
}
