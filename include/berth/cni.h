/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#include "berth/error.h"
#include "berth/ip.h"

/*
 * CNI result types.  Internally every result is held in the 1.1.0 shape; conversion to and
 * from 0.1.0, 0.2.0, 0.3.0, 0.3.1, 0.4.0, 1.0.0 and 1.1.0 follows libcni (research/cni.md §1.5):
 *  - 0.1.0/0.2.0 ("ip4"/"ip6") up-convert to one IP per family, routes of both families;
 *  - down to 0.3.x/0.4.0: ips[].version synthesised from the address family, interface
 *    mtu/socketPath/pciID dropped, route attributes copied through;
 *  - down to 0.1.0/0.2.0: the first IP of each family, routes by the family of dst (dst and gw
 *    only), fails with code 1 when there is no IP at all;
 *  - "dns" is always printed ({} when empty) up to 1.0.0, as libcni <= 1.1 does; in 1.1.0 it
 *    is omitted when empty, as libcni >= 1.2 (the first that speaks 1.1.0) does.
 */

/* CNI error codes (the spec's well-known codes and the Go skel's 8). */
enum {
	BERTH_CNI_ERR_INCOMPATIBLE_VERSION = BERTH_ERR_INCOMPATIBLE_VERSION,
	BERTH_CNI_ERR_UNSUPPORTED_FIELD = BERTH_ERR_UNSUPPORTED_FIELD,
	BERTH_CNI_ERR_UNKNOWN_CONTAINER = BERTH_ERR_NOT_FOUND,
	BERTH_CNI_ERR_INVALID_ENV = BERTH_ERR_INVALID_ENV,
	BERTH_CNI_ERR_IO = BERTH_ERR_IO,
	BERTH_CNI_ERR_DECODE = BERTH_ERR_DECODE,
	BERTH_CNI_ERR_INVALID_CONFIG = BERTH_ERR_INVALID_CONFIG,
	BERTH_CNI_ERR_TRY_AGAIN = BERTH_ERR_TRY_AGAIN,
	BERTH_CNI_ERR_STATUS_NOT_READY = 50, /* STATUS: cannot ADD */
	BERTH_CNI_ERR_STATUS_UNAVAILABLE = 51,
	BERTH_CNI_ERR_INTERNAL = BERTH_ERR_INTERNAL,
};

#define BERTH_CNI_VERSION_LATEST "1.1.0"
extern const char *const berth_cni_all_versions[]; /* "0.1.0" ... "1.1.0", NULL-terminated */

/* Compare two semver strings "a.b.c": <0, 0, >0.  An unparsable version compares lowest. */
int berth_cni_version_cmp(const char *a, const char *b);
/* One of berth_cni_all_versions. */
bool berth_cni_version_valid(const char *v);

struct berth_cni_interface {
	char *name;
	char *mac;
	char *sandbox;
	int mtu;           /* 0 = unset (1.1.0) */
	char *socket_path; /* 1.1.0 */
	char *pci_id;      /* 1.1.0 */
};

struct berth_cni_ipconfig {
	struct berth_ipnet address;
	struct berth_ip gateway; /* family 0 = none */
	int interface;           /* index into interfaces, -1 = none */
};

struct berth_cni_route {
	struct berth_ipnet dst;
	struct berth_ip gw;          /* family 0 = none */
	int mtu, advmss, priority;   /* 1.1.0; 0 = unset */
	int table, scope;            /* 1.1.0; -1 = unset (Go *int: 0 is a value) */
};

struct berth_cni_dns {
	char **nameservers; /* NULL-terminated or NULL */
	char *domain;
	char **search;
	char **options;
};

struct berth_cni_result {
	char *cni_version;
	struct berth_cni_interface *interfaces;
	size_t n_interfaces;
	struct berth_cni_ipconfig *ips;
	size_t n_ips;
	struct berth_cni_route *routes;
	size_t n_routes;
	struct berth_cni_dns dns;
};

/* version may be NULL (= latest).  NULL on ENOMEM. */
struct berth_cni_result *berth_cni_result_new(const char *version);
void berth_cni_result_free(struct berth_cni_result *r);
static inline void berth_cni_result_freep(struct berth_cni_result **r)
{
	berth_cni_result_free(*r);
}
#define _cleanup_cni_result_ __attribute__((cleanup(berth_cni_result_freep)))
struct berth_cni_result *berth_cni_result_copy(const struct berth_cni_result *r);

/* Does a config's "dns" object set anything (a non-empty domain, or a nameservers, search or
 * options list)?  The interface plugins then return it in their result. */
bool berth_cni_dns_set(json_t *dns);
/* Replace r's DNS with a config's "dns" object (parsed as a result of `version` would be);
 * the plugins return the config's own DNS instead of IPAM's, as the reference plugins do. */
int berth_cni_result_set_dns(struct berth_cni_result *r, const char *version, json_t *dns,
			     berth_error *err);

/* Append; return the index, or -ENOMEM. Strings are copied (NULL and "" mean unset).
 * A new route has table = scope = -1 and the other attributes 0. */
int berth_cni_result_add_interface(struct berth_cni_result *r, const char *name, const char *mac,
				   const char *sandbox);
int berth_cni_result_add_ip(struct berth_cni_result *r, const struct berth_ipnet *addr,
			    const struct berth_ip *gw, int interface);
int berth_cni_result_add_route(struct berth_cni_result *r, const struct berth_ipnet *dst,
			       const struct berth_ip *gw);
/* Append copies of n routes (1.1.0 attributes included), of n IPs (gateway too, when it has a
 * family) on `interface`.  0 or -ENOMEM. */
int berth_cni_result_add_routes(struct berth_cni_result *r, const struct berth_cni_route *routes,
				size_t n);
int berth_cni_result_add_ips(struct berth_cni_result *r, const struct berth_cni_ipconfig *ips,
			     size_t n, int interface);
/* An IPAM result's IPs (on interface 0) and routes, appended to r: what a plugin that puts one
 * interface into the container returns.  An IPAM result without an IP is the reference's
 * "IPAM plugin returned missing IP config" (code 999). */
int berth_cni_result_add_ipam(struct berth_cni_result *r, const struct berth_cni_result *ipam,
			      berth_error *err);
/* Replace a string field (e.g. &r->interfaces[i].mac); 0 or -ENOMEM. */
int berth_cni_set_str(char **field, const char *value);
/* Index of the interface called `name` (with sandbox `sandbox` when non-NULL), or -1. */
int berth_cni_result_find_interface(const struct berth_cni_result *r, const char *name,
				    const char *sandbox);

/* Parse a result of any supported version (the version is taken from j's "cniVersion", or
 * `version` when j has none, or "0.1.0" when both are absent, as libcni does).  An unknown
 * version is code 1; a missing or malformed field is BERTH_CNI_ERR_DECODE naming it
 * ("ips[0].address: invalid CIDR address: x").  Unknown keys are ignored, null is "absent".
 * The parsed result keeps the version it was written in (r->cni_version). */
int berth_cni_result_from_json(json_t *j, const char *version, struct berth_cni_result **ret,
			       berth_error *err);
/* Render in `version` (NULL = r->cni_version), keys in the order Go prints them. */
int berth_cni_result_to_json(const struct berth_cni_result *r, const char *version, json_t **ret,
			     berth_error *err);

/* CNI_ARGS: "K=V;K=V", parsed as Go's types.LoadArgs does: keys are case-sensitive, a pair
 * that is not exactly K=V is an error, "IgnoreUnknown" (1/true/0/false, any case) is always
 * known, and unknown keys are an error unless IgnoreUnknown is true.  `known` is a
 * NULL-terminated list of keys the plugin reads; values land in ret_values (same order, NULL
 * when absent; the last one wins; caller frees each).  Errors are code 4 (CNI_ARGS is an
 * environment variable) with Go's message text ("ARGS: unknown args [\"A=b\"]"). */
int berth_cni_args_parse(const char *args, const char *const *known, char **ret_values,
			 berth_error *err);

/* Error JSON {"cniVersion","code","msg","details"}; cniVersion omitted when NULL, details when
 * empty; code 0 becomes 999 (internal), as Go's skel does for untyped errors. */
json_t *berth_cni_error_json(const berth_error *err, const char *version);
