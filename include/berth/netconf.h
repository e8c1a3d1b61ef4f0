/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Network configuration lists (core/net/netconf.c): .conflist/.conf files as libcni reads
 * them, and the embedded default network. */

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#include "berth/cni.h"
#include "berth/error.h"

#define BERTH_DEFAULT_CONFIG_DIR "/etc/cni/net.d"
#define BERTH_DEFAULT_NETWORK "berth"

/* One plugin of a list: its type and its config object (a reference into the list's JSON). */
struct berth_netconf_plugin {
	const char *type;
	json_t *conf;
};

/* A network configuration list, loaded from a .conflist (or a single .conf up-converted). */
struct berth_netconf {
	char *name;
	char *cni_version; /* the negotiated version (highest of cniVersion and cniVersions) */
	bool disable_check;
	bool disable_gc;
	char *source;      /* file it came from, or "<embedded>" / "<cache>" */
	char *bytes;       /* the exact bytes, as libcni caches them */
	size_t len;
	json_t *json;      /* the whole list */
	struct berth_netconf_plugin *plugins;
	size_t n_plugins;
};

void berth_netconf_free(struct berth_netconf *c);
static inline void berth_netconf_freep(struct berth_netconf **c)
{
	if (*c)
		berth_netconf_free(*c);
}
#define _cleanup_netconf_ __attribute__((cleanup(berth_netconf_freep)))

/* Parse and validate a conflist (or, when `single` is true, one plugin .conf).  `source` names
 * the origin in errors ("<file>: <field>: problem"); code 7 for an invalid config, 6 for JSON. */
int berth_netconf_parse(const char *bytes, size_t len, const char *source, bool single,
			struct berth_netconf **ret, berth_error *err);
int berth_netconf_load_file(const char *path, struct berth_netconf **ret, berth_error *err);
/* The network `name` from dir: .conflist, .conf and .json files in file-name order, conflists
 * first as libcni does; a name defined twice is an error naming both files.  The embedded
 * default network answers to BERTH_DEFAULT_NETWORK when no file defines it.  -ENOENT with a
 * message when there is no such network. */
int berth_netconf_find(const char *dir, const char *name, struct berth_netconf **ret,
		       berth_error *err);
/* The embedded default network (bridge berth0, 10.213.0.0/24). */
int berth_netconf_default(struct berth_netconf **ret, berth_error *err);

/* Every file of dir, parsed; files that fail to parse are reported in ret_errors (a JSON array
 * of {file, error}).  The embedded default is appended when no file defines it. */
int berth_netconf_list(const char *dir, struct berth_netconf ***ret, size_t *ret_n,
		       json_t **ret_errors, berth_error *err);
void berth_netconf_list_free(struct berth_netconf **v, size_t n);
