/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#include "berth/cni.h"
#include "berth/error.h"

/*
 * The runtime core: network configuration lists, plugin chains, the result cache.
 * It is the C counterpart of libcni: everything it does is delegated to plugin executables,
 * and what it keeps on disk (the result cache) is libcni's format, so that podman/containerd
 * tooling and ours read each other's entries.
 */

#define BERTH_DEFAULT_CONFIG_DIR "/etc/cni/net.d"
#define BERTH_DEFAULT_CACHE_DIR "/var/lib/cni"
#define BERTH_DEFAULT_NETWORK "berth"
#define BERTH_DEFAULT_TIMEOUT_MS 120000

/* One plugin of a list: its type and its config object (a reference into the list's JSON). */
struct berth_netconf_plugin {
	const char *type;
	json_t *conf;
};

/* A network configuration list, loaded from a .conflist (or a single .conf up-converted). */
struct berth_netconf {
	char *name;
	char *cni_version; /* the negotiated version (highest of cniVersion and cniVersions) */
	bool disable_check;
	bool disable_gc;
	char *source;      /* file it came from, or "<embedded>" / "<cache>" */
	char *bytes;       /* the exact bytes, as libcni caches them */
	size_t len;
	json_t *json;      /* the whole list */
	struct berth_netconf_plugin *plugins;
	size_t n_plugins;
};

void berth_netconf_free(struct berth_netconf *c);
static inline void berth_netconf_freep(struct berth_netconf **c)
{
	if (*c)
		berth_netconf_free(*c);
}
#define _cleanup_netconf_ __attribute__((cleanup(berth_netconf_freep)))

/* Parse and validate a conflist (or, when `single` is true, one plugin .conf).  `source` names
 * the origin in errors ("<file>: <field>: problem"); code 7 for an invalid config, 6 for JSON. */
int berth_netconf_parse(const char *bytes, size_t len, const char *source, bool single,
			struct berth_netconf **ret, berth_error *err);
int berth_netconf_load_file(const char *path, struct berth_netconf **ret, berth_error *err);
/* The network `name` from dir: .conflist, .conf and .json files in file-name order, conflists
 * first as libcni does; a name defined twice is an error naming both files.  The embedded
 * default network answers to BERTH_DEFAULT_NETWORK when no file defines it.  -ENOENT with a
 * message when there is no such network. */
int berth_netconf_find(const char *dir, const char *name, struct berth_netconf **ret,
		       berth_error *err);
/* The embedded default network (bridge berth0, 10.213.0.0/24). */
int berth_netconf_default(struct berth_netconf **ret, berth_error *err);

/* Every file of dir, parsed; files that fail to parse are reported in ret_errors (a JSON array
 * of {file, error}).  The embedded default is appended when no file defines it. */
int berth_netconf_list(const char *dir, struct berth_netconf ***ret, size_t *ret_n,
		       json_t **ret_errors, berth_error *err);
void berth_netconf_list_free(struct berth_netconf **v, size_t n);

/* Where and how plugins run. */
struct berth_core {
	const char *plugin_path; /* ':'-separated; NULL = berth_core_default_plugin_path() */
	const char *cache_dir;   /* base dir; results/ lives under it; NULL = /var/lib/cni */
	int timeout_ms;          /* per plugin call; 0 = no limit */
	bool skip_validate;      /* do not run VERSION on each plugin before use */
};
/* BERTH_CNI_BIN_DIR then /opt/cni/bin. */
const char *berth_core_default_plugin_path(void);

/* One attachment: a container's interface on a network. */
struct berth_rt {
	const char *container_id;
	const char *netns;  /* may be NULL/"" for DEL and GC */
	const char *ifname;
	const char *args;   /* CNI_ARGS "K=V;K=V", may be NULL */
	json_t *cap_args;   /* capability args {"portMappings":[...], ...}, may be NULL */
};

/* ADD the chain in order; on success the cache entry is written and the final result (in the
 * list's version) returned.  On failure every plugin that ran is DELeted in reverse. */
int berth_net_add(const struct berth_core *core, const struct berth_netconf *net,
		  const struct berth_rt *rt, json_t **ret_result, berth_error *err);
/* DEL in reverse with the cached result as prevResult; the entry is removed when every
 * plugin succeeded.  Missing cache entries are fine (DEL is idempotent). */
int berth_net_del(const struct berth_core *core, const struct berth_netconf *net,
		  const struct berth_rt *rt, berth_error *err);
/* CHECK (lists >= 0.4.0, unless disableCheck) against the cached result. */
int berth_net_check(const struct berth_core *core, const struct berth_netconf *net,
		    const struct berth_rt *rt, berth_error *err);
/* STATUS on every plugin (lists >= 1.1.0; older ones are reported ready). */
int berth_net_status(const struct berth_core *core, const struct berth_netconf *net,
		     berth_error *err);

struct berth_attachment {
	char *container_id;
	char *ifname;
};
/* GC as libcni: DEL every cached attachment of the network not in `valid`, then GC on each
 * plugin (>= 1.1.0, unless disableGC) with cni.dev/valid-attachments.  The number of
 * attachments deleted goes to *ret_deleted. */
int berth_net_gc(const struct berth_core *core, const struct berth_netconf *net,
		 const struct berth_attachment *valid, size_t n_valid, size_t *ret_deleted,
		 berth_error *err);
/* VERSION on every plugin of the list: each must exist and list the list's version. */
int berth_net_validate(const struct berth_core *core, const struct berth_netconf *net,
		       berth_error *err);

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

/* Parse "HOST:CONTAINER[/proto]" or "IP:HOST:CONTAINER[/proto]" into a portMappings entry. */
int berth_parse_publish(const char *spec, json_t **ret, berth_error *err);
