/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "berth/cni.h"
#include "berth/error.h"
#include "berth/ip.h"
#include "berth/cni-skel.h"

/*
 * host-local IPAM: configuration, the on-disk store and the allocator.
 *
 * Configuration and allocation follow the reference plugin
 * (containernetworking/plugins plugins/ipam/host-local) so existing conflists behave the same:
 * gateway defaults to the first host address, rangeStart to the same address (the iterator
 * skips the gateway), rangeEnd to broadcast-1 (IPv4) or the last address (IPv6); allocation is
 * round robin after last_reserved_ip.<set index>.
 *
 * The store keeps the reference's files (docs/host-local.md): <dataDir>/<network>/<ip> holding
 * "containerID\r\nifname", last_reserved_ip.<n>, and an flock()ed "lock".  Beside them it keeps
 * .berth/index (owner of every IP file) so that ADD and DEL never scan the directory; the index
 * records the directory's inode, mtime and ctime and is rebuilt from the files whenever they no
 * longer match (another tool such as the reference plugin changed the directory).
 */

#define BERTH_IPAM_DEFAULT_DATA_DIR "/var/lib/cni/networks"

struct berth_ipam_range {
	struct berth_ipnet subnet; /* network address (host bits clear) and prefix */
	struct berth_ip start;     /* inclusive */
	struct berth_ip end;       /* inclusive */
	struct berth_ip gateway;
};

struct berth_ipam_rangeset {
	struct berth_ipam_range *ranges;
	size_t n;
};

struct berth_ipam_config {
	char *name;     /* network name */
	char *data_dir; /* <dataDir>/<name> */
	char *resolv_conf;
	struct berth_ipam_rangeset *sets; /* runtimeConfig.ipRanges first, then legacy, then ranges */
	size_t n_sets;
	struct berth_cni_route *routes;
	size_t n_routes;
	struct berth_ip *requested; /* CNI_ARGS IP=, args.cni.ips, runtimeConfig.ips, in that order */
	size_t n_requested;
};

/* The host-local plugin's verbs (net/ipam/plugin.c), for its executable and for plugins that run
 * it in-process (berth_cni_delegate_builtin). */
extern const struct berth_cni_plugin berth_host_local_plugin;

/* Parse and validate the "ipam" section of a full network config (plus the top-level name,
 * cniVersion, runtimeConfig and args) and CNI_ARGS.  Errors are code 7 naming the field or the
 * range ("ipam.ranges[1][0]: ..."), code 4 for a bad CNI_ARGS IP. */
int berth_ipam_config_parse(json_t *config, const char *cni_args, struct berth_ipam_config **ret,
			    berth_error *err);
void berth_ipam_config_free(struct berth_ipam_config *c);

/* For DEL, which must release what an ADD reserved also when the config is one ADD refuses:
 * only <dataDir>/<name> (dataDir when "ipam.dataDir" is a non-empty string, else the default),
 * nothing else validated.  Fails (code 7) only for a name that cannot name a directory. */
int berth_ipam_config_parse_del(json_t *config, struct berth_ipam_config **ret, berth_error *err);
static inline void berth_ipam_config_freep(struct berth_ipam_config **c)
{
	berth_ipam_config_free(*c);
}
#define _cleanup_ipam_config_ __attribute__((cleanup(berth_ipam_config_freep)))

/* Fill a range's defaults and validate it (what is the name used in messages). */
int berth_ipam_range_canonicalize(struct berth_ipam_range *r, const char *what, berth_error *err);
bool berth_ipam_range_contains(const struct berth_ipam_range *r, const struct berth_ip *ip);
/* Index of the range containing ip, or -1. */
int berth_ipam_rangeset_find(const struct berth_ipam_rangeset *s, const struct berth_ip *ip);
/* "start-end,start-end" as the reference prints a range set; buf of at least len bytes. */
char *berth_ipam_rangeset_format(const struct berth_ipam_rangeset *s, char *buf, size_t len);
/* Number of allocatable addresses (gateway excluded), saturating at UINT64_MAX. */
uint64_t berth_ipam_rangeset_size(const struct berth_ipam_rangeset *s);

/* Parse a resolv.conf the way the reference does into dns (nameserver, domain, search,
 * options).  Code 5 when the file cannot be read. */
int berth_ipam_parse_resolv_conf(const char *path, struct berth_cni_dns *dns, berth_error *err);

/* The file name the reference gives an address (Go's net.IP.String()). */
char *berth_ipam_ip_name(const struct berth_ip *ip, char *buf /* BERTH_IP_STRLEN */);

/* ---- the store ---- */

struct berth_ipam_store;

struct berth_ipam_entry {
	char *name;   /* the file name (address text) */
	char *id;     /* owner container ID, NULL when the file's content is not understood */
	char *ifname; /* NULL for files written by old plugins (container ID only) */
};

/* Open <dir>, taking the lock (exclusive).  create: mkdir -p it first; otherwise a missing
 * directory gives -ENOENT without an error message, so callers can treat it as empty. */
int berth_ipam_store_open(const char *dir, bool create, struct berth_ipam_store **ret,
			  berth_error *err);
/* Write the index if it changed, then unlock and free.  Never fails (a failed index write
 * only costs a rebuild next time). */
void berth_ipam_store_close(struct berth_ipam_store *s);
static inline void berth_ipam_store_closep(struct berth_ipam_store **s)
{
	if (*s)
		berth_ipam_store_close(*s);
}
#define _cleanup_ipam_store_ __attribute__((cleanup(berth_ipam_store_closep)))

/* Reserve ip for (id, ifname): 1 reserved, 0 already taken, <0 error.  The file appears
 * atomically with its content. */
int berth_ipam_store_reserve(struct berth_ipam_store *s, const char *id, const char *ifname,
			     const struct berth_ip *ip, berth_error *err);
/* Remove ip's file (rollback and GC). */
int berth_ipam_store_release_ip(struct berth_ipam_store *s, const char *name, berth_error *err);
/* Release what (id, ifname) holds, as the reference: exact owner, or when there is none, files
 * written by old plugins for id alone.  Returns the number released. */
int berth_ipam_store_release_owner(struct berth_ipam_store *s, const char *id, const char *ifname,
				   berth_error *err);
/* Addresses held by (id, ifname), also legacy id-only files (as the reference's GetByID);
 * returns the count, fills ret (caller frees) when non-NULL. */
int berth_ipam_store_find_owner(struct berth_ipam_store *s, const char *id, const char *ifname,
				struct berth_ip **ret);
/* Whether an address is recorded as taken. */
bool berth_ipam_store_taken(struct berth_ipam_store *s, const struct berth_ip *ip);
/* The entries, 0 <= i < count (valid until the next modification; removal reorders). */
size_t berth_ipam_store_count(const struct berth_ipam_store *s);
const struct berth_ipam_entry *berth_ipam_store_entry(const struct berth_ipam_store *s, size_t i);
/* last_reserved_ip.<set>: 0 and *ret on success, -ENOENT when absent or unparsable. */
int berth_ipam_store_last_reserved(struct berth_ipam_store *s, size_t set, struct berth_ip *ret);
int berth_ipam_store_set_last_reserved(struct berth_ipam_store *s, size_t set,
				       const struct berth_ip *ip, berth_error *err);
/* Released files are recycled (docs/host-local.md); trim the pool (GC does) / count it. */
void berth_ipam_store_trim(struct berth_ipam_store *s);
unsigned berth_ipam_store_spares(const struct berth_ipam_store *s);
/* true when the index was rebuilt from the files on open (for tests and debugging). */
bool berth_ipam_store_rebuilt(const struct berth_ipam_store *s);

/* ---- operations (the plugin's verbs) ---- */

/* ADD: one address per range set, requested addresses honoured; nothing is left behind on
 * failure.  Result has ips (no interface), routes and dns. */
int berth_ipam_add(const struct berth_ipam_config *c, const char *id, const char *ifname,
		   const char *version, struct berth_cni_result **ret, berth_error *err);
/* DEL: idempotent. */
int berth_ipam_del(const struct berth_ipam_config *c, const char *id, const char *ifname,
		   berth_error *err);
/* CHECK: (id, ifname) holds an address (code 3 otherwise). */
int berth_ipam_check(const struct berth_ipam_config *c, const char *id, const char *ifname,
		     berth_error *err);
/* STATUS: code 50 naming the first exhausted range set. */
int berth_ipam_status(const struct berth_ipam_config *c, berth_error *err);
/* GC: release every allocation whose owner is not in the list; returns the number freed. */
int berth_ipam_gc(const struct berth_ipam_config *c, const struct berth_cni_attachment *valid,
		  size_t n_valid, berth_error *err);
