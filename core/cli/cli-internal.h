/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>
#include <jansson.h>

#include "berth/core.h"
#include "berth/error.h"

/* Options every command shares (also settable through the environment). */
struct cli {
	struct berth_core core;
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
};

/* Parse options from argv (permuting); positional arguments are left in argv[optind..].
 * Returns 0, 2 on a usage error, or CLI_HELP after printing the help (exit 0). */
#define CLI_HELP 3
int cli_parse(struct cli *c, int argc, char **argv, int *ret_optind);
int cli_fail(const struct cli *c, const berth_error *err);
void cli_print_json(json_t *j);

int cli_net(struct cli *c, int argc, char **argv);
int cli_oci_hook(struct cli *c, int argc, char **argv);
int cli_inspect(struct cli *c, int argc, char **argv);

/* Attach/detach helpers shared by `net` and the OCI hook. */
/* The network for a DEL: the config dir, else the config the attachment's cache entry
 * carries, so that a container can be detached after its conflist is gone. */
int cli_find_for_del(const struct cli *c, const char *name, const char *container,
		     const char *ifname, struct berth_netconf **ret, berth_error *err);
json_t *cli_cap_args(const struct cli *c);
