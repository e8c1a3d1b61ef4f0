// SPDX-License-Identifier: Apache-2.0
/* host-local IPAM configuration: ranges, defaults and validation as the reference allocator
 * (plugins/ipam/host-local/backend/allocator/{config,range,range_set}.go), routes, requested
 * addresses and resolv.conf. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include "berth/cleanup.h"
#include "berth/cniargs.h"
#include "berth/file.h"
#include "berth/ipam.h"
#include "berth/json.h"

#define WHAT_MAX 96

/* Go's canonicalizeIP: an IPv4-mapped IPv6 address is IPv4. */
static void canon_ip(struct berth_ip *ip)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	if (ip->family == AF_INET6 && memcmp(ip->addr, mapped, 12) == 0) {
		uint8_t v4[4];

		memcpy(v4, ip->addr + 12, 4);
		memset(ip->addr, 0, sizeof(ip->addr));
		memcpy(ip->addr, v4, 4);
		ip->family = AF_INET;
	}
}

static int parse_ip_field(json_t *obj, const char *what, const char *key, struct berth_ip *ret,
			  berth_error *err)
{
	const char *s = NULL;
	int r;

	r = berth_json_get_string(obj, what, key, false, &s, err);
	if (r < 0)
		return r;
	if (!s || !*s) {
		ret->family = 0;
		return 0;
	}
	if (berth_ip_parse(s, ret) < 0)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "%s.%s: \"%s\" is not an IP address", what, key, s);
	canon_ip(ret);
	return 1;
}

bool berth_ipam_range_contains(const struct berth_ipam_range *r, const struct berth_ip *ip)
{
	struct berth_ip a = *ip;

	canon_ip(&a);
	if (a.family != r->subnet.ip.family || !berth_ipnet_contains(&r->subnet, &a))
		return false;
	if (r->start.family && berth_ip_cmp(&a, &r->start) < 0)
		return false;
	if (r->end.family && berth_ip_cmp(&a, &r->end) > 0)
		return false;
	return true;
}

int berth_ipam_range_canonicalize(struct berth_ipam_range *r, const char *what, berth_error *err)
{
	char buf[BERTH_IPNET_STRLEN], b2[BERTH_IP_STRLEN];
	int bits = berth_ip_len(r->subnet.ip.family) * 8;
	struct berth_ipnet net;
	struct berth_ip start = r->start, end = r->end;

	canon_ip(&r->subnet.ip);
	bits = berth_ip_len(r->subnet.ip.family) * 8;
	if (r->subnet.ip.family == AF_INET && r->subnet.prefix > 32 && bits == 32)
		r->subnet.prefix -= 96; /* a mapped subnet keeps its v4 meaning */
	if (r->subnet.prefix > bits - 2)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "%s: network %s too small to allocate from", what,
				       berth_ipnet_format(&r->subnet, buf));
	net = berth_ipnet_network(&r->subnet);
	if (!berth_ip_equal(&net.ip, &r->subnet.ip))
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "%s: network %s has host bits set; for a prefix length of %d "
				       "the network address is %s",
				       what, berth_ipnet_format(&r->subnet, buf), r->subnet.prefix,
				       berth_ip_format(&net.ip, b2));

	if (!r->gateway.family)
		r->gateway = berth_ip_add(&r->subnet.ip, 1);

	/* Validate start and end against the subnet only, as the reference does while the range
	 * is being initialised. */
	r->start.family = 0;
	r->end.family = 0;
	if (start.family) {
		if (!berth_ipam_range_contains(r, &start))
			return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
					       "%s: rangeStart %s not in network %s", what,
					       berth_ip_format(&start, b2),
					       berth_ipnet_format(&r->subnet, buf));
	} else {
		start = berth_ip_add(&r->subnet.ip, 1);
	}
	if (end.family) {
		if (!berth_ipam_range_contains(r, &end))
			return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
					       "%s: rangeEnd %s not in network %s", what,
					       berth_ip_format(&end, b2),
					       berth_ipnet_format(&r->subnet, buf));
	} else {
		end = berth_ipnet_last(&r->subnet);
		if (end.family == AF_INET)
			end = berth_ip_add(&end, -1);
	}
	if (berth_ip_cmp(&start, &end) > 0)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "%s: rangeStart %s is after rangeEnd %s", what,
				       berth_ip_format(&start, buf), berth_ip_format(&end, b2));
	r->start = start;
	r->end = end;
	return 0;
}

static bool range_overlaps(const struct berth_ipam_range *a, const struct berth_ipam_range *b)
{
	if (a->start.family != b->start.family)
		return false;
	return berth_ipam_range_contains(a, &b->start) || berth_ipam_range_contains(a, &b->end) ||
	       berth_ipam_range_contains(b, &a->start) || berth_ipam_range_contains(b, &a->end);
}

static bool rangeset_overlaps(const struct berth_ipam_rangeset *a,
			      const struct berth_ipam_rangeset *b)
{
	for (size_t i = 0; i < a->n; i++)
		for (size_t j = 0; j < b->n; j++)
			if (range_overlaps(&a->ranges[i], &b->ranges[j]))
				return true;
	return false;
}

int berth_ipam_rangeset_find(const struct berth_ipam_rangeset *s, const struct berth_ip *ip)
{
	for (size_t i = 0; i < s->n; i++)
		if (berth_ipam_range_contains(&s->ranges[i], ip))
			return (int)i;
	return -1;
}

char *berth_ipam_rangeset_format(const struct berth_ipam_rangeset *s, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < s->n && off < len; i++) {
		char a[BERTH_IP_STRLEN], b[BERTH_IP_STRLEN];
		int n = snprintf(buf + off, len - off, "%s%s-%s", i ? "," : "",
				 berth_ipam_ip_name(&s->ranges[i].start, a),
				 berth_ipam_ip_name(&s->ranges[i].end, b));
		if (n < 0)
			break;
		off += (size_t)n;
	}
	return buf;
}

/* end - start + 1 as a 128-bit count. */
static unsigned __int128 ip_to_u128(const struct berth_ip *ip)
{
	unsigned __int128 v = 0;
	int len = berth_ip_len(ip->family);

	for (int i = 0; i < len; i++)
		v = (v << 8) | ip->addr[i];
	return v;
}

uint64_t berth_ipam_rangeset_size(const struct berth_ipam_rangeset *s)
{
	unsigned __int128 total = 0;

	for (size_t i = 0; i < s->n; i++) {
		const struct berth_ipam_range *r = &s->ranges[i];
		unsigned __int128 n = ip_to_u128(&r->end) - ip_to_u128(&r->start) + 1;

		if (n == 0) /* the whole IPv6 space */
			return UINT64_MAX;
		if (berth_ipam_range_contains(r, &r->gateway))
			n--;
		total += n;
		if (total >= UINT64_MAX)
			return UINT64_MAX;
	}
	return (uint64_t)total;
}

static int parse_range(json_t *j, const char *what, struct berth_ipam_range *r, berth_error *err)
{
	const char *subnet = NULL;
	int n;

	if (!json_is_object(j))
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "%s must be an object", what);
	memset(r, 0, sizeof(*r));
	n = berth_json_get_string(j, what, "subnet", true, &subnet, err);
	if (n < 0)
		return n;
	if (berth_ipnet_parse(subnet, &r->subnet) < 0)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "%s.subnet: \"%s\" is not a CIDR subnet", what, subnet);
	if ((n = parse_ip_field(j, what, "rangeStart", &r->start, err)) < 0 ||
	    (n = parse_ip_field(j, what, "rangeEnd", &r->end, err)) < 0 ||
	    (n = parse_ip_field(j, what, "gateway", &r->gateway, err)) < 0)
		return n;
	return berth_ipam_range_canonicalize(r, what, err);
}

/* One range set: validate each range, a single family, no overlap inside. */
static int parse_rangeset(json_t *arr, const char *what, struct berth_ipam_rangeset *s,
			  berth_error *err)
{
	size_t i;
	json_t *v;
	int r;

	if (!json_is_array(arr))
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "%s must be an array of ranges", what);
	if (json_array_size(arr) == 0)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "%s: empty range set", what);
	s->ranges = calloc(json_array_size(arr), sizeof(*s->ranges));
	if (!s->ranges)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	json_array_foreach(arr, i, v) {
		char w[WHAT_MAX];

		snprintf(w, sizeof(w), "%s[%zu]", what, i);
		r = parse_range(v, w, &s->ranges[i], err);
		if (r < 0)
			return r;
		s->n++;
		if (s->ranges[i].subnet.ip.family != s->ranges[0].subnet.ip.family)
			return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
					       "%s: mixed address families in one range set", w);
	}
	for (i = 0; i + 1 < s->n; i++)
		for (size_t k = i + 1; k < s->n; k++)
			if (range_overlaps(&s->ranges[i], &s->ranges[k])) {
				char a[BERTH_IP_STRLEN], b[BERTH_IP_STRLEN];
				char c[BERTH_IP_STRLEN], d[BERTH_IP_STRLEN];

				return berth_error_set(
					err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
					"%s: ranges [%zu] %s-%s and [%zu] %s-%s overlap", what, i,
					berth_ipam_ip_name(&s->ranges[i].start, a),
					berth_ipam_ip_name(&s->ranges[i].end, b), k,
					berth_ipam_ip_name(&s->ranges[k].start, c),
					berth_ipam_ip_name(&s->ranges[k].end, d));
			}
	return 0;
}

static int parse_routes(json_t *ipam, struct berth_ipam_config *c, berth_error *err)
{
	json_t *arr = NULL, *v;
	size_t i;
	int r;

	r = berth_json_get_array(ipam, "ipam", "routes", false, &arr, err);
	if (r < 0 || !arr)
		return r;
	c->routes = calloc(json_array_size(arr) + 1, sizeof(*c->routes));
	if (!c->routes)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	json_array_foreach(arr, i, v) {
		struct berth_cni_route *rt = &c->routes[i];
		const char *dst = NULL, *gw = NULL;
		char w[WHAT_MAX];
		int64_t n;

		snprintf(w, sizeof(w), "ipam.routes[%zu]", i);
		if (!json_is_object(v))
			return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
					       "%s must be an object", w);
		rt->table = rt->scope = -1;
		r = berth_json_get_string(v, w, "dst", true, &dst, err);
		if (r < 0)
			return r;
		if (berth_ipnet_parse(dst, &rt->dst) < 0)
			return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
					       "%s.dst: \"%s\" is not a CIDR", w, dst);
		r = berth_json_get_string(v, w, "gw", false, &gw, err);
		if (r < 0)
			return r;
		if (gw && *gw && berth_ip_parse(gw, &rt->gw) < 0)
			return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
					       "%s.gw: \"%s\" is not an IP address", w, gw);
#define ROUTE_INT(key, field, lo)                                                                  \
	do {                                                                                       \
		n = INT64_MIN;                                                                     \
		r = berth_json_get_int(v, w, key, false, lo, INT32_MAX, &n, err);                  \
		if (r < 0)                                                                         \
			return r;                                                                  \
		if (n != INT64_MIN)                                                                \
			rt->field = (int)n;                                                        \
	} while (0)
		ROUTE_INT("mtu", mtu, 0);
		ROUTE_INT("advmss", advmss, 0);
		ROUTE_INT("priority", priority, 0);
		ROUTE_INT("table", table, 0);
		ROUTE_INT("scope", scope, 0);
#undef ROUTE_INT
		c->n_routes++;
	}
	return 0;
}

/* CNI_ARGS IP=, args.cni.ips, runtimeConfig.ips through the shared parser (net/cniargs.c). */
static int parse_requested(json_t *config, const char *cni_args, struct berth_ipam_config *c,
			   berth_error *err)
{
	static const char *const known[] = { "IP", NULL };
	_cleanup_free_ struct berth_cni_req_ip *req = NULL;
	_cleanup_free_ char *ip = NULL;
	char *vals[1] = { NULL };
	size_t n = 0;
	int r;

	r = berth_cni_args_parse(cni_args, known, vals, err);
	if (r < 0)
		return r;
	ip = vals[0];
	r = berth_cni_requested_ips(config, ip && *ip ? ip : NULL, BERTH_CNI_IPS_MERGE, &req, &n,
				    err);
	if (r < 0)
		return r;
	if (n == 0)
		return 0;
	c->requested = calloc(n, sizeof(*c->requested));
	if (!c->requested)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		c->requested[i] = req[i].net.ip;
		canon_ip(&c->requested[i]);
	}
	c->n_requested = n;
	return 0;
}

static int append_set(struct berth_ipam_config *c, json_t *arr, const char *what,
		      berth_error *err)
{
	struct berth_ipam_rangeset *nv = realloc(c->sets, (c->n_sets + 1) * sizeof(*nv));

	if (!nv)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	c->sets = nv;
	memset(&c->sets[c->n_sets], 0, sizeof(*nv));
	c->n_sets++;
	return parse_rangeset(arr, what, &c->sets[c->n_sets - 1], err);
}

static int parse_ranges(json_t *config, json_t *ipam, struct berth_ipam_config *c,
			berth_error *err)
{
	json_t *rc = json_object_get(config, "runtimeConfig"), *arr = NULL, *v;
	char (*names)[WHAT_MAX] = NULL;
	size_t i;
	int r;

	/* The order decides last_reserved_ip.<n>: runtime ipRanges, the legacy top-level range,
	 * then ranges, as the reference. */
	if (json_is_object(rc) && (arr = berth_json_object_get_ci(rc, "ipRanges")) && !json_is_null(arr)) {
		if (!json_is_array(arr))
			return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
					       "runtimeConfig.ipRanges must be an array");
		json_array_foreach(arr, i, v) {
			char w[WHAT_MAX];

			snprintf(w, sizeof(w), "runtimeConfig.ipRanges[%zu]", i);
			r = append_set(c, v, w, err);
			if (r < 0)
				return r;
		}
	}
	if (json_object_get(ipam, "subnet") && !json_is_null(json_object_get(ipam, "subnet"))) {
		_cleanup_json_ json_t *one = json_array();

		if (!one || json_array_append(one, ipam) < 0)
			return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
		r = append_set(c, one, "ipam", err);
		if (r < 0)
			return r;
	}
	arr = NULL;
	r = berth_json_get_array(ipam, "ipam", "ranges", false, &arr, err);
	if (r < 0)
		return r;
	if (arr)
		json_array_foreach(arr, i, v) {
			char w[WHAT_MAX];

			snprintf(w, sizeof(w), "ipam.ranges[%zu]", i);
			r = append_set(c, v, w, err);
			if (r < 0)
				return r;
		}
	if (c->n_sets == 0)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "no IP ranges specified (ipam.ranges)");

	/* Name each set for the overlap message by its position in the input. */
	names = calloc(c->n_sets, sizeof(*names));
	if (!names)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	for (i = 0; i < c->n_sets; i++) {
		char buf[256];

		snprintf(names[i], WHAT_MAX, "range set %zu (%s)", i,
			 berth_ipam_rangeset_format(&c->sets[i], buf, sizeof(buf)));
	}
	for (i = 0; i + 1 < c->n_sets; i++)
		for (size_t k = i + 1; k < c->n_sets; k++)
			if (rangeset_overlaps(&c->sets[i], &c->sets[k])) {
				r = berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
						    "%s overlaps with %s", names[i], names[k]);
				free(names);
				return r;
			}
	free(names);
	return 0;
}

/* An owned object freed by the _cleanup_ipam_config_ attribute (a named constructor also keeps
 * cppcheck from tracking it as a bare calloc it cannot see freed). */
static struct berth_ipam_config *config_new(void)
{
	return calloc(1, sizeof(struct berth_ipam_config));
}

int berth_ipam_config_parse(json_t *config, const char *cni_args, struct berth_ipam_config **ret,
			    berth_error *err)
{
	_cleanup_ipam_config_ struct berth_ipam_config *c = NULL;
	const char *name = NULL, *version = NULL, *dir = NULL, *resolv = NULL;
	json_t *ipam = NULL;
	size_t v4 = 0, v6 = 0;
	int r;

	c = config_new();
	if (!c)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	if ((r = berth_json_get_string(config, NULL, "name", false, &name, err)) < 0 ||
	    (r = berth_json_get_string(config, NULL, "cniVersion", false, &version, err)) < 0)
		return r;
	if (!berth_path_component_ok(name))
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "network name \"%s\" cannot name a directory", name ? name : "");
	r = berth_json_get_object(config, NULL, "ipam", false, &ipam, err);
	if (r < 0)
		return r;
	if (!ipam)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "IPAM config missing 'ipam' key");
	if ((r = berth_json_get_string(ipam, "ipam", "dataDir", false, &dir, err)) < 0 ||
	    (r = berth_json_get_string(ipam, "ipam", "resolvConf", false, &resolv, err)) < 0)
		return r;
	if (!dir || !*dir)
		dir = BERTH_IPAM_DEFAULT_DATA_DIR;
	c->name = strdup(name);
	if (asprintf(&c->data_dir, "%s/%s", dir, name) < 0)
		c->data_dir = NULL;
	if (resolv && *resolv)
		c->resolv_conf = strdup(resolv);
	if (!c->name || !c->data_dir || (resolv && *resolv && !c->resolv_conf))
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");

	r = parse_requested(config, cni_args, c, err);
	if (r < 0)
		return r;
	r = parse_ranges(config, ipam, c, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < c->n_sets; i++) {
		if (c->sets[i].ranges[0].start.family == AF_INET)
			v4++;
		else
			v6++;
	}
	if ((v4 > 1 || v6 > 1) && version && *version && berth_cni_version_cmp(version, "0.3.0") < 0)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "CNI version %s does not support more than 1 address per "
				       "family",
				       version);
	r = parse_routes(ipam, c, err);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(c);
	return 0;
}

int berth_ipam_config_parse_del(json_t *config, struct berth_ipam_config **ret, berth_error *err)
{
	_cleanup_ipam_config_ struct berth_ipam_config *c = config_new();
	const char *name = json_string_value(json_object_get(config, "name"));
	json_t *ipam = json_object_get(config, "ipam");
	const char *dir = json_is_object(ipam) ? json_string_value(json_object_get(ipam, "dataDir"))
					       : NULL;

	if (!c)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	if (!berth_path_component_ok(name))
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "network name \"%s\" cannot name a directory", name ? name : "");
	if (!dir || !*dir)
		dir = BERTH_IPAM_DEFAULT_DATA_DIR;
	c->name = strdup(name);
	if (asprintf(&c->data_dir, "%s/%s", dir, name) < 0)
		c->data_dir = NULL;
	if (!c->name || !c->data_dir)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	*ret = TAKE_PTR(c);
	return 0;
}

void berth_ipam_config_free(struct berth_ipam_config *c)
{
	if (!c)
		return;
	free(c->name);
	free(c->data_dir);
	free(c->resolv_conf);
	for (size_t i = 0; i < c->n_sets; i++)
		free(c->sets[i].ranges);
	free(c->sets);
	free(c->routes);
	free(c->requested);
	free(c);
}

/* Go's strings.Fields: split on runs of ASCII whitespace. */
static int strv_push(char ***v, size_t *n, const char *s, size_t len)
{
	char **nv = realloc(*v, (*n + 2) * sizeof(char *));

	if (!nv)
		return -ENOMEM;
	*v = nv;
	nv[*n] = strndup(s, len);
	if (!nv[*n])
		return -ENOMEM;
	nv[++*n] = NULL;
	return 0;
}

int berth_ipam_parse_resolv_conf(const char *path, struct berth_cni_dns *dns, berth_error *err)
{
	_cleanup_free_ char *buf = NULL;
	size_t n_ns = 0, n_search = 0, n_opt = 0;
	char *line, *save = NULL;
	int r;

	r = berth_read_file(path, 1 << 20, &buf, NULL, err);
	if (r < 0)
		return berth_error_prefix(err, "resolvConf");
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		const char *f[64];
		size_t fl[64], nf = 0;
		char *p = line;

		while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\v' || *p == '\f')
			p++;
		if (*p == '\0' || *p == '#' || *p == ';')
			continue;
		while (*p && nf < ARRAY_SIZE(f)) {
			size_t len = strcspn(p, " \t\r\v\f");

			f[nf] = p;
			fl[nf++] = len;
			p += len;
			p += strspn(p, " \t\r\v\f");
		}
		if (nf < 2)
			continue;
		r = 0;
		if (fl[0] == 10 && strncmp(f[0], "nameserver", 10) == 0) {
			r = strv_push(&dns->nameservers, &n_ns, f[1], fl[1]);
		} else if (fl[0] == 6 && strncmp(f[0], "domain", 6) == 0) {
			free(dns->domain);
			dns->domain = strndup(f[1], fl[1]);
			r = dns->domain ? 0 : -ENOMEM;
		} else if (fl[0] == 6 && strncmp(f[0], "search", 6) == 0) {
			for (size_t i = 1; i < nf && r == 0; i++)
				r = strv_push(&dns->search, &n_search, f[i], fl[i]);
		} else if (fl[0] == 7 && strncmp(f[0], "options", 7) == 0) {
			for (size_t i = 1; i < nf && r == 0; i++)
				r = strv_push(&dns->options, &n_opt, f[i], fl[i]);
		}
		if (r < 0)
			return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	}
	return 0;
}
