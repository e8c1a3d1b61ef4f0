/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The per-host storage config (/etc/berth/storage.json) and driver selection
 * (storage/select.c), shared by the core (`berth storage`) and the containerd snapshotter
 * (plugins/containerd), which must not link the core.
 */

#include <jansson.h>

#include "berth/error.h"
#include "berth/storage-client.h"

#define BERTH_STOR_DEFAULT_ROOT "/var/lib/berth/storage"
#define BERTH_STOR_DEFAULT_RUNROOT "/run/berth/storage"

/* /etc/berth/storage.json (every key optional; unknown keys are code 2, named):
 *   {"driver":"auto", "root":"/var/lib/berth/storage", "runRoot":"/run/berth/storage",
 *    "priority":["overlay","devicemapper",...], "options":{"overlay":{...},...}} */
struct berth_stor_config {
	char *source; /* the file read, or "<embedded default>" */
	char *driver; /* "auto" or a driver name */
	char *root;
	char *run_root;
	json_t *options;  /* {driver: {options}} */
	json_t *priority; /* array of names for auto */
};

/* path NULL: $BERTH_STORAGE_CONFIG, else SYSCONFDIR/berth/storage.json, else the embedded
 * default. */
int berth_stor_config_load(const char *path, struct berth_stor_config **ret, berth_error *err);
void berth_stor_config_free(struct berth_stor_config *c);

struct berth_stor_selection {
	char *driver;      /* the selected driver */
	char *driver_path; /* its executable */
	char *reason;      /* why it was selected */
	json_t *probes;    /* [{driver, ok, code?, msg}] from auto selection */
	json_t *init;      /* INIT's result */
	struct berth_stor_client *client; /* root/<driver>, run_root/<driver>, its options */
};

/* Select the driver cfg names, or with "auto" the first of cfg->priority whose INIT succeeds
 * (a driver refusing its options, code 2 or 7, stops the search with that error).  Each driver
 * gets root/<name> and run_root/<name> (NULL: cfg's).  sticky (may be NULL) is a file that
 * records auto's choice and is honoured on later calls: layers live in one driver. */
int berth_stor_select(const struct berth_stor_config *cfg, const char *root, const char *run_root,
		      const char *sticky, struct berth_stor_selection *ret, berth_error *err);
void berth_stor_selection_clear(struct berth_stor_selection *s);
