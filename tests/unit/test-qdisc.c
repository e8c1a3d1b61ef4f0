// SPDX-License-Identifier: Apache-2.0
/* The bandwidth plugin's arithmetic and names, against values the reference plugin produced
 * (tests/integration/42-bandwidth.sh compares whole kernel states). */
#include <errno.h>
#include <net/if.h>
#include <string.h>

#include "berth/qdisc.h"
#include "tap.h"

int main(void)
{
	struct berth_tbf t;
	berth_error err = { 0 };
	char name[IF_NAMESIZE];

	/* the reference gave bwp82e64356b3c9 for network "bwnet", container "abc" */
	berth_qdisc_ifb_name("bwnet", "abc", name);
	is_str(name, "bwp82e64356b3c9", "ifb name: bwp + 12 hex digits of SHA-512(network+id)");
	is_int(strlen(name), 15, "ifb name fills IFNAMSIZ-1");

	ok(berth_tbf_from_bits(8000000, 80000, &t, &err) == 0, "8 Mbit/s, 80 kbit burst");
	is_int(t.rate, 1000000, "rate in bytes/s");
	is_int(t.limit, 35000, "limit = rate * 25 ms + burst bytes");
	is_int(berth_tbf_burst_bytes(&t), 10000, "the buffer stands for 10000 bytes");
	ok(berth_tbf_from_bits(40000000000ULL, 400000000, &t, &err) == 0 && t.rate == 5000000000ULL,
	   "40 Gbit/s: a 64-bit rate");
	ok(berth_tbf_from_bits(7, 80000, &t, &err) == -EINVAL && err.code == 7,
	   "under a byte per second: code 7");
	ok(berth_tbf_from_bits(8000, 7, &t, &err) == -EINVAL, "a burst under a byte: refused");
	ok(berth_tbf_from_bits(8000000, 34359738360ULL, &t, &err) == -ERANGE &&
		   strstr(err.msg, "4GB"),
	   "a burst of 4 GB: the reference's error");
	ok(berth_tbf_from_bits(8, 8000000000ULL, &t, &err) == 0 && t.buffer == UINT32_MAX,
	   "a bucket longer than the kernel's 32-bit ticks: capped at the longest, not wrapped");
	ok(berth_tbf_from_bits(8000000, 4294967295ULL, &t, &err) == 0 && t.rate == 1000000 &&
		   t.buffer >= 536870911u,
	   "8 Mbit/s with the 2^32-1 bit burst of Kubernetes' CRI: capped, accepted");
	return done_testing();
}
