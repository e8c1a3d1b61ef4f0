/* SPDX-License-Identifier: Apache-2.0 */
/* Driver options -> struct berth_dm_config, every bad value named. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "berth/cleanup.h"
#include "berth/dm.h"
#include "berth/json.h"

#define MIB (1024ULL * 1024)
#define GIB (1024ULL * MIB)

/* A size option given as a string ("10G") or a number of bytes. */
static int get_size(json_t *opts, const char *key, uint64_t *ret, bool *ret_set, berth_error *err)
{
	json_t *v = json_object_get(opts, key);
	int r;

	if (!v || json_is_null(v))
		return 0;
	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		*ret = (uint64_t)json_integer_value(v);
	} else if (json_is_string(v)) {
		r = berth_parse_size(json_string_value(v), ret);
		if (r < 0)
			return berth_error_set(err, BERTH_ERR_INVALID_CONFIG, EINVAL,
					       "options.%s: \"%.64s\" is not a size (e.g. 10G, 512M)",
					       key, json_string_value(v));
	} else {
		return berth_error_set(err, BERTH_ERR_INVALID_CONFIG, EINVAL,
				       "options.%s: must be a size string or a number of bytes", key);
	}
	if (ret_set)
		*ret_set = true;
	return 0;
}

static int get_str(json_t *opts, const char *key, char **ret, berth_error *err)
{
	const char *s = NULL;
	int r = berth_json_get_string(opts, "options", key, false, &s, err);

	if (r < 0)
		return r;
	if (s && *s) {
		*ret = strdup(s);
		if (!*ret)
			return berth_error_set(err, 0, ENOMEM, "out of memory");
	}
	return 0;
}

static bool dm_name_ok(const char *s)
{
	if (!*s || strlen(s) > 100)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("-_.+", *s))
			return false;
	return true;
}

void berth_dm_config_free(struct berth_dm_config *c)
{
	free(c->pool_name);
	free(c->data_device);
	free(c->metadata_device);
	free(c->mkfs_options);
	free(c->mount_options);
	memset(c, 0, sizeof(*c));
}

int berth_dm_config_parse(json_t *opts, struct berth_dm_config *c, berth_error *err)
{
	const char *fs = NULL;
	int64_t pct = 10;
	int r;

	memset(c, 0, sizeof(*c));
	c->loop_data_size = 2 * GIB;
	c->loop_metadata_size = 128 * MIB;
	c->base_size = 10 * GIB;
	c->min_free_space = 10;
	c->require_udev_sync = true;
	c->deferred_removal = true;
	c->deferred_deletion = true;
	c->discard = true;

	if (!opts)
		return 0;
	if ((r = get_str(opts, "pool_name", &c->pool_name, err)) < 0 ||
	    (r = get_str(opts, "data_device", &c->data_device, err)) < 0 ||
	    (r = get_str(opts, "metadata_device", &c->metadata_device, err)) < 0 ||
	    (r = get_str(opts, "mkfs_options", &c->mkfs_options, err)) < 0 ||
	    (r = get_str(opts, "mount_options", &c->mount_options, err)) < 0 ||
	    (r = berth_json_get_bool(opts, "options", "allow_loopback", false, &c->allow_loopback,
				     err)) < 0 ||
	    (r = berth_json_get_bool(opts, "options", "require_udev_sync", false,
				     &c->require_udev_sync, err)) < 0 ||
	    (r = berth_json_get_bool(opts, "options", "deferred_removal", false,
				     &c->deferred_removal, err)) < 0 ||
	    (r = berth_json_get_bool(opts, "options", "deferred_deletion", false,
				     &c->deferred_deletion, err)) < 0 ||
	    (r = berth_json_get_bool(opts, "options", "force_wipe", false, &c->force_wipe, err)) <
		    0 ||
	    (r = berth_json_get_bool(opts, "options", "discard", false, &c->discard, err)) < 0 ||
	    (r = berth_json_get_int(opts, "options", "min_free_space", false, 0, 99, &pct, err)) <
		    0 ||
	    (r = berth_json_get_string(opts, "options", "fs", false, &fs, err)) < 0 ||
	    (r = get_size(opts, "loop_data_size", &c->loop_data_size, NULL, err)) < 0 ||
	    (r = get_size(opts, "loop_metadata_size", &c->loop_metadata_size, NULL, err)) < 0 ||
	    (r = get_size(opts, "block_size", &c->block_size, &c->block_size_set, err)) < 0 ||
	    (r = get_size(opts, "base_size", &c->base_size, NULL, err)) < 0)
		goto fail;
	c->min_free_space = (unsigned)pct;

	if (c->pool_name && !dm_name_ok(c->pool_name)) {
		r = berth_error_set(err, BERTH_ERR_INVALID_CONFIG, EINVAL,
				    "options.pool_name: \"%.100s\" is not a usable device-mapper name",
				    c->pool_name);
		goto fail;
	}
	if (!fs || STREQ(fs, "ext4")) {
		c->fs = BERTH_DM_FS_EXT4;
	} else if (STREQ(fs, "xfs")) {
		c->fs = BERTH_DM_FS_XFS;
	} else {
		r = berth_error_set(err, BERTH_ERR_INVALID_CONFIG, EINVAL,
				    "options.fs: \"%.32s\" is not supported (ext4 or xfs)", fs);
		goto fail;
	}
	if (!!c->data_device != !!c->metadata_device) {
		r = berth_error_set(err, BERTH_ERR_INVALID_CONFIG, EINVAL,
				    "options.%s: data_device and metadata_device go together",
				    c->data_device ? "metadata_device" : "data_device");
		goto fail;
	}
	if (c->data_device && (c->data_device[0] != '/' || c->metadata_device[0] != '/')) {
		r = berth_error_set(err, BERTH_ERR_INVALID_CONFIG, EINVAL,
				    "options.%s: must be an absolute path",
				    c->data_device[0] != '/' ? "data_device" : "metadata_device");
		goto fail;
	}
	if (c->data_device && STREQ(c->data_device, c->metadata_device)) {
		r = berth_error_set(err, BERTH_ERR_INVALID_CONFIG, EINVAL,
				    "options.metadata_device: must differ from data_device");
		goto fail;
	}
	/* The kernel's thin-pool limits: 64 KiB to 1 GiB, a multiple of 64 KiB. */
	if (c->block_size_set && (c->block_size < 64 * 1024 || c->block_size > GIB ||
				  c->block_size % (64 * 1024))) {
		r = berth_error_set(err, BERTH_ERR_INVALID_CONFIG, EINVAL,
				    "options.block_size: %llu is invalid (64K to 1G, a multiple of 64K)",
				    (unsigned long long)c->block_size);
		goto fail;
	}
	/* A filesystem with a journal needs some room; 2^44 sectors is far beyond any pool. */
	if (c->base_size < 32 * MIB || c->base_size % 4096 || c->base_size > (1ULL << 52)) {
		r = berth_error_set(err, BERTH_ERR_INVALID_CONFIG, EINVAL,
				    "options.base_size: %llu is invalid (32M to 4P, a multiple of 4K)",
				    (unsigned long long)c->base_size);
		goto fail;
	}
	if (c->allow_loopback && (c->loop_data_size < 64 * MIB || c->loop_metadata_size < 2 * MIB ||
				  c->loop_metadata_size > 16 * GIB)) {
		r = berth_error_set(err, BERTH_ERR_INVALID_CONFIG, EINVAL,
				    "options.loop_%s_size: too small or too large",
				    c->loop_data_size < 64 * MIB ? "data" : "metadata");
		goto fail;
	}
	return 0;
fail:
	berth_dm_config_free(c);
	return r;
}
