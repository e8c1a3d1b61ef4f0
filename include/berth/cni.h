/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#include "berth/error.h"
#include "berth/ip.h"

/*
 * CNI result types.  Internally every result is held in the 1.1.0 shape; conversion to and
 * from 0.3.0, 0.3.1, 0.4.0, 1.0.0 and 1.1.0 follows libcni (research/cni.md §1.5).
 */

#define BERTH_CNI_VERSION_LATEST "1.1.0"
extern const char *const berth_cni_all_versions[]; /* "0.1.0" ... "1.1.0", NULL-terminated */

/* Compare two semver strings "a.b.c": <0, 0, >0; -EINVAL-like large negative on parse error is
 * avoided: an unparsable version compares lowest. */
int berth_cni_version_cmp(const char *a, const char *b);
bool berth_cni_version_valid(const char *v);

struct berth_cni_interface {
	char *name;
	char *mac;
	char *sandbox;
	int mtu; /* 0 = unset (1.1.0) */
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
	struct berth_ip gw; /* family 0 = none */
	int mtu, advmss, priority, table, scope; /* 1.1.0; 0 = unset (scope: -1 = unset) */
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

struct berth_cni_result *berth_cni_result_new(const char *version);
void berth_cni_result_free(struct berth_cni_result *r);
static inline void berth_cni_result_freep(struct berth_cni_result **r)
{
	berth_cni_result_free(*r);
}
#define _cleanup_cni_result_ __attribute__((cleanup(berth_cni_result_freep)))
struct berth_cni_result *berth_cni_result_copy(const struct berth_cni_result *r);

/* Append; return the index, or -ENOMEM. Strings are copied. */
int berth_cni_result_add_interface(struct berth_cni_result *r, const char *name, const char *mac,
				   const char *sandbox);
int berth_cni_result_add_ip(struct berth_cni_result *r, const struct berth_ipnet *addr,
			    const struct berth_ip *gw, int interface);
int berth_cni_result_add_route(struct berth_cni_result *r, const struct berth_ipnet *dst,
			       const struct berth_ip *gw);

/* Parse a result of any supported version (the version is taken from j's "cniVersion", or
 * `version` when j has none).  Errors are BERTH_CNI_ERR_DECODE naming the field. */
int berth_cni_result_from_json(json_t *j, const char *version, struct berth_cni_result **ret,
			       berth_error *err);
/* Render in `version` (down-converting as libcni does; 0.1.0/0.2.0 keep the first IP of each
 * family and fail with code 1 when there is none). */
int berth_cni_result_to_json(const struct berth_cni_result *r, const char *version, json_t **ret,
			     berth_error *err);

/* CNI_ARGS: "K=V;K=V". Unknown keys are an error (code 2... as Go: code 7? see net/args.c)
 * unless IgnoreUnknown is 1/true.  `known` is a NULL-terminated list of keys the plugin reads;
 * values land in ret_values (same order, NULL when absent; caller frees each). */
int berth_cni_args_parse(const char *args, const char *const *known, char **ret_values,
			 berth_error *err);

/* Error JSON {"cniVersion","code","msg","details"}; cniVersion omitted when NULL. */
json_t *berth_cni_error_json(const berth_error *err, const char *version);
