/* SPDX-License-Identifier: Apache-2.0 */
/* The berth CLI: dispatch and the options every command shares. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth/cleanup.h"
#include "berth/core.h"
#include "berth/log.h"
#include "cli-internal.h"

/* The storage side (core/cli/storage.c) may not be in this build: weak until it is. */
int berth_cli_storage(int argc, char **argv) __attribute__((weak));

static const char usage[] =
	"usage: berth [OPTIONS] COMMAND ...\n"
	"\n"
	"commands:\n"
	"  net add [NETWORK] --container ID --netns PATH [--ifname IF] [--args K=V;..]\n"
	"          [--publish [IP:]HOST:CONTAINER[/proto]]... [--ip IP]... [--mac MAC]\n"
	"          [--cap NAME=JSON]...  (any capability: bandwidth, dns, aliases, ...)\n"
	"  net del [NETWORK] --container ID [--ifname IF] [--netns PATH]\n"
	"  net check [NETWORK] --container ID [--ifname IF]\n"
	"  net status [NETWORK]\n"
	"  net gc [NETWORK] [--valid ID[:IF]]...\n"
	"  net ls\n"
	"  net show NETWORK\n"
	"  net reapply          (rebuild our nftables elements after `nft flush ruleset`)\n"
	"  inspect CONTAINER [--json | --dot]\n"
	"  oci-hook             (createRuntime/poststop hook; OCI state on stdin)\n"
	"  storage ...          (container storage, see `berth storage --help`)\n"
	"  version\n"
	"\n"
	"options (anywhere on the line):\n"
	"  --config-dir DIR     network configs (BERTH_CONFIG_DIR, NETCONFPATH; " BERTH_DEFAULT_CONFIG_DIR ")\n"
	"  --plugin-path PATH   ':'-separated plugin dirs (CNI_PATH; default our libexec dir\n"
	"                       then /opt/cni/bin)\n"
	"  --cache-dir DIR      libcni result cache base (BERTH_CACHE_DIR; " BERTH_DEFAULT_CACHE_DIR ")\n"
	"  --timeout SECONDS    per plugin call (BERTH_PLUGIN_TIMEOUT; 120, 0 = none)\n"
	"  --no-validate        do not run VERSION on each plugin before use\n"
	"  --json               machine-readable output\n";

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
};

static const struct option options[] = {
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

static int __attribute__((format(printf, 1, 2))) bad_usage(const char *fmt, ...)
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
	while ((o = getopt_long(argc, argv, "h", options, NULL)) != -1) {
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
				return bad_usage("--timeout %s: expected seconds", optarg);
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
				return bad_usage("%s", err.msg);
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
				return bad_usage("--cap %s: expected NAME=JSON", optarg);
			v = json_loads(eq + 1, JSON_DECODE_ANY, &jerr);
			if (!v)
				return bad_usage("--cap %s: invalid JSON: %s", optarg, jerr.text);
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
		case 'h':
			fputs(usage, stdout);
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

static void cli_defaults(struct cli *c)
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

/* A plugin may exit without reading all of its stdin (VERSION does): the write then fails with
 * EPIPE instead of killing us.  A handler, unlike SIG_IGN, is reset to default across exec,
 * so the plugins keep the default disposition. */
static void on_sigpipe(int sig)
{
}

static int run(struct cli *cp, int argc, char **argv)
{
	struct cli c = *cp;
	int first = 1;

	/* global options before the command */
	while (first < argc && argv[first][0] == '-') {
		if (STREQ(argv[first], "-h") || STREQ(argv[first], "--help")) {
			fputs(usage, stdout);
			return 0;
		}
		if (STREQ(argv[first], "--version")) {
			printf("berth %s\n", BERTH_VERSION);
			return 0;
		}
		const struct option *o = NULL;
		for (const struct option *k = options; k->name; k++)
			if (STREQ(argv[first] + 2, k->name))
				o = k;
		first += o && o->has_arg == required_argument ? 2 : 1;
	}
	if (first > argc)
		first = argc;
	if (first > 1) {
		int oi;
		int r = cli_parse(&c, first, argv, &oi);
		if (r)
			return r == CLI_HELP ? 0 : r;
	}
	if (first >= argc) {
		fputs(usage, stderr);
		return 2;
	}
	const char *cmd = argv[first];

	if (STREQ(cmd, "storage")) {
		if (!berth_cli_storage) {
			fprintf(stderr, "berth: storage commands are not in this build\n");
			return 2;
		}
		return berth_cli_storage(argc - first, argv + first);
	}
	if (STREQ(cmd, "version")) {
		int oi;
		int r = cli_parse(&c, argc, argv, &oi);
		if (r)
			return r == CLI_HELP ? 0 : r;
		if (c.json) {
			json_t *j = json_pack("{ss ss ss ss s[sssssss]}", "version", BERTH_VERSION,
					      "cniBinDir", BERTH_CNI_BIN_DIR, "pluginPath",
					      c.core.plugin_path && *c.core.plugin_path
						      ? c.core.plugin_path
						      : berth_core_default_plugin_path(),
					      "configDir", c.config_dir, "cniVersions", "0.1.0",
					      "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0");
			cli_print_json(j);
			json_decref(j);
		} else {
			printf("berth %s\n", BERTH_VERSION);
			printf("CNI spec versions: 0.1.0 0.2.0 0.3.0 0.3.1 0.4.0 1.0.0 1.1.0\n");
			printf("plugin path: %s\n", c.core.plugin_path && *c.core.plugin_path
							    ? c.core.plugin_path
							    : berth_core_default_plugin_path());
			printf("config dir: %s\n", c.config_dir);
			printf("cache dir: %s\n", berth_core_cache_dir(&c.core));
		}
		return 0;
	}
	/* the subcommands see argv from the command on, options anywhere */
	if (STREQ(cmd, "net"))
		return cli_net(&c, argc - first, argv + first);
	if (STREQ(cmd, "oci-hook"))
		return cli_oci_hook(&c, argc - first, argv + first);
	if (STREQ(cmd, "inspect"))
		return cli_inspect(&c, argc - first, argv + first);
	fprintf(stderr, "berth: unknown command \"%s\"\n%s", cmd, usage);
	return 2;
}

int main(int argc, char **argv)
{
	struct cli c = { 0 };
	int r;

	signal(SIGPIPE, on_sigpipe);
	berth_log_init("berth");
	cli_defaults(&c);
	r = run(&c, argc, argv);
	json_decref(c.publish);
	json_decref(c.ips);
	json_decref(c.valid);
	json_decref(c.caps);
	return r;
}
