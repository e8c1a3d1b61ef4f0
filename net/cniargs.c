/* SPDX-License-Identifier: Apache-2.0 */
/* CNI_ARGS (Go's types.LoadArgs semantics and messages) and the requested IP/MAC channels. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth/cleanup.h"
#include "berth/cni.h"
#include "berth/cniargs.h"

/* Append s quoted as Go's %q does (printable ASCII kept, \" \\ and controls escaped). */
static void go_quote(char *buf, size_t size, size_t *len, const char *s)
{
#define PUT(c)                                                                                     \
	do {                                                                                       \
		if (*len + 1 < size)                                                               \
			buf[(*len)++] = (c);                                                       \
	} while (0)
	static const char hex[] = "0123456789abcdef";

	PUT('"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\') {
			PUT('\\');
			PUT(*p);
		} else if (*p == '\n' || *p == '\t' || *p == '\r') {
			PUT('\\');
			PUT(*p == '\n' ? 'n' : *p == '\t' ? 't' : 'r');
		} else if (*p < 0x20 || *p == 0x7f) {
			PUT('\\');
			PUT('x');
			PUT(hex[*p >> 4]);
			PUT(hex[*p & 15]);
		} else {
			PUT(*p);
		}
	}
	PUT('"');
	buf[*len] = '\0';
#undef PUT
}

static int parse_bool(const char *v, bool *ret)
{
	if (!strcasecmp(v, "1") || !strcasecmp(v, "true"))
		*ret = true;
	else if (!strcasecmp(v, "0") || !strcasecmp(v, "false"))
		*ret = false;
	else
		return -EINVAL;
	return 0;
}

int berth_cni_args_parse(const char *args, const char *const *known, char **ret_values,
			 berth_error *err)
{
	_cleanup_free_ char *copy = NULL;
	char unknown[BERTH_ERROR_MSG_MAX - 32];
	size_t ulen = 0, n_unknown = 0, n_known = 0;
	bool ignore_unknown = false;
	char *pair, *next;
	int r = 0;

	while (known && known[n_known])
		n_known++;
	for (size_t i = 0; i < n_known; i++)
		ret_values[i] = NULL;
	if (!args || !*args)
		return 0;
	if (!(copy = strdup(args)))
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	unknown[0] = '\0';
	for (pair = copy; pair; pair = next) {
		char *eq, *key, *value, quoted[512];
		size_t qlen = 0;
		size_t k;

		next = strchr(pair, ';');
		if (next)
			*next++ = '\0';
		eq = strchr(pair, '=');
		if (!eq || strchr(eq + 1, '=')) {
			go_quote(quoted, sizeof(quoted), &qlen, pair);
			r = berth_error_set(err, BERTH_CNI_ERR_INVALID_ENV, EINVAL,
					    "ARGS: invalid pair %s", quoted);
			goto fail;
		}
		*eq = '\0';
		key = pair;
		value = eq + 1;
		if (STREQ(key, "IgnoreUnknown")) {
			if (parse_bool(value, &ignore_unknown) < 0) {
				char lower[256];
				size_t i;
				*eq = '=';
				go_quote(quoted, sizeof(quoted), &qlen, pair);
				for (i = 0; i < sizeof(lower) - 1 && value[i]; i++)
					lower[i] = (char)tolower((unsigned char)value[i]);
				lower[i] = '\0';
				r = berth_error_set(err, BERTH_CNI_ERR_INVALID_ENV, EINVAL,
						    "ARGS: error parsing value of pair %s: boolean "
						    "unmarshal error: invalid input %s",
						    quoted, lower);
				goto fail;
			}
			continue;
		}
		for (k = 0; k < n_known; k++)
			if (STREQ(known[k], key))
				break;
		if (k == n_known) {
			*eq = '=';
			if (n_unknown++ && ulen + 2 < sizeof(unknown)) {
				unknown[ulen++] = ' ';
				unknown[ulen] = '\0';
			}
			go_quote(unknown, sizeof(unknown), &ulen, pair);
			continue;
		}
		free(ret_values[k]);
		if (!(ret_values[k] = strdup(value))) {
			r = berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
			goto fail;
		}
	}
	if (n_unknown && !ignore_unknown) {
		r = berth_error_set(err, BERTH_CNI_ERR_INVALID_ENV, EINVAL, "ARGS: unknown args [%s]",
				    unknown);
		goto fail;
	}
	return 0;
fail:
	for (size_t i = 0; i < n_known; i++) {
		free(ret_values[i]);
		ret_values[i] = NULL;
	}
	return r;
}

/* ---- MAC --------------------------------------------------------------------------------- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int berth_mac_parse(const char *s, uint8_t ret[6])
{
	uint8_t mac[6];
	size_t len = s ? strlen(s) : 0;

	if (len == 17 && (s[2] == ':' || s[2] == '-')) {
		for (int i = 0; i < 6; i++) {
			int h = hexval(s[3 * i]), l = hexval(s[3 * i + 1]);
			if (h < 0 || l < 0 || (i < 5 && s[3 * i + 2] != s[2]))
				return -EINVAL;
			mac[i] = (uint8_t)(h << 4 | l);
		}
	} else if (len == 14 && s[4] == '.' && s[9] == '.') {
		for (int i = 0; i < 6; i++) {
			int off = (i / 2) * 5 + (i % 2) * 2;
			int h = hexval(s[off]), l = hexval(s[off + 1]);
			if (h < 0 || l < 0)
				return -EINVAL;
			mac[i] = (uint8_t)(h << 4 | l);
		}
	} else {
		return -EINVAL;
	}
	memcpy(ret, mac, 6);
	return 0;
}

char *berth_mac_format(const uint8_t mac[6], char *buf)
{
	snprintf(buf, BERTH_MAC_STRLEN, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2],
		 mac[3], mac[4], mac[5]);
	return buf;
}

/* ---- requested IPs and MAC --------------------------------------------------------------- */

static json_t *get_path(json_t *config, const char *a, const char *b, const char *c)
{
	json_t *v = json_object_get(config, a);
	if (v && b)
		v = json_is_object(v) ? json_object_get(v, b) : NULL;
	if (v && c)
		v = json_is_object(v) ? json_object_get(v, c) : NULL;
	return v && !json_is_null(v) ? v : NULL;
}

struct ip_list {
	struct berth_cni_req_ip *v;
	size_t n;
};

static int list_add(struct ip_list *l, const char *s, int code, const char *what, size_t idx,
		    berth_error *err)
{
	struct berth_cni_req_ip ip = {0};
	struct berth_cni_req_ip *nv;

	ip.has_prefix = strchr(s, '/') != NULL;
	if (berth_ipnet_parse_loose(s, &ip.net) < 0) {
		if (idx == (size_t)-1)
			return berth_error_set(err, code, EINVAL, "%s: invalid IP address \"%s\"",
					       what, s);
		return berth_error_set(err, code, EINVAL, "%s[%zu]: invalid IP address \"%s\"", what,
				       idx, s);
	}
	for (size_t i = 0; i < l->n; i++)
		if (berth_ipnet_equal(&l->v[i].net, &ip.net) && l->v[i].has_prefix == ip.has_prefix)
			return 0;
	if (!(nv = realloc(l->v, (l->n + 1) * sizeof(*nv))))
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	l->v = nv;
	l->v[l->n++] = ip;
	return 0;
}

static int add_json_ips(struct ip_list *l, json_t *a, const char *what, berth_error *err)
{
	json_t *v;
	size_t i;
	int r;

	if (!json_is_array(a))
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "%s: must be an array of strings", what);
	json_array_foreach(a, i, v) {
		if (!json_is_string(v))
			return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
					       "%s[%zu]: must be a string", what, i);
		if ((r = list_add(l, json_string_value(v), BERTH_CNI_ERR_INVALID_CONFIG, what, i,
				  err)) < 0)
			return r;
	}
	return 0;
}

static int add_args_ips(struct ip_list *l, const char *args_ip, berth_error *err)
{
	_cleanup_free_ char *copy = strdup(args_ip);
	char *item, *save = NULL;
	int r;

	if (!copy)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	for (item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		char *end;
		while (isspace((unsigned char)*item))
			item++;
		end = item + strlen(item);
		while (end > item && isspace((unsigned char)end[-1]))
			*--end = '\0';
		if ((r = list_add(l, item, BERTH_CNI_ERR_INVALID_ENV, "CNI_ARGS IP", (size_t)-1,
				  err)) < 0)
			return r;
	}
	return 0;
}

static bool nonempty_array(json_t *a)
{
	return a && (!json_is_array(a) || json_array_size(a) > 0);
}

int berth_cni_requested_ips(json_t *config, const char *args_ip, enum berth_cni_ips_mode mode,
			    struct berth_cni_req_ip **ret, size_t *ret_n, berth_error *err)
{
	json_t *rc = get_path(config, "runtimeConfig", "ips", NULL);
	json_t *args = get_path(config, "args", "cni", "ips");
	struct ip_list l = {NULL, 0};
	bool have_env = args_ip && *args_ip;
	int r = 0;

	if (mode == BERTH_CNI_IPS_OVERRIDE) {
		if (nonempty_array(rc))
			r = add_json_ips(&l, rc, "runtimeConfig.ips", err);
		else if (nonempty_array(args))
			r = add_json_ips(&l, args, "args.cni.ips", err);
		else if (have_env)
			r = add_args_ips(&l, args_ip, err);
	} else {
		if (nonempty_array(args))
			r = add_json_ips(&l, args, "args.cni.ips", err);
		else if (have_env)
			r = add_args_ips(&l, args_ip, err);
		if (r >= 0 && nonempty_array(rc))
			r = add_json_ips(&l, rc, "runtimeConfig.ips", err);
	}
	if (r < 0) {
		free(l.v);
		return r;
	}
	*ret = l.v;
	*ret_n = l.n;
	return 0;
}

static int mac_from(json_t *v, const char *what, uint8_t ret_mac[6], berth_error *err)
{
	if (!json_is_string(v))
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "%s: must be a string", what);
	if (berth_mac_parse(json_string_value(v), ret_mac) < 0)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "%s: invalid MAC address \"%s\"", what, json_string_value(v));
	return 1;
}

int berth_cni_requested_mac(json_t *config, const char *args_mac, uint8_t ret_mac[6],
			    berth_error *err)
{
	json_t *rc = get_path(config, "runtimeConfig", "mac", NULL);
	json_t *args = get_path(config, "args", "cni", "mac");

	/* An empty string means "not set" in the Go plugins. */
	if (rc && !(json_is_string(rc) && !*json_string_value(rc)))
		return mac_from(rc, "runtimeConfig.mac", ret_mac, err);
	if (args && !(json_is_string(args) && !*json_string_value(args)))
		return mac_from(args, "args.cni.mac", ret_mac, err);
	if (args_mac && *args_mac) {
		if (berth_mac_parse(args_mac, ret_mac) < 0)
			return berth_error_set(err, BERTH_CNI_ERR_INVALID_ENV, EINVAL,
					       "CNI_ARGS MAC: invalid MAC address \"%s\"", args_mac);
		return 1;
	}
	return 0;
}
