/* SPDX-License-Identifier: Apache-2.0 */
/* static's config: ipam.addresses/routes/dns, CNI_ARGS IP/GATEWAY, args.cni.ips and
 * runtimeConfig.ips, in the reference's order and with its messages (docs/static.md). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "berth/cleanup.h"
#include "berth/cni.h"
#include "berth/json.h"
#include "static-internal.h"

#define MAX_WHAT 64

void static_conf_done(struct static_conf *c)
{
	free(c->addrs);
	berth_cni_result_free(c->res);
}

static int nomem(berth_error *err)
{
	return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
}

/* Go's canonicalizeIP on a net.IPNet: an IPv4-mapped IPv6 address becomes IPv4, its 128-bit
 * mask read as the last 32 bits (so "::ffff:10.0.0.5/120" is 10.0.0.5/24). */
static void canonicalize(struct berth_ipnet *n)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	if (n->ip.family != AF_INET6 || memcmp(n->ip.addr, mapped, sizeof(mapped)) != 0)
		return;
	memmove(n->ip.addr, n->ip.addr + 12, 4);
	memset(n->ip.addr + 4, 0, 12);
	n->ip.family = AF_INET;
	n->prefix = n->prefix > 96 ? n->prefix - 96 : 0;
}

static int push_addr(struct static_conf *c, const struct static_addr *a, berth_error *err)
{
	struct static_addr *v = realloc(c->addrs, (c->n + 1) * sizeof(*v));

	if (!v)
		return nomem(err);
	c->addrs = v;
	c->addrs[c->n++] = *a;
	return 0;
}

/* An array of strings (null entries are "", as Go decodes them) or null/absent (*ret NULL). */
static int get_strings(json_t *obj, const char *what, const char *key, json_t **ret,
		       berth_error *err)
{
	json_t *a = NULL, *v;
	size_t i;
	int r;

	*ret = NULL;
	if ((r = berth_json_get_array(obj, what, key, false, &a, err)) < 0 || !a)
		return r;
	json_array_foreach(a, i, v)
		if (!json_is_string(v) && !json_is_null(v))
			return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
					       "%s.%s[%zu] must be a string", what, key, i);
	*ret = a;
	return 0;
}

static const char *str_at(json_t *a, size_t i)
{
	json_t *v = json_array_get(a, i);
	return json_is_string(v) ? json_string_value(v) : "";
}

/* args.cni.ips / runtimeConfig.ips, when present and non-empty, replace every address. */
static int replace_addrs(struct static_conf *c, json_t *ips, berth_error *err)
{
	size_t n = json_array_size(ips);
	int r;

	if (!n)
		return 0;
	c->n = 0;
	for (size_t i = 0; i < n; i++) {
		struct static_addr a = { .parsed = true };
		const char *s = str_at(ips, i);

		if (berth_ipnet_parse(s, &a.net) < 0)
			return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
					       "an entry in the 'ips' field is NOT in CIDR "
					       "notation, got: '%s'",
					       s);
		if ((r = push_addr(c, &a, err)) < 0)
			return r;
	}
	return 0;
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* CNI_ARGS IP= and GATEWAY= (code 4: they come from the environment). */
static int env_addrs(struct static_conf *c, const char *args, berth_error *err)
{
	static const char *const known[] = { "IP", "GATEWAY", NULL };
	char *vals[2] = { NULL, NULL };
	size_t first = c->n;
	int r;

	if ((r = berth_cni_args_parse(args, known, vals, err)) < 0)
		return r;
	if (vals[0] && *vals[0]) {
		char *item, *p = vals[0];

		/* strsep, not strtok: an empty item ("a/24,") is an error, as in Go */
		while ((item = strsep(&p, ",")) && r >= 0) {
			struct static_addr a = { .parsed = true };
			char *s = trim(item);

			if (berth_ipnet_parse(s, &a.net) < 0)
				r = berth_error_set(err, BERTH_CNI_ERR_INVALID_ENV, EINVAL,
						    "the 'ip' field is expected to be in CIDR "
						    "notation, got: '%s'",
						    s);
			else
				r = push_addr(c, &a, err);
		}
	}
	if (r >= 0 && vals[1] && *vals[1]) {
		char *item, *p = vals[1];

		while ((item = strsep(&p, ",")) && r >= 0) {
			_cleanup_free_ char *raw = strdup(item);
			struct berth_ip gw;

			if (!raw) {
				r = nomem(err);
				break;
			}
			if (berth_ip_parse(trim(item), &gw) < 0) {
				r = berth_error_set(err, BERTH_CNI_ERR_INVALID_ENV, EINVAL,
						    "invalid gateway address: %s", raw);
				break;
			}
			/* only the CNI_ARGS addresses: those of the config are not parsed yet at
			 * this point in the reference, so no gateway of GATEWAY reaches them */
			for (size_t i = first; i < c->n; i++) {
				struct berth_ipnet n = c->addrs[i].net;

				canonicalize(&n);
				if (berth_ipnet_contains(&n, &gw))
					c->addrs[i].gw = gw;
			}
		}
	}
	free(vals[0]);
	free(vals[1]);
	return r < 0 ? r : 0;
}

static int parse_route(json_t *v, const char *w, struct berth_cni_result *res, berth_error *err)
{
	const char *dst = NULL, *gw = NULL;
	struct berth_ipnet d;
	struct berth_ip g = { 0 };
	int64_t n;
	int r, i;

	if (!json_is_object(v))
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "%s must be an object", w);
	if ((r = berth_json_get_string(v, w, "dst", true, &dst, err)) < 0)
		return r;
	if (berth_ipnet_parse(dst, &d) < 0)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "invalid CIDR address: %s", dst);
	if ((r = berth_json_get_string(v, w, "gw", false, &gw, err)) < 0)
		return r;
	if (gw && *gw && berth_ip_parse(gw, &g) < 0)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "invalid IP address: %s", gw);
	if ((i = berth_cni_result_add_route(res, &d, &g)) < 0)
		return nomem(err);
	/* the 1.1.0 route attributes (libcni >= 1.2's types.Route) */
#define ROUTE_INT(key, field, lo)                                                                  \
	do {                                                                                       \
		n = INT64_MIN;                                                                     \
		if ((r = berth_json_get_int(v, w, key, false, lo, INT32_MAX, &n, err)) < 0)        \
			return r;                                                                  \
		if (n != INT64_MIN)                                                                \
			res->routes[i].field = (int)n;                                             \
	} while (0)
	ROUTE_INT("mtu", mtu, 0);
	ROUTE_INT("advmss", advmss, 0);
	ROUTE_INT("priority", priority, 0);
	ROUTE_INT("table", table, 0);
	ROUTE_INT("scope", scope, 0);
#undef ROUTE_INT
	return 0;
}

static int strv_from(json_t *a, char ***ret, berth_error *err)
{
	size_t n = json_array_size(a);
	char **v;

	if (!a || !n)
		return 0;
	if (!(v = calloc(n + 1, sizeof(*v))))
		return nomem(err);
	*ret = v;
	for (size_t i = 0; i < n; i++)
		if (!(v[i] = strdup(str_at(a, i))))
			return nomem(err);
	return 0;
}

static int parse_dns(json_t *ipam, struct berth_cni_dns *dns, berth_error *err)
{
	json_t *d = NULL, *ns, *search, *opts;
	const char *domain = NULL;
	int r;

	if ((r = berth_json_get_object(ipam, "ipam", "dns", false, &d, err)) < 0 || !d)
		return r;
	if ((r = get_strings(d, "ipam.dns", "nameservers", &ns, err)) < 0 ||
	    (r = berth_json_get_string(d, "ipam.dns", "domain", false, &domain, err)) < 0 ||
	    (r = get_strings(d, "ipam.dns", "search", &search, err)) < 0 ||
	    (r = get_strings(d, "ipam.dns", "options", &opts, err)) < 0)
		return r;
	if (domain && *domain && !(dns->domain = strdup(domain)))
		return nomem(err);
	if ((r = strv_from(ns, &dns->nameservers, err)) < 0 ||
	    (r = strv_from(search, &dns->search, err)) < 0 ||
	    (r = strv_from(opts, &dns->options, err)) < 0)
		return r;
	return 0;
}

/* An object or null/absent (*ret NULL). */
static int get_obj(json_t *obj, const char *what, const char *key, json_t **ret, berth_error *err)
{
	*ret = NULL;
	if (!obj)
		return 0;
	return berth_json_get_object(obj, what, key, false, ret, err);
}

int static_conf_parse(json_t *cfg, const char *version, const char *cni_args,
		      struct static_conf *c, berth_error *err)
{
	json_t *ipam = NULL, *arr = NULL, *v, *rc, *args, *acni;
	json_t *rc_ips = NULL, *args_ips = NULL;
	int r, n4 = 0, n6 = 0;
	size_t i;

	memset(c, 0, sizeof(*c));
	if (!(c->res = berth_cni_result_new(version)))
		return nomem(err);

	/* every type error first, as Go's json.Unmarshal reports them before anything else */
	if ((r = berth_json_get_object(cfg, NULL, "ipam", false, &ipam, err)) < 0)
		return r;
	if ((r = get_obj(cfg, NULL, "runtimeConfig", &rc, err)) < 0 ||
	    (r = get_strings(rc, "runtimeConfig", "ips", &rc_ips, err)) < 0 ||
	    (r = get_obj(cfg, NULL, "args", &args, err)) < 0 ||
	    (r = get_obj(args, "args", "cni", &acni, err)) < 0 ||
	    (r = get_strings(acni, "args.cni", "ips", &args_ips, err)) < 0)
		return r;
	if (!ipam)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "IPAM config missing 'ipam' key");
	if ((r = berth_json_get_array(ipam, "ipam", "addresses", false, &arr, err)) < 0)
		return r;
	json_array_foreach(arr, i, v) {
		struct static_addr a = { 0 };
		const char *gw = NULL;
		char w[MAX_WHAT];

		snprintf(w, sizeof(w), "ipam.addresses[%zu]", i);
		if (json_is_null(v))
			v = NULL;
		else if (!json_is_object(v))
			return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
					       "%s must be an object", w);
		a.str = "";
		if (v && ((r = berth_json_get_string(v, w, "address", false, &a.str, err)) < 0 ||
			  (r = berth_json_get_string(v, w, "gateway", false, &gw, err)) < 0))
			return r;
		if (gw && *gw && berth_ip_parse(gw, &a.gw) < 0)
			return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
					       "invalid IP address: %s", gw);
		if ((r = push_addr(c, &a, err)) < 0)
			return r;
	}
	arr = NULL;
	if ((r = berth_json_get_array(ipam, "ipam", "routes", false, &arr, err)) < 0)
		return r;
	json_array_foreach(arr, i, v) {
		char w[MAX_WHAT];

		snprintf(w, sizeof(w), "ipam.routes[%zu]", i);
		if ((r = parse_route(v, w, c->res, err)) < 0)
			return r;
	}
	if ((r = parse_dns(ipam, &c->res->dns, err)) < 0)
		return r;

	/* then the reference's order: CNI_ARGS, args.cni.ips, runtimeConfig.ips */
	if (cni_args && *cni_args && (r = env_addrs(c, cni_args, err)) < 0)
		return r;
	if ((r = replace_addrs(c, args_ips, err)) < 0 || (r = replace_addrs(c, rc_ips, err)) < 0)
		return r;
	for (i = 0; i < c->n; i++) {
		struct static_addr *a = &c->addrs[i];

		if (!a->parsed && berth_ipnet_parse(a->str, &a->net) < 0)
			return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
					       "the 'address' field is expected to be in CIDR "
					       "notation, got: '%s'",
					       a->str);
		a->parsed = true;
		canonicalize(&a->net);
		if (a->net.ip.family == AF_INET)
			n4++;
		else
			n6++;
	}
	if ((n4 > 1 || n6 > 1) && berth_cni_version_cmp(version, "0.3.0") < 0)
		return berth_error_set(err, BERTH_CNI_ERR_INCOMPATIBLE_VERSION, EINVAL,
				       "CNI version %s does not support more than 1 address per "
				       "family",
				       version);
	return 0;
}

