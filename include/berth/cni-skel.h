/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#include "berth/cni.h"
#include "berth/error.h"

/*
 * The plugin skeleton (the C counterpart of CNI's skel package).  A plugin's main() hands a
 * table of verb handlers to berth_plugin_main(), which reads the environment and stdin,
 * validates them, negotiates the version, dispatches, prints the result in the requested
 * version (or the error JSON, on stdout) and returns the exit code.
 */

struct berth_cni_call {
	const char *command;      /* ADD, DEL, CHECK, STATUS, GC */
	const char *container_id; /* validated against ^[A-Za-z0-9][A-Za-z0-9_.-]*$ when set */
	const char *netns;        /* NULL when unset (DEL, GC, STATUS) */
	bool netns_gone;          /* DEL only: CNI_NETNS was set but no longer exists */
	const char *ifname;       /* validated: <=15 chars, not . or .., no / : or space */
	const char *args;         /* raw CNI_ARGS, "" when unset */
	const char *path;         /* CNI_PATH, "" when unset */
	const char *stdin_data;   /* the raw config, forwarded unchanged to delegates */
	size_t stdin_len;
	json_t *config;           /* parsed stdin, owned by the skeleton */
	const char *version;      /* config cniVersion (validated) */
	const char *name;         /* config name ("" when absent) */
	struct berth_cni_result *prev_result; /* parsed prevResult, NULL when absent */
};

/* ADD returns its result in *ret (required); the others leave *ret NULL. */
typedef int (*berth_cni_verb_fn)(const struct berth_cni_call *call,
				 struct berth_cni_result **ret, berth_error *err);

struct berth_cni_plugin {
	const char *name;
	const char *min_version; /* lowest spec version supported, NULL = 0.1.0 */
	berth_cni_verb_fn add, del, check, status, gc; /* every verb; a NULL one is refused */
	bool ipam; /* an IPAM plugin: CHECK may come without prevResult (delegated CHECK) */
};

/*
 * What the skeleton guarantees the verbs (and what it refuses with the spec's codes):
 * - CHECK of a plugin that is not IPAM without prevResult: code 7 before the handler runs.
 * - DEL is lenient, because runtimes retry a failed DEL for ever: a cniVersion the plugin
 *   does not support and a prevResult that does not parse are ignored (logged).  Only stdin
 *   that is not a JSON object, a missing or unusable network name, and the CNI_* variables DEL
 *   needs (CNI_CONTAINERID, CNI_IFNAME) fail it.  A handler's DEL must likewise clean up for any
 *   config it can read far enough to find what an ADD may have left.
 */

int berth_plugin_main(const struct berth_cni_plugin *plugin, int argc, char **argv);

/* Exec the delegate plugin `type` (IPAM) found along CNI_PATH with the same environment except
 * CNI_COMMAND=command and the complete stdin config (research/cni.md §1.7).  For ADD the
 * result is parsed into *ret; for other verbs ret may be NULL.  A delegate's error JSON is
 * returned as-is in *err (its code and msg). */
int berth_cni_delegate(const struct berth_cni_call *call, const char *type, const char *command,
		       struct berth_cni_result **ret, berth_error *err);

/* DEL through the delegate `type`: one that CNI_PATH does not find (any more) has nothing
 * reserved to release, so a warning and 0 (a DEL must not fail for it). */
int berth_cni_delegate_del(const struct berth_cni_call *call, const char *type, berth_error *err);

/* DEL's IPAM step, called twice by a main plugin's DEL: with before_link true before it deletes
 * the container's link, and with false after.  IPAM DEL runs in one of the two: after the link
 * for most types (an address is never free while it is still configured: the order of the
 * reference's bridge), before it for IPAM that needs the link to release (dhcp: the
 * DHCPRELEASE goes out on the container's interface; the order of the reference's macvlan,
 * ipvlan, vlan, ptp, host-device, tap and dummy for every type).  type NULL: nothing. */
int berth_cni_ipam_del(const struct berth_cni_call *call, const char *type, bool before_link,
		       berth_error *err);

/* The undo of a delegated ADD: DEL through `type`; a failure is only logged (a warning). */
void berth_cni_delegate_undo(const struct berth_cni_call *call, const char *type);

/* Let berth_cni_delegate() run the delegate `plugin` (its .name is the type) in this process
 * instead of exec: only when the executable CNI_PATH finds for that type is the file installed
 * beside this plugin's own executable, so the code run is the code that would have been
 * exec'd.  The result still goes through its JSON form in the call's version, as it would
 * through a pipe.  Set BERTH_NO_BUILTIN_DELEGATE=1 to always exec. */
void berth_cni_delegate_builtin(const struct berth_cni_plugin *plugin);

struct berth_cni_attachment {
	char *container_id;
	char *ifname;
};
/* GC: the "cni.dev/valid-attachments" list (also the legacy "cni.dev/attachments"). A missing
 * key yields n=0 and *ret NULL with *ret_present false. */
int berth_cni_valid_attachments(json_t *config, struct berth_cni_attachment **ret, size_t *ret_n,
				bool *ret_present, berth_error *err);
void berth_cni_attachments_free(struct berth_cni_attachment *a, size_t n);
bool berth_cni_attachment_valid(const struct berth_cni_attachment *a, size_t n,
				const char *container_id, const char *ifname);
