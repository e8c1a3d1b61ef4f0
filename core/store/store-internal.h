/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Internals of core/store/ (store.c, import.c, sha256.c). */

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "berth/error.h"
#include "berth/store.h"

struct berth_sha256 {
	uint32_t h[8];
	uint64_t len;
	uint8_t buf[64];
	size_t n;
};
void berth_sha256_init(struct berth_sha256 *s);
void berth_sha256_update(struct berth_sha256 *s, const void *data, size_t len);
void berth_sha256_hex(struct berth_sha256 *s, char *hex); /* 65 bytes */
void berth_sha256_str(const char *s, char *hex);

/* records under root/core: kind is "layers", "images" or "containers" */
int berth_store_rec_load(struct berth_store *s, const char *kind, const char *name, json_t **ret,
			 berth_error *err);
int berth_store_rec_save(struct berth_store *s, const char *kind, const char *name, json_t *j,
			 berth_error *err);
int berth_store_rec_delete(struct berth_store *s, const char *kind, const char *name);
/* all records of a kind, as an array */
json_t *berth_store_rec_all(struct berth_store *s, const char *kind);
int berth_store_lock(struct berth_store *s, berth_error *err);
/* Apply a file (tar, maybe compressed) into a new layer id with parent, decompressing it on
 * the way (the driver gets a plain tar), hashing the bytes read (ret_hex: the raw file) and
 * the decompressed ones (ret_diff_hex: the diffID), showing progress.  -EEXIST when the layer
 * exists already.  On any failure the layer is removed. */
int berth_store_apply_file(struct berth_store *s, const char *id, const char *parent,
			   const char *path, const char *label, char *ret_hex, char *ret_diff_hex,
			   uint64_t *ret_size, berth_error *err);
/* Register an image: name -> layers (array of ids, bottom first). */
int berth_store_save_image(struct berth_store *s, const char *name, json_t *layers,
			   const char *digest, berth_error *err);
/* Parse an OCI image layout (oci-layout, index.json, the manifest named ref or the first,
 * its config) and check the manifest's and config's digests, without touching any layer:
 * {"ref":?, "digest":manifest digest, "layers":[{"blob":path,"blobHex","diffHex"}]}. */
int berth_store_oci_plan(const char *dir, const char *ref, json_t **ret, berth_error *err);
