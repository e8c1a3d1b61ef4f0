/* SPDX-License-Identifier: Apache-2.0 */
/* The berth CLI's shared helpers: the options every command takes (parse), the error and JSON
 * printers (fail, print), capability args and --publish. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth/cleanup.h"
#include "berth/cache.h"
#include "cli-internal.h"

enum {
	OPT_CONFIG_DIR = 0x100,
	OPT_PLUGIN_PATH,
	OPT_CACHE_DIR,
	OPT_TIMEOUT,
	OPT_NO_VALIDATE,
	OPT_JSON,
	OPT_DOT,
	OPT_CONTAINER,
	OPT_NETNS,
	OPT_IFNAME,
	OPT_ARGS,
	OPT_PUBLISH,
	OPT_IP,
	OPT_MAC,
	OPT_CAP,
	OPT_VALID,
	OPT_ALL,
	OPT_STORAGE_CONFIG,
	OPT_NAME,
	OPT_REF,
	OPT_RO,
	OPT_FORCE,
};

const struct option cli_options[] = {
	{ "config-dir", required_argument, NULL, OPT_CONFIG_DIR },
	{ "plugin-path", required_argument, NULL, OPT_PLUGIN_PATH },
	{ "cache-dir", required_argument, NULL, OPT_CACHE_DIR },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "no-validate", no_argument, NULL, OPT_NO_VALIDATE },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "dot", no_argument, NULL, OPT_DOT },
	{ "container", required_argument, NULL, OPT_CONTAINER },
	{ "netns", required_argument, NULL, OPT_NETNS },
	{ "ifname", required_argument, NULL, OPT_IFNAME },
	{ "args", required_argument, NULL, OPT_ARGS },
	{ "publish", required_argument, NULL, OPT_PUBLISH },
	{ "ip", required_argument, NULL, OPT_IP },
	{ "mac", required_argument, NULL, OPT_MAC },
	{ "cap", required_argument, NULL, OPT_CAP },
	{ "valid", required_argument, NULL, OPT_VALID },
	{ "all", no_argument, NULL, OPT_ALL },
	/* storage */
	{ "config", required_argument, NULL, OPT_STORAGE_CONFIG },
	{ "name", required_argument, NULL, OPT_NAME },
	{ "ref", required_argument, NULL, OPT_REF },
	{ "ro", no_argument, NULL, OPT_RO },
	{ "force", no_argument, NULL, OPT_FORCE },
	{ "output", required_argument, NULL, 'o' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

int cli_fail(const struct cli *c, const berth_error *err)
{
	if (c && c->json) {
		json_t *j = json_pack("{s:i,s:s,s:s?}", "code", err->code ? err->code : 999, "msg",
				      err->msg[0] ? err->msg : strerror(err->errnum ? err->errnum
										   : EINVAL),
				      "details", err->details[0] ? err->details : NULL);
		if (j) {
			char *s = json_dumps(j, JSON_PRESERVE_ORDER | JSON_INDENT(2));
			if (s)
				printf("%s\n", s);
			free(s);
			json_decref(j);
		}
	}
	fprintf(stderr, "berth: %s\n", err->msg[0] ? err->msg : strerror(err->errnum ? err->errnum
										   : EINVAL));
	if (err->details[0])
		fprintf(stderr, "       %s\n", err->details);
	return 1;
}

void cli_print_json(json_t *j)
{
	char *s = json_dumps(j, JSON_PRESERVE_ORDER | JSON_INDENT(2));
	if (s)
		printf("%s\n", s);
	free(s);
}

int cli_bad_usage(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "berth: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n(see berth --help)\n");
	return 2;
}

int cli_parse(struct cli *c, int argc, char **argv, int *ret_optind)
{
	int o;

	optind = 1;
	opterr = 1;
	/* -c -j -n -r -f: the storage commands' short forms of --config --json --name --ref --force */
	while ((o = getopt_long(argc, argv, "hc:jn:r:fo:", cli_options, NULL)) != -1) {
		switch (o) {
		case OPT_CONFIG_DIR:
			c->config_dir = optarg;
			break;
		case OPT_PLUGIN_PATH:
			c->core.plugin_path = optarg;
			break;
		case OPT_CACHE_DIR:
			c->core.cache_dir = optarg;
			break;
		case OPT_TIMEOUT: {
			char *end;
			double s = strtod(optarg, &end);
			if (*end || s < 0 || s > 86400)
				return cli_bad_usage("--timeout %s: expected seconds", optarg);
			c->core.timeout_ms = (int)(s * 1000);
			break;
		}
		case OPT_NO_VALIDATE:
			c->core.skip_validate = true;
			break;
		case OPT_JSON:
			c->json = true;
			break;
		case OPT_DOT:
			c->dot = true;
			break;
		case OPT_CONTAINER:
			c->container = optarg;
			break;
		case OPT_NETNS:
			c->netns = optarg;
			break;
		case OPT_IFNAME:
			c->ifname = optarg;
			break;
		case OPT_ARGS:
			c->args = optarg;
			break;
		case OPT_PUBLISH: {
			berth_error err = { 0 };
			json_t *m;
			if (berth_parse_publish(optarg, &m, &err) < 0)
				return cli_bad_usage("%s", err.msg);
			json_array_append_new(c->publish, m);
			break;
		}
		case OPT_IP:
			json_array_append_new(c->ips, json_string(optarg));
			break;
		case OPT_MAC:
			c->mac = optarg;
			break;
		case OPT_CAP: {
			char *eq = strchr(optarg, '=');
			json_error_t jerr;
			json_t *v;
			if (!eq || eq == optarg)
				return cli_bad_usage("--cap %s: expected NAME=JSON", optarg);
			v = json_loads(eq + 1, JSON_DECODE_ANY, &jerr);
			if (!v)
				return cli_bad_usage("--cap %s: invalid JSON: %s", optarg, jerr.text);
			_cleanup_free_ char *name = strndup(optarg, eq - optarg);
			if (!name) {
				json_decref(v);
				return 1;
			}
			json_object_set_new(c->caps, name, v);
			break;
		}
		case OPT_VALID:
			json_array_append_new(c->valid, json_string(optarg));
			break;
		case OPT_ALL:
			c->all = true;
			break;
		case 'c':
		case OPT_STORAGE_CONFIG:
			c->storage_config = optarg;
			break;
		case 'j':
			c->json = true;
			break;
		case 'n':
		case OPT_NAME:
			c->name = optarg;
			break;
		case 'r':
		case OPT_REF:
			c->ref = optarg;
			break;
		case OPT_RO:
			c->ro = true;
			break;
		case 'f':
		case OPT_FORCE:
			c->force = true;
			break;
		case 'o':
			c->output = optarg;
			break;
		case 'h':
			fputs(c->usage, stdout);
			return CLI_HELP;
		default:
			return 2;
		}
	}
	*ret_optind = optind;
	return 0;
}

json_t *cli_cap_args(const struct cli *c)
{
	/* --cap first: the dedicated options win over a --cap of the same name */
	json_t *caps = c->caps ? json_deep_copy(c->caps) : json_object();

	if (!caps)
		return NULL;
	if (json_array_size(c->publish))
		json_object_set(caps, "portMappings", c->publish);
	if (json_array_size(c->ips))
		json_object_set(caps, "ips", c->ips);
	if (c->mac)
		json_object_set_new(caps, "mac", json_string(c->mac));
	return caps;
}

void cli_defaults(struct cli *c)
{
	const char *s;

	c->config_dir = getenv("BERTH_CONFIG_DIR");
	if (!c->config_dir || !*c->config_dir)
		c->config_dir = getenv("NETCONFPATH");
	if (!c->config_dir || !*c->config_dir)
		c->config_dir = BERTH_DEFAULT_CONFIG_DIR;
	c->core.plugin_path = getenv("CNI_PATH");
	c->core.cache_dir = getenv("BERTH_CACHE_DIR");
	c->core.timeout_ms = BERTH_DEFAULT_TIMEOUT_MS;
	s = getenv("BERTH_PLUGIN_TIMEOUT");
	if (s && *s)
		c->core.timeout_ms = (int)(strtod(s, NULL) * 1000);
	c->ifname = "eth0";
	c->publish = json_array();
	c->ips = json_array();
	c->valid = json_array();
	c->caps = json_object();
}

int berth_parse_publish(const char *spec, json_t **ret, berth_error *err)
{
	_cleanup_free_ char *s = strdup(spec);
	char *proto = "tcp", *parts[3];
	int n = 0;

	if (!s)
		return -ENOMEM;
	char *slash = strrchr(s, '/');
	if (slash) {
		*slash = '\0';
		proto = slash + 1;
	}
	if (!STREQ(proto, "tcp") && !STREQ(proto, "udp") && !STREQ(proto, "sctp"))
		goto bad;
	/* IP:HOST:CONTAINER, with an IPv6 address in brackets */
	char *p = s;
	while (p) {
		if (n == 3)
			goto bad; /* a fourth field */
		char *c;
		if (*p == '[') {
			char *end = strchr(p, ']');
			if (!end || end[1] != ':')
				goto bad;
			*end = '\0';
			parts[n++] = p + 1;
			p = end + 2;
			continue;
		}
		c = strchr(p, ':');
		parts[n++] = p;
		if (c)
			*c = '\0';
		p = c ? c + 1 : NULL;
	}
	if (n < 2)
		goto bad;
	const char *ip = n == 3 ? parts[0] : NULL;
	unsigned char addr[sizeof(struct in6_addr)];
	if (ip && *ip && inet_pton(AF_INET, ip, addr) != 1 && inet_pton(AF_INET6, ip, addr) != 1)
		goto bad;
	char *end;
	long hp = strtol(parts[n - 2], &end, 10);
	if (*end || hp < 1 || hp > 65535)
		goto bad;
	long cp = strtol(parts[n - 1], &end, 10);
	if (*end || cp < 1 || cp > 65535)
		goto bad;
	json_t *m = json_pack("{sIsIss}", "hostPort", (json_int_t)hp, "containerPort",
			      (json_int_t)cp, "protocol", proto);
	if (!m)
		return -ENOMEM;
	if (ip && *ip)
		json_object_set_new(m, "hostIP", json_string(ip));
	*ret = m;
	return 0;
bad:
	return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
			       "--publish %s: expected [IP:]HOSTPORT:CONTAINERPORT[/tcp|udp|sctp]",
			       spec);
}
