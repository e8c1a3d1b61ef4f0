// SPDX-License-Identifier: Apache-2.0
/*
 * Where the per-attachment state files live ($BERTH_NFT_STATE_DIR, default /run/berth/nft,
 * then /<table>/<kind>/), one file per owner, and the lock that orders changes to them.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "berth/file.h"
#include "berth/nft.h"
#include "nft-internal.h"

static const char *state_base(void)
{
	const char *d = getenv("BERTH_NFT_STATE_DIR");
	return d && *d ? d : "/run/berth/nft";
}

int berth_nft_kind_dir(const char *kind, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/%s/%s", state_base(), berth_nft_table(), kind);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static uint64_t fnv1a(uint64_t h, const char *s)
{
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ULL;
	}
	h ^= 0xff; /* separator */
	h *= 0x100000001b3ULL;
	return h;
}

int berth_nft_state_path(const char *kind, const struct berth_nft_owner *o, char *buf, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	h = fnv1a(fnv1a(fnv1a(h, o->network), o->container_id), o->ifname);
	int n = snprintf(buf, len, "%s/%s/%s/%016llx.json", state_base(), berth_nft_table(), kind,
			 (unsigned long long)h);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int berth_nft_lock_state(bool exclusive, int *ret_fd, berth_error *err)
{
	char dir[4096], path[4200];
	snprintf(dir, sizeof(dir), "%s/%s", state_base(), berth_nft_table());
	int r = berth_mkdir_p(dir, 0700, err);
	if (r < 0)
		return r;
	snprintf(path, sizeof(path), "%s/lock", dir);
	return berth_lock_path(path, exclusive, ret_fd, err);
}
