/* SPDX-License-Identifier: Apache-2.0 */
/* CNI result types: parsing of every spec version into the 1.1.0 shape and rendering back in any
 * version, following libcni's converters (pkg/types/{020,040,100}) so that a Go runtime reading
 * our output sees exactly what a Go plugin would have printed. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "berth/cleanup.h"
#include "berth/cni.h"
#include "berth/json.h"

const char *const berth_cni_all_versions[] = {"0.1.0", "0.2.0", "0.3.0", "0.3.1",
					      "0.4.0", "1.0.0", "1.1.0", NULL};

static int parse_semver(const char *v, long out[3])
{
	char *end;

	if (!v)
		return -EINVAL;
	for (int i = 0; i < 3; i++) {
		if (*v < '0' || *v > '9')
			return -EINVAL;
		out[i] = strtol(v, &end, 10);
		if (i < 2 && *end != '.')
			return -EINVAL;
		v = end + (i < 2);
	}
	return *v ? -EINVAL : 0;
}

int berth_cni_version_cmp(const char *a, const char *b)
{
	long va[3], vb[3];
	bool oka = parse_semver(a, va) == 0, okb = parse_semver(b, vb) == 0;

	if (!oka || !okb)
		return oka - okb;
	for (int i = 0; i < 3; i++)
		if (va[i] != vb[i])
			return va[i] < vb[i] ? -1 : 1;
	return 0;
}

bool berth_cni_version_valid(const char *v)
{
	for (const char *const *p = berth_cni_all_versions; v && *p; p++)
		if (STREQ(*p, v))
			return true;
	return false;
}

/* Result shapes: 0.1.0/0.2.0 (ip4/ip6), 0.3.0-0.4.0 (ips[].version), 1.x. */
enum shape { SHAPE_020, SHAPE_040, SHAPE_100 };

static enum shape version_shape(const char *v)
{
	if (berth_cni_version_cmp(v, "0.3.0") < 0)
		return SHAPE_020;
	if (berth_cni_version_cmp(v, "1.0.0") < 0)
		return SHAPE_040;
	return SHAPE_100;
}

/* ---- construction ------------------------------------------------------------------------ */

int berth_cni_set_str(char **field, const char *value)
{
	char *n = NULL;

	if (value && *value && !(n = strdup(value)))
		return -ENOMEM;
	free(*field);
	*field = n;
	return 0;
}

struct berth_cni_result *berth_cni_result_new(const char *version)
{
	struct berth_cni_result *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->cni_version = strdup(version ? version : BERTH_CNI_VERSION_LATEST);
	if (!r->cni_version) {
		free(r);
		return NULL;
	}
	return r;
}

static void dns_free(struct berth_cni_dns *d)
{
	berth_strv_free(d->nameservers);
	free(d->domain);
	berth_strv_free(d->search);
	berth_strv_free(d->options);
	memset(d, 0, sizeof(*d));
}

static void interface_free(struct berth_cni_interface *i)
{
	free(i->name);
	free(i->mac);
	free(i->sandbox);
	free(i->socket_path);
	free(i->pci_id);
}

void berth_cni_result_free(struct berth_cni_result *r)
{
	if (!r)
		return;
	free(r->cni_version);
	for (size_t i = 0; i < r->n_interfaces; i++)
		interface_free(&r->interfaces[i]);
	free(r->interfaces);
	free(r->ips);
	free(r->routes);
	dns_free(&r->dns);
	free(r);
}

static int grow(void *arrp, size_t n, size_t size)
{
	void **arr = arrp;
	void *n_arr = realloc(*arr, (n + 1) * size);

	if (!n_arr)
		return -ENOMEM;
	*arr = n_arr;
	memset((char *)n_arr + n * size, 0, size);
	return 0;
}

int berth_cni_result_add_interface(struct berth_cni_result *r, const char *name, const char *mac,
				   const char *sandbox)
{
	struct berth_cni_interface *i;

	if (grow(&r->interfaces, r->n_interfaces, sizeof(*r->interfaces)) < 0)
		return -ENOMEM;
	i = &r->interfaces[r->n_interfaces];
	if (berth_cni_set_str(&i->name, name) < 0 || berth_cni_set_str(&i->mac, mac) < 0 ||
	    berth_cni_set_str(&i->sandbox, sandbox) < 0) {
		interface_free(i);
		memset(i, 0, sizeof(*i));
		return -ENOMEM;
	}
	return (int)r->n_interfaces++;
}

int berth_cni_result_add_ip(struct berth_cni_result *r, const struct berth_ipnet *addr,
			    const struct berth_ip *gw, int interface)
{
	struct berth_cni_ipconfig *c;

	if (grow(&r->ips, r->n_ips, sizeof(*r->ips)) < 0)
		return -ENOMEM;
	c = &r->ips[r->n_ips];
	c->address = *addr;
	if (gw)
		c->gateway = *gw;
	c->interface = interface;
	return (int)r->n_ips++;
}

int berth_cni_result_add_route(struct berth_cni_result *r, const struct berth_ipnet *dst,
			       const struct berth_ip *gw)
{
	struct berth_cni_route *rt;

	if (grow(&r->routes, r->n_routes, sizeof(*r->routes)) < 0)
		return -ENOMEM;
	rt = &r->routes[r->n_routes];
	rt->dst = *dst;
	if (gw)
		rt->gw = *gw;
	rt->table = rt->scope = -1;
	return (int)r->n_routes++;
}

int berth_cni_result_add_routes(struct berth_cni_result *r, const struct berth_cni_route *routes,
				size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct berth_cni_route *rt = &routes[i];
		int k = berth_cni_result_add_route(r, &rt->dst, rt->gw.family ? &rt->gw : NULL);

		if (k < 0)
			return k;
		r->routes[k].mtu = rt->mtu;
		r->routes[k].advmss = rt->advmss;
		r->routes[k].priority = rt->priority;
		r->routes[k].table = rt->table;
		r->routes[k].scope = rt->scope;
	}
	return 0;
}

int berth_cni_result_add_ips(struct berth_cni_result *r, const struct berth_cni_ipconfig *ips,
			     size_t n, int interface)
{
	for (size_t i = 0; i < n; i++)
		if (berth_cni_result_add_ip(r, &ips[i].address,
					    ips[i].gateway.family ? &ips[i].gateway : NULL,
					    interface) < 0)
			return -ENOMEM;
	return 0;
}

int berth_cni_result_add_ipam(struct berth_cni_result *r, const struct berth_cni_result *ipam,
			      berth_error *err)
{
	if (ipam->n_ips == 0)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, EINVAL,
				       "IPAM plugin returned missing IP config");
	if (berth_cni_result_add_ips(r, ipam->ips, ipam->n_ips, 0) < 0 ||
	    berth_cni_result_add_routes(r, ipam->routes, ipam->n_routes) < 0)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	return 0;
}

int berth_cni_result_find_interface(const struct berth_cni_result *r, const char *name,
				    const char *sandbox)
{
	for (size_t i = 0; i < r->n_interfaces; i++) {
		const struct berth_cni_interface *f = &r->interfaces[i];
		if (!f->name || !STREQ(f->name, name))
			continue;
		if (sandbox && (!f->sandbox || !STREQ(f->sandbox, sandbox)))
			continue;
		return (int)i;
	}
	return -1;
}

static char **strv_copy(char **v, bool *oom)
{
	size_t n = 0;
	char **c;

	if (!v)
		return NULL;
	while (v[n])
		n++;
	c = calloc(n + 1, sizeof(*c));
	if (!c) {
		*oom = true;
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		if (!(c[i] = strdup(v[i])))
			*oom = true;
	return c;
}

bool berth_cni_dns_set(json_t *dns)
{
	const char *k;
	json_t *v;

	if (!json_is_object(dns))
		return false;
	json_object_foreach(dns, k, v) {
		if (STREQ(k, "domain") ? json_is_string(v) && json_string_length(v) > 0
				       : (STREQ(k, "nameservers") || STREQ(k, "search") ||
					  STREQ(k, "options")) && json_is_array(v))
			return true;
	}
	return false;
}

int berth_cni_result_set_dns(struct berth_cni_result *r, const char *version, json_t *dns,
			     berth_error *err)
{
	_cleanup_json_ json_t *j = json_pack("{s:s, s:O}", "cniVersion", version, "dns", dns);
	_cleanup_cni_result_ struct berth_cni_result *tmp = NULL;
	struct berth_cni_dns old = r->dns;
	int rr;

	if (!j)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	if ((rr = berth_cni_result_from_json(j, version, &tmp, err)) < 0)
		return berth_error_prefix(err, "dns");
	r->dns = tmp->dns;
	tmp->dns = old; /* freed with tmp */
	return 0;
}

struct berth_cni_result *berth_cni_result_copy(const struct berth_cni_result *r)
{
	_cleanup_cni_result_ struct berth_cni_result *c = berth_cni_result_new(r->cni_version);
	bool oom = false;

	if (!c)
		return NULL;
	for (size_t i = 0; i < r->n_interfaces; i++) {
		const struct berth_cni_interface *f = &r->interfaces[i];
		int k = berth_cni_result_add_interface(c, f->name, f->mac, f->sandbox);
		if (k < 0)
			return NULL;
		c->interfaces[k].mtu = f->mtu;
		if (berth_cni_set_str(&c->interfaces[k].socket_path, f->socket_path) < 0 ||
		    berth_cni_set_str(&c->interfaces[k].pci_id, f->pci_id) < 0)
			return NULL;
	}
	if (r->n_ips) {
		if (!(c->ips = malloc(r->n_ips * sizeof(*r->ips))))
			return NULL;
		memcpy(c->ips, r->ips, r->n_ips * sizeof(*r->ips));
		c->n_ips = r->n_ips;
	}
	if (r->n_routes) {
		if (!(c->routes = malloc(r->n_routes * sizeof(*r->routes))))
			return NULL;
		memcpy(c->routes, r->routes, r->n_routes * sizeof(*r->routes));
		c->n_routes = r->n_routes;
	}
	c->dns.nameservers = strv_copy(r->dns.nameservers, &oom);
	c->dns.search = strv_copy(r->dns.search, &oom);
	c->dns.options = strv_copy(r->dns.options, &oom);
	if (r->dns.domain && !(c->dns.domain = strdup(r->dns.domain)))
		oom = true;
	if (oom)
		return NULL;
	return TAKE_PTR(c);
}

/* ---- parsing ----------------------------------------------------------------------------- */

/* Building JSON fails only on ENOMEM or a string that is not UTF-8. */
static int oom(berth_error *err)
{
	return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM,
			       "cannot build result JSON: out of memory or invalid UTF-8");
}

static int decode_err(berth_error *err, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int decode_err(berth_error *err, const char *path, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return berth_error_set(err, BERTH_CNI_ERR_DECODE, EINVAL, "%s: %s", path, msg);
}

static const char *json_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
	case JSON_REAL:
		return "a number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	default:
		return "null";
	}
}

/* Look up key; NULL (absent) for missing keys and JSON null, as Go's decoder treats both. */
static json_t *get(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);
	return v && !json_is_null(v) ? v : NULL;
}

static int get_str(json_t *obj, const char *path, const char *key, bool required,
		   const char **ret, berth_error *err)
{
	json_t *v = get(obj, key);

	*ret = NULL;
	if (!v) {
		if (required)
			return decode_err(err, path, "missing required field \"%s\"", key);
		return 0;
	}
	if (!json_is_string(v))
		return decode_err(err, path, "\"%s\" must be a string, not %s", key,
				  json_type_name(v));
	*ret = json_string_value(v);
	return 0;
}

static int get_int(json_t *obj, const char *path, const char *key, int min, int *ret,
		   berth_error *err)
{
	json_t *v = get(obj, key);

	if (!v)
		return 0;
	if (json_is_integer(v)) {
		json_int_t i = json_integer_value(v);
		if (i < min || i > INT32_MAX)
			return decode_err(err, path, "\"%s\" out of range: %lld", key, (long long)i);
		*ret = (int)i;
		return 0;
	}
	/* Go refuses 100.0 or 1e2 for an int field, so do we. */
	return decode_err(err, path, "\"%s\" must be an integer", key);
}

static int get_ipnet(json_t *obj, const char *path, const char *key, bool required,
		     struct berth_ipnet *ret, berth_error *err)
{
	const char *s;
	int r = get_str(obj, path, key, required, &s, err);

	if (r < 0 || !s)
		return r;
	if (berth_ipnet_parse(s, ret) < 0)
		return decode_err(err, path, "\"%s\": invalid CIDR address: %s", key, s);
	return 0;
}

static int get_ip(json_t *obj, const char *path, const char *key, struct berth_ip *ret,
		  berth_error *err)
{
	const char *s;
	int r = get_str(obj, path, key, false, &s, err);

	if (r < 0 || !s)
		return r;
	/* Go's net.IP decodes "" as nil. */
	if (!*s)
		return 0;
	if (berth_ip_parse(s, ret) < 0)
		return decode_err(err, path, "\"%s\": invalid IP address: %s", key, s);
	return 0;
}

static int get_array(json_t *obj, const char *path, const char *key, json_t **ret,
		     berth_error *err)
{
	json_t *v = get(obj, key);

	*ret = v;
	if (v && !json_is_array(v))
		return decode_err(err, path, "\"%s\" must be an array, not %s", key,
				  json_type_name(v));
	return 0;
}

static int get_strv(json_t *obj, const char *path, const char *key, char ***ret,
		    berth_error *err)
{
	json_t *a, *v;
	size_t i;
	char **out;
	int r = get_array(obj, path, key, &a, err);

	if (r < 0 || !a)
		return r;
	out = calloc(json_array_size(a) + 1, sizeof(*out));
	if (!out)
		return oom(err);
	json_array_foreach(a, i, v) {
		if (!json_is_string(v)) {
			berth_strv_free(out);
			return decode_err(err, path, "%s[%zu] must be a string", key, i);
		}
		if (!(out[i] = strdup(json_string_value(v)))) {
			berth_strv_free(out);
			return oom(err);
		}
	}
	berth_strv_free(*ret);
	*ret = out;
	return 0;
}


static int parse_dns(json_t *j, struct berth_cni_dns *dns, berth_error *err)
{
	json_t *d = get(j, "dns");
	const char *domain;
	int r;

	if (!d)
		return 0;
	if (!json_is_object(d))
		return decode_err(err, "dns", "must be an object, not %s", json_type_name(d));
	if ((r = get_strv(d, "dns", "nameservers", &dns->nameservers, err)) < 0 ||
	    (r = get_str(d, "dns", "domain", false, &domain, err)) < 0 ||
	    (r = get_strv(d, "dns", "search", &dns->search, err)) < 0 ||
	    (r = get_strv(d, "dns", "options", &dns->options, err)) < 0)
		return r;
	if (berth_cni_set_str(&dns->domain, domain) < 0)
		return oom(err);
	return 0;
}

static int parse_route(json_t *o, const char *path, struct berth_cni_result *res,
		       berth_error *err)
{
	struct berth_ipnet dst;
	struct berth_ip gw = {0};
	struct berth_cni_route *rt;
	int r;

	if (!json_is_object(o))
		return decode_err(err, path, "must be an object, not %s", json_type_name(o));
	if ((r = get_ipnet(o, path, "dst", true, &dst, err)) < 0 ||
	    (r = get_ip(o, path, "gw", &gw, err)) < 0)
		return r;
	if ((r = berth_cni_result_add_route(res, &dst, &gw)) < 0)
		return oom(err);
	rt = &res->routes[r];
	if ((r = get_int(o, path, "mtu", INT32_MIN, &rt->mtu, err)) < 0 ||
	    (r = get_int(o, path, "advmss", INT32_MIN, &rt->advmss, err)) < 0 ||
	    (r = get_int(o, path, "priority", INT32_MIN, &rt->priority, err)) < 0 ||
	    (r = get_int(o, path, "table", 0, &rt->table, err)) < 0 ||
	    (r = get_int(o, path, "scope", 0, &rt->scope, err)) < 0)
		return r;
	return 0;
}

static int parse_routes(json_t *o, const char *what, struct berth_cni_result *res,
			berth_error *err)
{
	json_t *a, *v;
	size_t i;
	char path[64];
	int r = get_array(o, what, "routes", &a, err);

	if (r < 0 || !a)
		return r;
	json_array_foreach(a, i, v) {
		snprintf(path, sizeof(path), "%s%sroutes[%zu]", what ? what : "", what ? "." : "",
			 i);
		if ((r = parse_route(v, path, res, err)) < 0)
			return r;
	}
	return 0;
}

/* 0.1.0/0.2.0: "ip4"/"ip6" = {ip, gateway, routes}; up-converted as libcni's 040 convertFrom02x:
 * ip4 then ip6, routes of ip4 then of ip6. */
static int parse_020(json_t *j, struct berth_cni_result *res, berth_error *err)
{
	static const char *const keys[] = {"ip4", "ip6"};
	int r;

	for (size_t k = 0; k < 2; k++) {
		json_t *o = get(j, keys[k]);
		struct berth_ipnet addr;
		struct berth_ip gw = {0};

		if (!o)
			continue;
		if (!json_is_object(o))
			return decode_err(err, keys[k], "must be an object, not %s",
					  json_type_name(o));
		if ((r = get_ipnet(o, keys[k], "ip", true, &addr, err)) < 0 ||
		    (r = get_ip(o, keys[k], "gateway", &gw, err)) < 0)
			return r;
		if (berth_cni_result_add_ip(res, &addr, &gw, -1) < 0)
			return oom(err);
		if ((r = parse_routes(o, keys[k], res, err)) < 0)
			return r;
	}
	return 0;
}

static int parse_interfaces(json_t *j, enum shape shape, struct berth_cni_result *res,
			    berth_error *err)
{
	json_t *a, *o;
	size_t i;
	char path[48];
	int r = get_array(j, NULL, "interfaces", &a, err);

	if (r < 0 || !a)
		return r;
	json_array_foreach(a, i, o) {
		const char *name, *mac, *sandbox, *sock = NULL, *pci = NULL;
		struct berth_cni_interface *f;

		snprintf(path, sizeof(path), "interfaces[%zu]", i);
		if (!json_is_object(o))
			return decode_err(err, path, "must be an object, not %s",
					  json_type_name(o));
		if ((r = get_str(o, path, "name", false, &name, err)) < 0 ||
		    (r = get_str(o, path, "mac", false, &mac, err)) < 0 ||
		    (r = get_str(o, path, "sandbox", false, &sandbox, err)) < 0)
			return r;
		if ((r = berth_cni_result_add_interface(res, name, mac, sandbox)) < 0)
			return oom(err);
		f = &res->interfaces[r];
		/* libcni's 0.4.0 Interface has no such fields: they are ignored there. */
		if (shape != SHAPE_100)
			continue;
		if ((r = get_int(o, path, "mtu", INT32_MIN, &f->mtu, err)) < 0 ||
		    (r = get_str(o, path, "socketPath", false, &sock, err)) < 0 ||
		    (r = get_str(o, path, "pciID", false, &pci, err)) < 0)
			return r;
		if (berth_cni_set_str(&f->socket_path, sock) < 0 ||
		    berth_cni_set_str(&f->pci_id, pci) < 0)
			return oom(err);
	}
	return 0;
}

static int parse_ips(json_t *j, enum shape shape, struct berth_cni_result *res, berth_error *err)
{
	json_t *a, *o;
	size_t i;
	char path[32];
	int r = get_array(j, NULL, "ips", &a, err);

	if (r < 0 || !a)
		return r;
	json_array_foreach(a, i, o) {
		struct berth_ipnet addr;
		struct berth_ip gw = {0};
		const char *version;
		int intf = -1;

		snprintf(path, sizeof(path), "ips[%zu]", i);
		if (!json_is_object(o))
			return decode_err(err, path, "must be an object, not %s",
					  json_type_name(o));
		if ((r = get_ipnet(o, path, "address", true, &addr, err)) < 0 ||
		    (r = get_ip(o, path, "gateway", &gw, err)) < 0 ||
		    (r = get_int(o, path, "interface", 0, &intf, err)) < 0)
			return r;
		/* 0.3.x/0.4.0 carry "version"; libcni does not check it against the address
		 * (and drops it going up), but a value other than "4"/"6" is surely garbage. */
		if (shape == SHAPE_040) {
			if ((r = get_str(o, path, "version", false, &version, err)) < 0)
				return r;
			if (version && !STREQ(version, "4") && !STREQ(version, "6"))
				return decode_err(err, path, "invalid \"version\" \"%s\"",
						  version);
		}
		if (berth_cni_result_add_ip(res, &addr, &gw, intf) < 0)
			return oom(err);
	}
	return 0;
}

int berth_cni_result_from_json(json_t *j, const char *version, struct berth_cni_result **ret,
			       berth_error *err)
{
	_cleanup_cni_result_ struct berth_cni_result *res = NULL;
	const char *v;
	enum shape shape;
	int r;

	if (!json_is_object(j))
		return berth_error_set(err, BERTH_CNI_ERR_DECODE, EINVAL,
				       "result must be a JSON object");
	if ((r = get_str(j, "result", "cniVersion", false, &v, err)) < 0)
		return r;
	if (!v || !*v)
		v = version && *version ? version : "0.1.0";
	if (!berth_cni_version_valid(v))
		return berth_error_set(err, BERTH_CNI_ERR_INCOMPATIBLE_VERSION, EINVAL,
				       "unsupported CNI result version \"%s\"", v);
	if (!(res = berth_cni_result_new(v)))
		return oom(err);
	shape = version_shape(v);
	if (shape == SHAPE_020) {
		r = parse_020(j, res, err);
	} else {
		if ((r = parse_interfaces(j, shape, res, err)) < 0 ||
		    (r = parse_ips(j, shape, res, err)) < 0)
			return r;
		r = parse_routes(j, NULL, res, err);
	}
	if (r < 0)
		return r;
	if ((r = parse_dns(j, &res->dns, err)) < 0)
		return r;
	*ret = TAKE_PTR(res);
	return 0;
}

/* ---- rendering --------------------------------------------------------------------------- */

/* jansson's setters steal the value; any failure below is ENOMEM. */
static bool set_new(json_t *o, const char *key, json_t *v)
{
	return v && json_object_set_new(o, key, v) == 0;
}

static bool set_str(json_t *o, const char *key, const char *s)
{
	return !s || !*s || set_new(o, key, json_string(s));
}

static bool set_ip(json_t *o, const char *key, const struct berth_ip *ip)
{
	char buf[BERTH_IP_STRLEN];
	return berth_ip_is_unset(ip) || set_new(o, key, json_string(berth_ip_format(ip, buf)));
}

static bool set_ipnet(json_t *o, const char *key, const struct berth_ipnet *n)
{
	char buf[BERTH_IPNET_STRLEN];
	return set_new(o, key, json_string(berth_ipnet_format(n, buf)));
}

static bool set_int_nonzero(json_t *o, const char *key, int v)
{
	return !v || set_new(o, key, json_integer(v));
}

static bool set_strv(json_t *o, const char *key, char **v)
{
	json_t *a;

	if (!v || !*v)
		return true;
	if (!(a = json_array()) || json_object_set_new(o, key, a) < 0)
		return false;
	for (; *v; v++)
		if (json_array_append_new(a, json_string(*v)) < 0)
			return false;
	return true;
}

static bool dns_empty(const struct berth_cni_dns *d)
{
	return (!d->nameservers || !*d->nameservers) && (!d->domain || !*d->domain) &&
	       (!d->search || !*d->search) && (!d->options || !*d->options);
}

static bool render_dns(json_t *j, const struct berth_cni_dns *d)
{
	json_t *o = json_object();

	return set_new(j, "dns", o) && set_strv(o, "nameservers", d->nameservers) &&
	       set_str(o, "domain", d->domain) && set_strv(o, "search", d->search) &&
	       set_strv(o, "options", d->options);
}

static json_t *render_route(const struct berth_cni_route *rt, bool attrs)
{
	json_t *o = json_object();

	if (!o)
		return NULL;
	if (set_ipnet(o, "dst", &rt->dst) && set_ip(o, "gw", &rt->gw) &&
	    (!attrs ||
	     (set_int_nonzero(o, "mtu", rt->mtu) && set_int_nonzero(o, "advmss", rt->advmss) &&
	      set_int_nonzero(o, "priority", rt->priority) &&
	      (rt->table < 0 || set_new(o, "table", json_integer(rt->table))) &&
	      (rt->scope < 0 || set_new(o, "scope", json_integer(rt->scope))))))
		return o;
	json_decref(o);
	return NULL;
}

/* libcni's convertTo02x: the first IP of each family, then the routes of that family; "ip4"
 * before "ip6" whatever the order of the IPs (the Go struct's field order). */
static int render_020(const struct berth_cni_result *r, json_t *j, berth_error *err)
{
	static const char *const keys[] = {"ip4", "ip6"};
	static const int fam[] = {AF_INET, AF_INET6};
	json_t *objs[2] = {NULL, NULL};
	const struct berth_cni_ipconfig *first[2] = {NULL, NULL};

	for (size_t i = 0; i < r->n_ips; i++) {
		int k = r->ips[i].address.ip.family == AF_INET ? 0 : 1;
		if (!first[k])
			first[k] = &r->ips[i];
	}
	for (size_t k = 0; k < 2; k++) {
		if (!first[k])
			continue;
		if (!(objs[k] = json_object()) || !set_new(j, keys[k], objs[k]) ||
		    !set_ipnet(objs[k], "ip", &first[k]->address) ||
		    !set_ip(objs[k], "gateway", &first[k]->gateway))
			return oom(err);
	}
	if (!objs[0] && !objs[1])
		return berth_error_set(err, BERTH_CNI_ERR_INCOMPATIBLE_VERSION, EINVAL,
				       "cannot convert: no valid IP addresses");
	for (size_t k = 0; k < 2; k++) {
		json_t *routes = NULL;
		if (!objs[k])
			continue;
		for (size_t i = 0; i < r->n_routes; i++) {
			if (r->routes[i].dst.ip.family != fam[k])
				continue;
			if (!routes && (!(routes = json_array()) ||
					json_object_set_new(objs[k], "routes", routes) < 0))
				return oom(err);
			if (json_array_append_new(routes, render_route(&r->routes[i], false)) < 0)
				return oom(err);
		}
	}
	return 0;
}

int berth_cni_result_to_json(const struct berth_cni_result *r, const char *version, json_t **ret,
			     berth_error *err)
{
	_cleanup_json_ json_t *j = NULL;
	enum shape shape;
	int rc;

	if (!version)
		version = r->cni_version;
	if (!berth_cni_version_valid(version))
		return berth_error_set(err, BERTH_CNI_ERR_INCOMPATIBLE_VERSION, EINVAL,
				       "no converter for CNI result version %s to %s",
				       r->cni_version ? r->cni_version : "", version ? version : "");
	shape = version_shape(version);
	if (!(j = json_object()) || !set_new(j, "cniVersion", json_string(version)))
		return oom(err);
	if (shape == SHAPE_020) {
		if ((rc = render_020(r, j, err)) < 0)
			return rc;
		if (!render_dns(j, &r->dns))
			return oom(err);
		*ret = TAKE_PTR(j);
		return 0;
	}
	if (r->n_interfaces) {
		json_t *a = json_array();
		if (!set_new(j, "interfaces", a))
			return oom(err);
		for (size_t i = 0; i < r->n_interfaces; i++) {
			const struct berth_cni_interface *f = &r->interfaces[i];
			json_t *o = json_object();
			if (json_array_append_new(a, o) < 0 ||
			    !set_new(o, "name", json_string(f->name ? f->name : "")) ||
			    !set_str(o, "mac", f->mac))
				return oom(err);
			if (shape == SHAPE_100 && !set_int_nonzero(o, "mtu", f->mtu))
				return oom(err);
			if (!set_str(o, "sandbox", f->sandbox))
				return oom(err);
			if (shape == SHAPE_100 && (!set_str(o, "socketPath", f->socket_path) ||
						   !set_str(o, "pciID", f->pci_id)))
				return oom(err);
		}
	}
	if (r->n_ips) {
		json_t *a = json_array();
		if (!set_new(j, "ips", a))
			return oom(err);
		for (size_t i = 0; i < r->n_ips; i++) {
			const struct berth_cni_ipconfig *c = &r->ips[i];
			json_t *o = json_object();
			if (json_array_append_new(a, o) < 0)
				return oom(err);
			if (shape == SHAPE_040 &&
			    !set_new(o, "version",
				     json_string(c->address.ip.family == AF_INET ? "4" : "6")))
				return oom(err);
			if ((c->interface >= 0 &&
			     !set_new(o, "interface", json_integer(c->interface))) ||
			    !set_ipnet(o, "address", &c->address) ||
			    !set_ip(o, "gateway", &c->gateway))
				return oom(err);
		}
	}
	if (r->n_routes) {
		json_t *a = json_array();
		if (!set_new(j, "routes", a))
			return oom(err);
		for (size_t i = 0; i < r->n_routes; i++)
			if (json_array_append_new(a, render_route(&r->routes[i], true)) < 0)
				return oom(err);
	}
	if ((berth_cni_version_cmp(version, "1.1.0") < 0 || !dns_empty(&r->dns)) &&
	    !render_dns(j, &r->dns))
		return oom(err);
	*ret = TAKE_PTR(j);
	return 0;
}

/* ---- errors ------------------------------------------------------------------------------ */

json_t *berth_cni_error_json(const berth_error *err, const char *version)
{
	json_t *j = json_object();
	const char *msg = err && err->msg[0] ? err->msg : NULL;
	char buf[128];

	if (!j)
		return NULL;
	if (!msg) {
		snprintf(buf, sizeof(buf), "%s",
			 err && err->errnum ? strerror(err->errnum) : "unknown error");
		msg = buf;
	}
	if ((version && !set_new(j, "cniVersion", json_string(version))) ||
	    !set_new(j, "code", json_integer(err && err->code ? err->code : BERTH_CNI_ERR_INTERNAL)) ||
	    !set_new(j, "msg", json_string(msg)) || !set_str(j, "details", err ? err->details : NULL)) {
		json_decref(j);
		return NULL;
	}
	return j;
}
