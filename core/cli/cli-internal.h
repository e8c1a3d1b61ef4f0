/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* The berth CLI: one file per command (net.c, hook.c, inspect.c, storage.c), the command table
 * in main.c, the helpers every command uses in common.c. */

#include <stdbool.h>
#include <getopt.h>
#include <jansson.h>

#include "berth/cache.h"
#include "berth/chain.h"
#include "berth/error.h"
#include "berth/netconf.h"

/* Options every command shares (also settable through the environment). */
struct cli {
	struct berth_core core;
	const char *usage; /* what --help prints: the command's usage, else berth's */
	const char *config_dir;
	bool json;
	bool dot;
	/* per-attachment options */
	const char *container;
	const char *netns;
	const char *ifname;
	const char *args;
	json_t *publish; /* array of portMappings */
	json_t *ips;     /* array of strings */
	const char *mac;
	json_t *caps;    /* --cap NAME=JSON: any other capability args */
	json_t *valid;   /* gc --valid: array of "ID[:IFNAME]" */
	bool all;
	/* storage */
	const char *storage_config; /* --config */
	const char *name;           /* --name */
	const char *ref;            /* --ref */
	const char *output;         /* -o, --output */
	bool ro, force;
};

/* ---- common.c ---- */
extern const struct option cli_options[];
/* Environment defaults; the JSON arrays are freed by the caller. */
void cli_defaults(struct cli *c);
/* Parse options from argv (permuting); positional arguments are left in argv[optind..].
 * Returns 0, 2 on a usage error, or CLI_HELP after printing c->usage (exit 0). */
#define CLI_HELP 3
int cli_parse(struct cli *c, int argc, char **argv, int *ret_optind);
/* Print the error (and as JSON on stdout with --json); returns the exit code 1. */
int cli_fail(const struct cli *c, const berth_error *err);
void cli_print_json(json_t *j);
/* "berth: MESSAGE" and a pointer to --help on stderr; returns the exit code 2. */
int cli_bad_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Parse "HOST:CONTAINER[/proto]" or "IP:HOST:CONTAINER[/proto]" into a portMappings entry. */
int berth_parse_publish(const char *spec, json_t **ret, berth_error *err);

/* ---- the commands: argv[0] is the command's name; each returns the exit code ---- */
int cli_net(struct cli *c, int argc, char **argv);
int cli_oci_hook(struct cli *c, int argc, char **argv);
int cli_inspect(struct cli *c, int argc, char **argv);
int cli_storage(struct cli *c, int argc, char **argv);
extern const char cli_storage_usage[];

/* Attach/detach helpers shared by `net` and the OCI hook. */
/* The network for a DEL: the config dir, else the config the attachment's cache entry
 * carries, so that a container can be detached after its conflist is gone. */
int cli_find_for_del(const struct cli *c, const char *name, const char *container,
		     const char *ifname, struct berth_netconf **ret, berth_error *err);
json_t *cli_cap_args(const struct cli *c);

/* The storage side of `berth inspect CONTAINER` (storage.c): 0 with *ret NULL when the
 * container has no storage on this host. */
int cli_storage_inspect(const char *container, json_t **ret, berth_error *err);
