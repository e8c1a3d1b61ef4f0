/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* libcni's result cache (core/net/cache.c). */

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#include "berth/chain.h"
#include "berth/error.h"
#include "berth/netconf.h"

#define BERTH_DEFAULT_CACHE_DIR "/var/lib/cni"

/* The result cache (libcni's cniCacheV1 files under <cache_dir>/results). */
struct berth_cache_entry {
	char *path;
	char *network;
	char *container_id;
	char *ifname;
	char *netns;       /* NULL when unknown */
	bool netns_derived; /* not recorded (libcni < 1.1): taken from the result's sandbox */
	json_t *json;      /* the whole entry */
	json_t *result;    /* borrowed from json, may be NULL */
	json_t *cap_args;  /* borrowed, may be NULL */
	char *cni_args;    /* "K=V;K=V" rebuilt from cniArgs, may be NULL */
	char *config;      /* decoded config bytes, may be NULL */
	size_t config_len;
};
void berth_cache_entry_free(struct berth_cache_entry *e);
void berth_cache_entries_free(struct berth_cache_entry *v, size_t n);
const char *berth_core_cache_dir(const struct berth_core *core);
/* Read one entry; -ENOENT when there is none; a corrupt entry is code 6 naming the file. */
int berth_cache_read(const struct berth_core *core, const char *network, const char *container_id,
		     const char *ifname, struct berth_cache_entry *ret, berth_error *err);
int berth_cache_write(const struct berth_core *core, const struct berth_netconf *net,
		      const struct berth_rt *rt, json_t *result, berth_error *err);
int berth_cache_remove(const struct berth_core *core, const char *network,
		       const char *container_id, const char *ifname, berth_error *err);
/* Every readable entry, optionally only those of `network` and/or `container_id` (NULL = any).
 * Corrupt files are skipped (and counted in *ret_corrupt when non-NULL). */
int berth_cache_list(const struct berth_core *core, const char *network, const char *container_id,
		     struct berth_cache_entry **ret, size_t *ret_n, size_t *ret_corrupt,
		     berth_error *err);

/* base64 (standard alphabet, padded), as Go encodes []byte in JSON. */
char *berth_base64_encode(const void *data, size_t len);
int berth_base64_decode(const char *s, char **ret, size_t *ret_len);
