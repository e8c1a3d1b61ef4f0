/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The core's storage side: the per-host storage config, driver selection ("auto" probes the
 * drivers in priority order with INIT and takes the first that works), and images and
 * container root filesystems built on the driver's layers.
 *
 * Config (/etc/berth/storage.json, or $BERTH_STORAGE_CONFIG; every key optional):
 *   {"driver":"auto", "root":"/var/lib/berth/storage", "runRoot":"/run/berth/storage",
 *    "priority":["overlay","devicemapper"], "options":{"overlay":{...},"devicemapper":{...}}}
 * A driver keeps its layers under root/<driver> (runRoot/<driver>); the core keeps its records
 * (layers with digests, images, containers) under root/core.  Once a driver holds layers, auto
 * sticks to it.
 */

#include <stdbool.h>
#include <jansson.h>

#include "berth/error.h"
#include "berth/storage-client.h"
#include "berth/storage-select.h"

#define BERTH_STORE_DEFAULT_ROOT BERTH_STOR_DEFAULT_ROOT
#define BERTH_STORE_DEFAULT_RUNROOT BERTH_STOR_DEFAULT_RUNROOT

/* The config and the selection live in storage/select.c (shared with the containerd
 * snapshotter): berth_stor_config_load(), berth_stor_select(). */

struct berth_store {
	struct berth_stor_config *cfg;
	char *driver;      /* the selected driver */
	char *driver_path; /* its executable */
	char *reason;      /* why it was selected */
	json_t *probes;    /* [{driver, ok, code?, msg}] from auto selection */
	json_t *init;      /* INIT's result */
	struct berth_stor_client *client;
	char *meta; /* root/core */
	int lockfd;
	bool progress; /* print progress of long imports on stderr */
};

/* Load the config, select and INIT the driver. */
int berth_store_open(const char *config_path, struct berth_store **ret, berth_error *err);
void berth_store_close(struct berth_store *s);
static inline void berth_store_closep(struct berth_store **s)
{
	if (*s)
		berth_store_close(*s);
}
#define _cleanup_store_ __attribute__((cleanup(berth_store_closep)))

/* Import an OCI image layout directory (index.json, manifests, blobs; every digest verified).
 * ref selects a manifest by its org.opencontainers.image.ref.name (NULL = the only/first);
 * name is the image name to record (NULL = ref, else the directory's base name). */
int berth_store_import_oci(struct berth_store *s, const char *dir, const char *ref,
			   const char *name, json_t **ret, berth_error *err);
/* Import plain tar layers (any compression libarchive reads), bottom first, as image name. */
int berth_store_import_tars(struct berth_store *s, const char *name, char *const *tars, size_t n,
			    json_t **ret, berth_error *err);
/* A container's writable layer on top of image; cid NULL = generated. */
int berth_store_create(struct berth_store *s, const char *image, const char *cid, json_t **ret,
		       berth_error *err);
int berth_store_mount(struct berth_store *s, const char *cid, bool ro, json_t **ret,
		      berth_error *err);
int berth_store_unmount(struct berth_store *s, const char *cid, bool force, json_t **ret,
			berth_error *err);
/* Remove a container's rootfs (force: unmount first), or an image (its layers that no other
 * image or container uses). */
int berth_store_remove(struct berth_store *s, const char *cid, bool force, berth_error *err);
int berth_store_remove_image(struct berth_store *s, const char *image, berth_error *err);
int berth_store_list(struct berth_store *s, json_t **ret, berth_error *err);
/* Remove the driver's layers that no image or container uses, and stale layer records:
 * {"removed":[ids],"errors":[msgs]}. */
int berth_store_gc(struct berth_store *s, json_t **ret, berth_error *err);
/* Export the container's writable layer as an uncompressed tar on outfd. */
int berth_store_diff(struct berth_store *s, const char *cid, int outfd, json_t **ret,
		     berth_error *err);
/* Commit the writable layer as a new layer and image `image` (its layers plus the new one). */
int berth_store_commit(struct berth_store *s, const char *cid, const char *image, json_t **ret,
		       berth_error *err);
/* Storage view of a container: driver, image, chain of layers with digests and sizes, the
 * writable layer, the mount.  -ENOENT (no message) when the container has no storage here. */
int berth_store_inspect(struct berth_store *s, const char *cid, json_t **ret, berth_error *err);
/* Config, selected driver and why, the driver's STATUS. */
int berth_store_info(struct berth_store *s, json_t **ret, berth_error *err);
