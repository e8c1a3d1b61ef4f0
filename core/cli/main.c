/* SPDX-License-Identifier: Apache-2.0 */
/* The berth CLI: the command table and the dispatch to it. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "berth/cache.h"
#include "berth/cleanup.h"
#include "berth/cni.h"
#include "berth/log.h"
#include "cli-internal.h"

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

static int cli_version(struct cli *c, int argc, char **argv)
{
	const char *path;
	int oi, r = cli_parse(c, argc, argv, &oi);

	if (r)
		return r == CLI_HELP ? 0 : r;
	path = c->core.plugin_path && *c->core.plugin_path ? c->core.plugin_path
							   : berth_core_default_plugin_path();
	if (c->json) {
		json_t *v = json_array();
		for (const char *const *s = berth_cni_all_versions; *s; s++)
			json_array_append_new(v, json_string(*s));
		json_t *j = json_pack("{ss ss ss ss so}", "version", BERTH_VERSION, "cniBinDir",
				      BERTH_CNI_BIN_DIR, "pluginPath", path, "configDir",
				      c->config_dir, "cniVersions", v);
		cli_print_json(j);
		json_decref(j);
		return 0;
	}
	printf("berth %s\n", BERTH_VERSION);
	printf("CNI spec versions:");
	for (const char *const *s = berth_cni_all_versions; *s; s++)
		printf(" %s", *s);
	printf("\n");
	printf("plugin path: %s\n", path);
	printf("config dir: %s\n", c->config_dir);
	printf("cache dir: %s\n", berth_core_cache_dir(&c->core));
	return 0;
}

/* Each command gets argv from its own name on, with options anywhere. */
static const struct cli_command {
	const char *name;
	int (*run)(struct cli *c, int argc, char **argv);
	const char *usage; /* NULL: berth's */
} commands[] = {
	{ "net", cli_net, NULL },
	{ "inspect", cli_inspect, NULL },
	{ "oci-hook", cli_oci_hook, NULL },
	{ "storage", cli_storage, cli_storage_usage },
	{ "version", cli_version, NULL },
	{ NULL, NULL, NULL },
};

/* A plugin may exit without reading all of its stdin (VERSION does): the write then fails with
 * EPIPE instead of killing us.  A handler, unlike SIG_IGN, is reset to default across exec,
 * so the plugins keep the default disposition. */
static void on_sigpipe(int sig)
{
}

static int run(struct cli *c, int argc, char **argv)
{
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
		for (const struct option *k = cli_options; k->name; k++)
			if (STREQ(argv[first] + 2, k->name))
				o = k;
		first += o && o->has_arg == required_argument ? 2 : 1;
	}
	if (first > argc)
		first = argc;
	if (first > 1) {
		int oi;
		int r = cli_parse(c, first, argv, &oi);
		if (r)
			return r == CLI_HELP ? 0 : r;
	}
	if (first >= argc) {
		fputs(usage, stderr);
		return 2;
	}
	for (const struct cli_command *cmd = commands; cmd->name; cmd++) {
		if (!STREQ(cmd->name, argv[first]))
			continue;
		if (cmd->usage)
			c->usage = cmd->usage;
		return cmd->run(c, argc - first, argv + first);
	}
	fprintf(stderr, "berth: unknown command \"%s\"\n%s", argv[first], usage);
	return 2;
}

int main(int argc, char **argv)
{
	struct cli c = { .usage = usage };
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
