// SPDX-License-Identifier: Apache-2.0
/* The dhcp network config (its ipam section), the client id, and the plugin<->daemon framing. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "berth/cleanup.h"
#include "berth/file.h"
#include "berth/json.h"
#include "dhcp-internal.h"

static const struct {
	const char *name;
	int code;
} option_names[] = {
	{ "dhcp-client-identifier", DHCP_OPT_CLIENT_ID },
	{ "subnet-mask", DHCP_OPT_SUBNET_MASK },
	{ "routers", DHCP_OPT_ROUTER },
	{ "host-name", DHCP_OPT_HOSTNAME },
	{ "user-class", 77 },
	{ "vendor-class-identifier", 60 },
};

int berth_dhcp_option_code(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(option_names); i++)
		if (STREQ(name, option_names[i].name))
			return option_names[i].code;
	char *end;
	errno = 0;
	unsigned long v = strtoul(name, &end, 10);
	if (!*name || *end || errno || name[0] == '-' || name[0] == '+' || v < 1 || v > 254)
		return -EINVAL;
	return (int)v;
}

char *berth_dhcp_client_id(const char *container_id, const char *net_name, const char *ifname)
{
	char *s = NULL;
	if (asprintf(&s, "%s/%s/%s", container_id, net_name, ifname) < 0)
		return NULL;
	if (strlen(s) > 254)
		s[254] = '\0';
	return s;
}

/* A Go-style duration ("10s", "1m30s", "500ms") or a number of seconds; ms in *ret. */
static int parse_duration(json_t *v, int64_t *ret)
{
	if (json_is_integer(v)) {
		if (json_integer_value(v) <= 0 || json_integer_value(v) > 86400)
			return -EINVAL;
		*ret = json_integer_value(v) * 1000;
		return 0;
	}
	if (!json_is_string(v))
		return -EINVAL;
	const char *s = json_string_value(v);
	int64_t total = 0;
	if (!*s)
		return -EINVAL;
	while (*s) {
		char *end;
		errno = 0;
		if (*s < '0' || *s > '9')
			return -EINVAL;
		long long n = strtoll(s, &end, 10);
		if (errno || end == s || n > 86400000)
			return -EINVAL;
		s = end;
		int64_t mul;
		if (!strncmp(s, "ms", 2))
			mul = 1, s += 2;
		else if (*s == 's')
			mul = 1000, s++;
		else if (*s == 'm')
			mul = 60000, s++;
		else if (*s == 'h')
			mul = 3600000, s++;
		else
			return -EINVAL;
		total += n * mul;
		if (total > 86400000LL)
			return -EINVAL;
	}
	if (total <= 0)
		return -EINVAL;
	*ret = total;
	return 0;
}

/* CNI_ARGS as the reference reads it for "fromArg": K=V pairs split on ';', loosely. */
static char *cni_arg(const char *args, const char *key)
{
	if (!args || !key || !*key)
		return NULL;
	size_t kl = strlen(key);
	const char *p = args;
	char *found = NULL;
	while (*p) {
		const char *e = strchr(p, ';');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if (n > kl && !strncmp(p, key, kl) && p[kl] == '=') {
			free(found);
			found = strndup(p + kl + 1, n - kl - 1);
		}
		p += n;
		if (*p)
			p++;
	}
	return found;
}

void berth_dhcp_conf_free(struct dhcp_conf *c)
{
	for (size_t i = 0; i < c->n_provide; i++)
		free(c->provide[i].value);
	free(c->provide);
	c->provide = NULL;
	c->n_provide = 0;
}

static int add_request(struct dhcp_conf *c, int code)
{
	for (size_t i = 0; i < c->n_request; i++)
		if (c->request[i] == code)
			return 0;
	if (c->n_request >= sizeof(c->request))
		return -E2BIG;
	c->request[c->n_request++] = (uint8_t)code;
	return 0;
}

static int conf_parse(json_t *config, const char *cni_args, struct dhcp_conf *c,
		      berth_error *err)
{
	json_t *ipam = NULL, *arr = NULL, *v;
	size_t i;
	int64_t n;
	bool skip_default = false;
	int r;

	memset(c, 0, sizeof(*c));
	c->socket_path = BERTH_DHCP_DEFAULT_SOCKET;
	c->broadcast = -1;
	if ((r = berth_json_get_object(config, NULL, "ipam", false, &ipam, err)) < 0)
		return r;
	if (!ipam)
		goto defaults;
	if ((r = berth_json_get_string(ipam, "ipam", "daemonSocketPath", false, &c->socket_path,
				       err)) < 0)
		return r;
	if (!*c->socket_path || c->socket_path[0] != '/')
		return berth_error_set(err, BERTH_ERR_INVALID_CONFIG, EINVAL,
				       "ipam.daemonSocketPath: must be an absolute path: \"%s\"",
				       c->socket_path);
	n = 0;
	if ((r = berth_json_get_int(ipam, "ipam", "priority", false, 0, INT32_MAX, &n, err)) < 0)
		return r;
	c->priority = (int)n;
	if ((v = json_object_get(ipam, "timeout")) && !json_is_null(v) &&
	    parse_duration(v, &c->timeout_ms) < 0)
		return berth_error_set(err, BERTH_ERR_INVALID_CONFIG, EINVAL,
				       "ipam.timeout: not a duration (\"10s\", \"1m\", \"500ms\") "
				       "of at most 24h");
	/* absent or null: the daemon's default (-1) */
	bool bc = false;
	if ((r = berth_json_get_bool(ipam, "ipam", "broadcast", false, &bc, err)) < 0)
		return r;
	if ((v = json_object_get(ipam, "broadcast")) && !json_is_null(v))
		c->broadcast = bc;

	if ((r = berth_json_get_array(ipam, "ipam", "request", false, &arr, err)) < 0)
		return r;
	json_array_foreach(arr, i, v) {
		char what[64];
		const char *opt = NULL;
		bool sd = false;
		snprintf(what, sizeof(what), "ipam.request[%zu]", i);
		if (!json_is_object(v))
			return berth_error_set(err, BERTH_ERR_INVALID_CONFIG, EINVAL,
					       "%s: not an object", what);
		if ((r = berth_json_get_bool(v, what, "skipDefault", false, &sd, err)) < 0 ||
		    (r = berth_json_get_string(v, what, "option", false, &opt, err)) < 0)
			return r;
		skip_default |= sd;
		if (!opt || !*opt)
			continue;
		int code = berth_dhcp_option_code(opt);
		if (code < 0)
			return berth_error_set(err, BERTH_ERR_INVALID_CONFIG, EINVAL,
					       "%s.option: can not parse option \"%s\"", what, opt);
		add_request(c, code);
	}
	arr = NULL;
	if ((r = berth_json_get_array(ipam, "ipam", "provide", false, &arr, err)) < 0)
		return r;
	if (arr && json_array_size(arr)) {
		c->provide = calloc(json_array_size(arr) * 2, sizeof(*c->provide));
		if (!c->provide)
			return berth_error_set(err, BERTH_ERR_INTERNAL, ENOMEM, "out of memory");
	}
	json_array_foreach(arr, i, v) {
		char what[64];
		const char *opt = NULL, *val = NULL, *from = NULL;
		snprintf(what, sizeof(what), "ipam.provide[%zu]", i);
		if (!json_is_object(v))
			return berth_error_set(err, BERTH_ERR_INVALID_CONFIG, EINVAL,
					       "%s: not an object", what);
		if ((r = berth_json_get_string(v, what, "option", true, &opt, err)) < 0 ||
		    (r = berth_json_get_string(v, what, "value", false, &val, err)) < 0 ||
		    (r = berth_json_get_string(v, what, "fromArg", false, &from, err)) < 0)
			return r;
		int code = berth_dhcp_option_code(opt);
		if (code < 0)
			return berth_error_set(err, BERTH_ERR_INVALID_CONFIG, EINVAL,
					       "%s.option: can not parse option \"%s\"", what, opt);
		if (val && *val) {
			if (strlen(val) > 255)
				return berth_error_set(err, BERTH_ERR_INVALID_CONFIG, EINVAL,
						       "%s.value: value too long for option \"%s\"",
						       what, opt);
			c->provide[c->n_provide].code = (uint8_t)code;
			if (!(c->provide[c->n_provide++].value = strdup(val)))
				return berth_error_set(err, BERTH_ERR_INTERNAL, ENOMEM, "out of memory");
		}
		_cleanup_free_ char *a = cni_arg(cni_args, from);
		if (a) {
			if (strlen(a) > 255)
				return berth_error_set(err, BERTH_ERR_INVALID_CONFIG, EINVAL,
						       "%s.fromArg: value too long for option \"%s\" "
						       "from CNI_ARGS \"%s\"", what, opt, from);
			c->provide[c->n_provide].code = (uint8_t)code;
			c->provide[c->n_provide++].value = TAKE_PTR(a);
		}
	}
defaults:
	if (!skip_default) {
		add_request(c, DHCP_OPT_ROUTER);
		add_request(c, DHCP_OPT_SUBNET_MASK);
	}
	return 0;
}

int berth_dhcp_conf_parse(json_t *config, const char *cni_args, struct dhcp_conf *c,
			  berth_error *err)
{
	int r = conf_parse(config, cni_args, c, err);
	if (r < 0)
		berth_dhcp_conf_free(c);
	return r;
}

int berth_dhcp_send(int fd, json_t *j, berth_error *err)
{
	_cleanup_free_ char *s = berth_json_dump(j);
	if (!s)
		return berth_error_set(err, BERTH_ERR_INTERNAL, ENOMEM, "out of memory");
	if (berth_write_all(fd, s, strlen(s)) < 0)
		return berth_error_errno(err, BERTH_ERR_IO, "writing to the dhcp daemon socket");
	shutdown(fd, SHUT_WR);
	return 0;
}

int berth_dhcp_recv(int fd, json_t **ret, berth_error *err)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	int r = berth_read_fd(fd, 1 << 20, &buf, &len, err);
	if (r < 0)
		return r;
	if (len == 0)
		return berth_error_set(err, BERTH_ERR_IO, EPIPE, "the peer closed without answering");
	r = berth_json_parse(buf, len, ret, err);
	if (r < 0)
		return r;
	if (!json_is_object(*ret)) {
		json_decref(*ret);
		*ret = NULL;
		return berth_error_set(err, BERTH_ERR_DECODE, EINVAL, "not a JSON object");
	}
	return 0;
}
