/* SPDX-License-Identifier: Apache-2.0 */
/* The devicemapper storage driver's verbs over the device set, and their table
 * (plugins/storage/devicemapper/main.c hands it to the storage skeleton). */
#include <errno.h>
#include <string.h>

#include "berth/cleanup.h"
#include "berth/dm.h"
#include "berth/fs.h"
#include "berth/json.h"
#include "berth/storage-skel.h"

const char *const berth_dm_options[] = {
	"pool_name",	    "data_device",	 "metadata_device", "allow_loopback",
	"loop_data_size",   "loop_metadata_size", "block_size",	    "base_size",
	"fs",		    "mkfs_options",	 "mount_options",   "min_free_space",
	"require_udev_sync", "deferred_removal", "deferred_deletion", "force_wipe",
	"discard",	    NULL,
};

static struct berth_dm_config cfg;

static void config_cleanup(void)
{
	berth_dm_config_free(&cfg);
}

/* CREATE, REMOVE and the maintenance verbs send pool messages: exclusive.  The others work on
 * one layer's device under the shared lock plus that layer's lock. */
static bool exclusive_verb(const char *verb)
{
	static const char *const ex[] = { "INIT", "CREATE", "REMOVE", "GC", "CLEANUP", NULL };

	for (const char *const *v = ex; *v; v++)
		if (STREQ(*v, verb))
			return true;
	return false;
}

static int open_set(const struct berth_stor_call *call, struct berth_dmset **ret, berth_error *err)
{
	static bool parsed;
	bool no_wait = false;
	int r;

	r = berth_json_get_bool(call->args, "args", "noWait", false, &no_wait, err);
	if (r < 0)
		return r;
	if (!parsed) {
		r = berth_dm_config_parse(call->options, &cfg, err);
		if (r < 0)
			return r;
		parsed = true;
		atexit(config_cleanup);
	}
	return berth_dmset_open(call->root, call->run_root, &cfg, exclusive_verb(call->command),
				no_wait, ret, err);
}

static int arg_size(const struct berth_stor_call *call, const char *key, uint64_t *ret,
		    berth_error *err)
{
	json_t *v = json_object_get(call->args, key);

	*ret = 0;
	if (!v || json_is_null(v))
		return 0;
	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		*ret = (uint64_t)json_integer_value(v);
		return 0;
	}
	if (json_is_string(v) && berth_parse_size(json_string_value(v), ret) == 0)
		return 0;
	return berth_error_set(err, BERTH_ERR_INVALID_CONFIG, EINVAL,
			       "args.%s: must be a size (bytes, or a string such as \"20G\")", key);
}

static int v_init(const struct berth_stor_call *call, json_t **ret, berth_error *err)
{
	_cleanup_dmset_ struct berth_dmset *s = NULL;
	int r = open_set(call, &s, err);

	return r < 0 ? r : berth_dmset_init_info(s, ret, err);
}

static int v_status(const struct berth_stor_call *call, json_t **ret, berth_error *err)
{
	_cleanup_dmset_ struct berth_dmset *s = NULL;
	int r = open_set(call, &s, err);

	return r < 0 ? r : berth_dmset_status(s, ret, err);
}

static int v_create(const struct berth_stor_call *call, json_t **ret, berth_error *err)
{
	_cleanup_dmset_ struct berth_dmset *s = NULL;
	json_t *mounts_arg;
	const char *id = NULL, *parent = NULL;
	uint64_t size = 0;
	int r;

	if ((r = berth_stor_arg_id(call, "id", true, &id, err)) < 0 ||
	    (r = berth_stor_arg_id(call, "parent", false, &parent, err)) < 0 ||
	    (r = arg_size(call, "size", &size, err)) < 0)
		return r;
	mounts_arg = json_object_get(call->args, "mounts");
	if (mounts_arg && !json_is_object(mounts_arg))
		return berth_error_set(err, BERTH_ERR_INVALID_CONFIG, EINVAL,
				       "args.mounts: must be an object ({\"ro\":bool})");
	r = open_set(call, &s, err);
	if (r < 0)
		return r;
	r = berth_dmset_create(s, id, parent, size, err);
	if (r < 0 || !mounts_arg)
		return r;
	/* args.mounts: MOUNTS' answer too, in the same call; all or nothing */
	r = berth_dmset_mounts(s, id, json_is_true(json_object_get(mounts_arg, "ro")), ret, err);
	if (r < 0)
		berth_dmset_remove(s, id, &(berth_error){ 0 });
	return r;
}

static int v_remove(const struct berth_stor_call *call, json_t **ret, berth_error *err)
{
	_cleanup_dmset_ struct berth_dmset *s = NULL;
	const char *id = NULL;
	int r;

	if ((r = berth_stor_arg_id(call, "id", true, &id, err)) < 0)
		return r;
	r = open_set(call, &s, err);
	if (r < 0)
		return r;
	r = berth_dmset_remove(s, id, err);
	if (r < 0)
		return r;
	*ret = json_pack("{s:b}", "deferred", r > 0);
	return 0;
}

static int v_mount(const struct berth_stor_call *call, json_t **ret, berth_error *err)
{
	_cleanup_dmset_ struct berth_dmset *s = NULL;
	_cleanup_free_ char *path = NULL;
	_cleanup_json_ json_t *meta = NULL;
	const char *id = NULL, *label = NULL;
	bool ro = false;
	int r, refs;

	if ((r = berth_stor_arg_id(call, "id", true, &id, err)) < 0 ||
	    (r = berth_json_get_bool(call->args, "args", "ro", false, &ro, err)) < 0 ||
	    (r = berth_json_get_string(call->args, "args", "mountLabel", false, &label, err)) < 0)
		return r;
	r = open_set(call, &s, err);
	if (r < 0)
		return r;
	r = berth_dmset_mount(s, id, ro, label, &path, err);
	if (r < 0)
		return r;
	refs = r;
	r = berth_dmset_metadata(s, id, &meta, err);
	if (r < 0)
		return r;
	*ret = json_pack("{s:s,s:i,s:[{s:O,s:O,s:[]}]}", "path", path, "refs", refs, "mounts",
			 "type",
			 json_object_get(meta, "Fs"), "source", json_object_get(meta, "DevicePath"),
			 "options");
	return 0;
}

static int v_unmount(const struct berth_stor_call *call, json_t **ret, berth_error *err)
{
	_cleanup_dmset_ struct berth_dmset *s = NULL;
	const char *id = NULL;
	int r;

	if ((r = berth_stor_arg_id(call, "id", true, &id, err)) < 0)
		return r;
	r = open_set(call, &s, err);
	if (r < 0)
		return r;
	r = berth_dmset_unmount(s, id, err);
	if (r < 0)
		return r;
	*ret = json_pack("{s:i}", "refs", r);
	return 0;
}

static int v_mounts(const struct berth_stor_call *call, json_t **ret, berth_error *err)
{
	_cleanup_dmset_ struct berth_dmset *s = NULL;
	const char *id = NULL;
	bool ro = false;
	int r;

	if ((r = berth_stor_arg_id(call, "id", true, &id, err)) < 0 ||
	    (r = berth_json_get_bool(call->args, "args", "ro", false, &ro, err)) < 0)
		return r;
	r = open_set(call, &s, err);
	if (r < 0)
		return r;
	return berth_dmset_mounts(s, id, ro, ret, err);
}

static int v_release(const struct berth_stor_call *call, json_t **ret, berth_error *err)
{
	_cleanup_dmset_ struct berth_dmset *s = NULL;
	const char *id = NULL;
	bool released = false;
	int r;

	if ((r = berth_stor_arg_id(call, "id", true, &id, err)) < 0)
		return r;
	r = open_set(call, &s, err);
	if (r < 0)
		return r;
	r = berth_dmset_release(s, id, &released, err);
	if (r < 0)
		return r;
	*ret = json_pack("{s:b,s:b}", "released", released, "deferred", r > 0);
	return 0;
}

static int v_exists(const struct berth_stor_call *call, json_t **ret, berth_error *err)
{
	_cleanup_dmset_ struct berth_dmset *s = NULL;
	const char *id = NULL;
	int r;

	if ((r = berth_stor_arg_id(call, "id", true, &id, err)) < 0)
		return r;
	r = open_set(call, &s, err);
	if (r < 0)
		return r;
	*ret = json_pack("{s:b}", "exists", berth_dmset_exists(s, id));
	return 0;
}

static int v_list(const struct berth_stor_call *call, json_t **ret, berth_error *err)
{
	_cleanup_dmset_ struct berth_dmset *s = NULL;
	json_t *ids = NULL, *layers = NULL;
	int r;

	r = open_set(call, &s, err);
	if (r < 0)
		return r;
	r = berth_dmset_list(s, &ids, &layers, err);
	if (r < 0)
		return r;
	*ret = json_pack("{s:o,s:o}", "ids", ids, "layers", layers);
	return 0;
}

static int v_metadata(const struct berth_stor_call *call, json_t **ret, berth_error *err)
{
	_cleanup_dmset_ struct berth_dmset *s = NULL;
	const char *id = NULL;
	int r;

	if ((r = berth_stor_arg_id(call, "id", true, &id, err)) < 0)
		return r;
	r = open_set(call, &s, err);
	if (r < 0)
		return r;
	return berth_dmset_metadata(s, id, ret, err);
}

/* DIFF, CHANGES and DIFF_SIZE share the argument handling. */
static int diff_common(const struct berth_stor_call *call, int outfd, json_t **ret_changes,
		       uint64_t *ret_size, berth_error *err)
{
	_cleanup_dmset_ struct berth_dmset *s = NULL;
	const char *id = NULL, *parent = NULL;
	int r;

	if ((r = berth_stor_arg_id(call, "id", true, &id, err)) < 0 ||
	    (r = berth_stor_arg_id(call, "parent", false, &parent, err)) < 0)
		return r;
	r = open_set(call, &s, err);
	if (r < 0)
		return r;
	return berth_dmset_diff(s, id, parent, outfd, ret_changes, ret_size, err);
}

static int v_diff(const struct berth_stor_call *call, json_t **ret, berth_error *err)
{
	uint64_t size = 0;
	int r = diff_common(call, call->stream_fd, NULL, &size, err);

	if (r < 0)
		return r;
	*ret = json_pack("{s:I}", "size", (json_int_t)size);
	return 0;
}

static int v_changes(const struct berth_stor_call *call, json_t **ret, berth_error *err)
{
	json_t *ch = NULL;
	int r = diff_common(call, -1, &ch, NULL, err);

	if (r < 0)
		return r;
	*ret = json_pack("{s:o}", "changes", ch);
	return 0;
}

static int v_diff_size(const struct berth_stor_call *call, json_t **ret, berth_error *err)
{
	uint64_t size = 0;
	int r = diff_common(call, -1, NULL, &size, err);

	if (r < 0)
		return r;
	*ret = json_pack("{s:I}", "size", (json_int_t)size);
	return 0;
}

static int v_apply_diff(const struct berth_stor_call *call, json_t **ret, berth_error *err)
{
	_cleanup_dmset_ struct berth_dmset *s = NULL;
	const char *id = NULL, *parent = NULL;
	uint64_t size = 0;
	int r;

	if ((r = berth_stor_arg_id(call, "id", true, &id, err)) < 0 ||
	    (r = berth_stor_arg_id(call, "parent", false, &parent, err)) < 0)
		return r;
	r = open_set(call, &s, err);
	if (r < 0)
		return r;
	r = berth_dmset_apply_diff(s, id, call->stream_fd, &size, err);
	if (r < 0)
		return r;
	*ret = json_pack("{s:I}", "size", (json_int_t)size);
	return 0;
}

static int v_usage(const struct berth_stor_call *call, json_t **ret, berth_error *err)
{
	_cleanup_dmset_ struct berth_dmset *s = NULL;
	const char *id = NULL;
	uint64_t size = 0, inodes = 0;
	int r;

	if ((r = berth_stor_arg_id(call, "id", true, &id, err)) < 0)
		return r;
	r = open_set(call, &s, err);
	if (r < 0)
		return r;
	r = berth_dmset_usage(s, id, &size, &inodes, err);
	if (r < 0)
		return r;
	*ret = json_pack("{s:I,s:I}", "size", (json_int_t)size, "inodes", (json_int_t)inodes);
	return 0;
}

static int v_cleanup(const struct berth_stor_call *call, json_t **ret, berth_error *err)
{
	_cleanup_dmset_ struct berth_dmset *s = NULL;
	int r = open_set(call, &s, err);

	return r < 0 ? r : berth_dmset_cleanup(s, err);
}

static int v_gc(const struct berth_stor_call *call, json_t **ret, berth_error *err)
{
	_cleanup_dmset_ struct berth_dmset *s = NULL;
	json_t *keep = NULL;
	int r;

	r = berth_json_get_array(call->args, "args", "keep", false, &keep, err);
	if (r < 0)
		return r;
	r = open_set(call, &s, err);
	if (r < 0)
		return r;
	return berth_dmset_gc(s, keep, ret, err);
}

const struct berth_stor_verb berth_dm_verbs[] = {
	{ "INIT", v_init, BERTH_STOR_STREAM_NONE },
	{ "STATUS", v_status, BERTH_STOR_STREAM_NONE },
	{ "CREATE", v_create, BERTH_STOR_STREAM_NONE },
	{ "REMOVE", v_remove, BERTH_STOR_STREAM_NONE },
	{ "MOUNT", v_mount, BERTH_STOR_STREAM_NONE },
	{ "UNMOUNT", v_unmount, BERTH_STOR_STREAM_NONE },
	{ "MOUNTS", v_mounts, BERTH_STOR_STREAM_NONE },
	{ "RELEASE", v_release, BERTH_STOR_STREAM_NONE },
	{ "EXISTS", v_exists, BERTH_STOR_STREAM_NONE },
	{ "LIST", v_list, BERTH_STOR_STREAM_NONE },
	{ "METADATA", v_metadata, BERTH_STOR_STREAM_NONE },
	{ "DIFF", v_diff, BERTH_STOR_STREAM_OUT },
	{ "CHANGES", v_changes, BERTH_STOR_STREAM_NONE },
	{ "APPLY_DIFF", v_apply_diff, BERTH_STOR_STREAM_IN },
	{ "DIFF_SIZE", v_diff_size, BERTH_STOR_STREAM_NONE },
	{ "USAGE", v_usage, BERTH_STOR_STREAM_NONE },
	{ "CLEANUP", v_cleanup, BERTH_STOR_STREAM_NONE },
	{ "GC", v_gc, BERTH_STOR_STREAM_NONE },
	{ NULL, NULL, BERTH_STOR_STREAM_NONE },
};
