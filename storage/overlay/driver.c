/* SPDX-License-Identifier: Apache-2.0 */
/* The overlay driver's verbs and their table: CREATE, REMOVE, EXISTS, LIST, METADATA and the
 * host checks of INIT, STATUS, CLEANUP, GC (the layout is layer.c, mounts mount.c, the tar
 * verbs diff.c, quotas quota.c). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <linux/magic.h>
#include <unistd.h>

#include "berth/cleanup.h"
#include "berth/fault.h"
#include "berth/file.h"
#include "berth/fs.h"
#include "berth/json.h"
#include "berth/log.h"
#include "berth/storage-skel.h"
#include "berth/overlay.h"
#include "overlay-internal.h"

const char *const berth_ovl_options[] = {
	"mount_api", "index", "redirect_dir", "metacopy", "force_naive_diff",
	"skip_mount_home", "ignore_chown_errors", "refuse_devices", "size", NULL,
};

const struct berth_stor_verb berth_ovl_verbs[] = {
	{ "INIT", berth_ovl_init, BERTH_STOR_STREAM_NONE },
	{ "STATUS", berth_ovl_status, BERTH_STOR_STREAM_NONE },
	{ "CREATE", berth_ovl_create, BERTH_STOR_STREAM_NONE },
	{ "REMOVE", berth_ovl_remove, BERTH_STOR_STREAM_NONE },
	{ "MOUNT", berth_ovl_mount, BERTH_STOR_STREAM_NONE },
	{ "UNMOUNT", berth_ovl_unmount, BERTH_STOR_STREAM_NONE },
	{ "MOUNTS", berth_ovl_mounts, BERTH_STOR_STREAM_NONE },
	{ "RELEASE", berth_ovl_release, BERTH_STOR_STREAM_NONE },
	{ "EXISTS", berth_ovl_exists, BERTH_STOR_STREAM_NONE },
	{ "LIST", berth_ovl_list, BERTH_STOR_STREAM_NONE },
	{ "METADATA", berth_ovl_metadata, BERTH_STOR_STREAM_NONE },
	{ "DIFF", berth_ovl_diff, BERTH_STOR_STREAM_OUT },
	{ "CHANGES", berth_ovl_changes, BERTH_STOR_STREAM_NONE },
	{ "APPLY_DIFF", berth_ovl_apply_diff, BERTH_STOR_STREAM_IN },
	{ "DIFF_SIZE", berth_ovl_diff_size, BERTH_STOR_STREAM_NONE },
	{ "USAGE", berth_ovl_usage, BERTH_STOR_STREAM_NONE },
	{ "CLEANUP", berth_ovl_cleanup, BERTH_STOR_STREAM_NONE },
	{ "GC", berth_ovl_gc, BERTH_STOR_STREAM_NONE },
	{ NULL, NULL, 0 },
};

int berth_ovl_create(const struct berth_stor_call *call, json_t **ret, berth_error *err)
{
	_cleanup_ovl_ struct ovl o = { .rootfd = -1, .lockfd = -1 };
	_cleanup_free_ char *plink = NULL, *plower = NULL, *lower = NULL;
	const char *id = NULL, *parent = NULL;
	char stage[PATH_MAX], path[PATH_MAX], link[OVL_LINK_LEN + 1];
	uint64_t size = 0;
	json_t *v, *mounts_arg;
	size_t depth = 1;
	int r;

	r = berth_ovl_open(call, &o, OVL_LOCK_EXCLUSIVE, err);
	if (r < 0)
		return r;
	if ((r = berth_stor_arg_id(call, "id", true, &id, err)) < 0 ||
	    (r = berth_stor_arg_id(call, "parent", false, &parent, err)) < 0)
		return r;
	mounts_arg = json_object_get(call->args, "mounts");
	if (mounts_arg && !json_is_object(mounts_arg))
		return berth_error_set(err, BERTH_ERR_INVALID_CONFIG, EINVAL,
				       "args.mounts: must be an object ({\"ro\":bool})");
	size = o.default_size;
	v = json_object_get(call->args, "size");
	if (v && (r = berth_ovl_parse_size(v, "args.size", &size, err)) < 0)
		return r;

	switch (berth_ovl_layer_state(&o, id)) {
	case 1:
		return berth_error_set(err, BERTH_STOR_ERR_EXISTS, EEXIST,
				       "layer \"%s\" already exists", id);
	case 2: /* a crash's leftover: nobody can be using it */
		r = berth_ovl_remove_layer(&o, id, err);
		if (r < 0)
			return r;
	}
	if (parent) {
		r = berth_ovl_need_layer(&o, parent, err);
		if (r < 0)
			return berth_error_prefix(err, "parent");
		snprintf(path, sizeof(path), "%s/link", parent);
		if ((r = berth_ovl_read_str(o.rootfd, path, &plink, err)) < 0)
			return r == -ENOENT ? berth_error_set(err, BERTH_ERR_IO, EUCLEAN,
							      "parent %s has no link", parent)
					    : r;
		snprintf(path, sizeof(path), "%s/lower", parent);
		r = berth_ovl_read_str(o.rootfd, path, &plower, err);
		if (r < 0 && r != -ENOENT)
			return r;
		depth = 2; /* the parent and this one */
		if (plower && *plower) {
			depth++;
			for (char *p = plower; *p; p++)
				depth += *p == ':';
		}
		if (depth > BERTH_OVL_MAX_DEPTH)
			return berth_error_set(err, BERTH_ERR_INVALID_CONFIG, E2BIG,
					       "layer chain too deep: %zu layers, overlay allows %d",
					       depth, BERTH_OVL_MAX_DEPTH);
		if (asprintf(&lower, "l/%s%s%s", plink, plower && *plower ? ":" : "",
			     plower ? plower : "") < 0)
			return berth_error_set(err, BERTH_ERR_INTERNAL, ENOMEM, "out of memory");
	}
	if (size && !berth_ovl_quota_supported(&o, err))
		return berth_error_set(err, BERTH_STOR_ERR_NOT_SUPPORTED, EOPNOTSUPP,
				       "args.size: a size limit needs XFS with project quota (pquota) "
				       "under %s",
				       o.root);

	/* Build everything in staging/, then one rename makes the layer appear; "incomplete"
	 * stays until the l/ link and the parent's child marker exist too. */
	snprintf(stage, sizeof(stage), "staging/%s", id);
	r = berth_ovl_rm_rf_at(o.rootfd, stage, err);
	if (r < 0)
		return r;
	if (mkdirat(o.rootfd, stage, 0700) < 0)
		return berth_error_errno(err, BERTH_ERR_IO, "mkdir %s/%s", o.root, stage);
	static const char *const sub[] = { "diff", "work", "merged", "empty", "children" };
	for (size_t i = 0; i < ARRAY_SIZE(sub); i++) {
		snprintf(path, sizeof(path), "%s/%s", stage, sub[i]);
		if (mkdirat(o.rootfd, path, i == 0 ? 0755 : 0700) < 0)
			return berth_error_errno(err, berth_stor_errno_code(errno), "mkdir %s", path);
	}
	/* The diff dir is the layer's "/": 0755 whatever the umask. */
	snprintf(path, sizeof(path), "%s/diff", stage);
	fchmodat(o.rootfd, path, 0755, 0);
	snprintf(path, sizeof(path), "%s/incomplete", stage);
	if ((r = berth_ovl_write_at(o.rootfd, path, "", err)) < 0)
		return r;
	BERTH_FAULT_POINT("ovl-create-after-incomplete");
	berth_ovl_random_link(link);
	snprintf(path, sizeof(path), "%s/link", stage);
	if ((r = berth_ovl_write_at(o.rootfd, path, link, err)) < 0)
		return r;
	BERTH_FAULT_POINT("ovl-create-before-lower");
	if (lower) {
		snprintf(path, sizeof(path), "%s/lower", stage);
		if ((r = berth_ovl_write_at(o.rootfd, path, lower, err)) < 0)
			return r;
		snprintf(path, sizeof(path), "%s/parent", stage);
		if ((r = berth_ovl_write_at(o.rootfd, path, parent, err)) < 0)
			return r;
	}
	if (json_is_true(json_object_get(call->args, "rw"))) {
		snprintf(path, sizeof(path), "%s/rw", stage);
		if ((r = berth_ovl_write_at(o.rootfd, path, "", err)) < 0)
			return r;
	}
	if (size) {
		snprintf(path, sizeof(path), "%s/diff", stage);
		r = berth_ovl_quota_set(&o, o.rootfd, path, size, err);
		if (r < 0)
			goto undo;
	}
	BERTH_FAULT_POINT("ovl-create-before-rename");
	if (renameat(o.rootfd, stage, o.rootfd, id) < 0) {
		r = berth_error_errno(err, BERTH_ERR_IO, "rename %s to %s", stage, id);
		goto undo;
	}
	BERTH_FAULT_POINT("ovl-create-after-rename");
	snprintf(path, sizeof(path), "l/%s", link);
	snprintf(stage, sizeof(stage), "../%s/diff", id);
	if (symlinkat(stage, o.rootfd, path) < 0) {
		r = berth_error_errno(err, BERTH_ERR_IO, "symlink %s", path);
		berth_ovl_remove_layer(&o, id, NULL);
		return r;
	}
	BERTH_FAULT_POINT("ovl-create-after-link");
	if (parent) {
		snprintf(path, sizeof(path), "%s/children/%s", parent, id);
		if ((r = berth_ovl_write_at(o.rootfd, path, "", err)) < 0) {
			berth_ovl_remove_layer(&o, id, NULL);
			return r;
		}
	}
	BERTH_FAULT_POINT("ovl-create-before-complete");
	snprintf(path, sizeof(path), "%s/incomplete", id);
	if (unlinkat(o.rootfd, path, 0) < 0) {
		r = berth_error_errno(err, BERTH_ERR_IO, "unlink %s", path);
		berth_ovl_remove_layer(&o, id, NULL);
		return r;
	}
	*ret = json_pack("{s:s,s:i}", "id", id, "depth", (int)depth);
	if (mounts_arg) {
		/* args.mounts: MOUNTS' answer too, in the same call (the snapshotter's Prepare) */
		json_t *m = NULL;
		r = berth_ovl_mounts_spec(&o, id, json_is_true(json_object_get(mounts_arg, "ro")),
					  &m, err);
		if (r < 0) {
			json_decref(*ret);
			*ret = NULL;
			berth_ovl_remove_layer(&o, id, NULL);
			return r;
		}
		json_object_set_new(*ret, "mounts", json_pack("[o]", m));
		json_object_set_new(*ret, "activated", json_false());
	}
	return 0;
undo:
	snprintf(stage, sizeof(stage), "staging/%s", id);
	berth_ovl_rm_rf_at(o.rootfd, stage, NULL);
	return r;
}

int berth_ovl_remove(const struct berth_stor_call *call, json_t **ret, berth_error *err)
{
	_cleanup_ovl_ struct ovl o = { .rootfd = -1, .lockfd = -1 };
	const char *id = NULL;
	int r;

	r = berth_ovl_open(call, &o, OVL_LOCK_EXCLUSIVE, err);
	if (r < 0)
		return r;
	if ((r = berth_stor_arg_id(call, "id", true, &id, err)) < 0)
		return r;
	if (!berth_ovl_layer_state(&o, id)) {
		/* Already gone: success, like CNI DEL.  A CREATE killed before its rename left
		 * staging/ID; with the store lock held nobody is building it, so it goes too. */
		char stage[PATH_MAX];

		snprintf(stage, sizeof(stage), "staging/%s", id);
		berth_ovl_rm_rf_at(o.rootfd, stage, NULL);
		return 0;
	}
	r = berth_ovl_count_children(&o, id, err);
	if (r < 0)
		return r;
	if (r > 0)
		return berth_error_set(err, BERTH_STOR_ERR_HAS_CHILDREN, ENOTEMPTY,
				       "layer \"%s\" has %d child layer(s)", id, r);
	if (berth_ovl_refs_get(&o, id) > 0 && berth_ovl_is_mounted(&o, id))
		return berth_error_set(err, BERTH_STOR_ERR_BUSY, EBUSY,
				       "layer \"%s\" is mounted (%d references)", id,
				       berth_ovl_refs_get(&o, id));
	if (berth_ovl_is_mounted(&o, id)) {
		char path[PATH_MAX];
		snprintf(path, sizeof(path), "%s/%s/merged", o.root, id);
		umount2(path, MNT_DETACH);
	}
	return berth_ovl_remove_layer(&o, id, err);
}

int berth_ovl_exists(const struct berth_stor_call *call, json_t **ret, berth_error *err)
{
	_cleanup_ovl_ struct ovl o = { .rootfd = -1, .lockfd = -1 };
	const char *id = NULL;
	int r;

	r = berth_ovl_open(call, &o, OVL_LOCK_SHARED, err);
	if (r < 0)
		return r;
	if ((r = berth_stor_arg_id(call, "id", true, &id, err)) < 0)
		return r;
	*ret = json_pack("{s:b}", "exists", berth_ovl_layer_state(&o, id) == 1);
	return 0;
}

int berth_ovl_list(const struct berth_stor_call *call, json_t **ret, berth_error *err)
{
	_cleanup_ovl_ struct ovl o = { .rootfd = -1, .lockfd = -1 };
	struct layer_ent *v = NULL;
	json_t *layers;
	size_t n = 0;
	int r;

	r = berth_ovl_open(call, &o, OVL_LOCK_SHARED, err);
	if (r < 0)
		return r;
	r = berth_ovl_collect_layers(&o, &v, &n, false, err);
	if (r < 0)
		return r;
	layers = json_array();
	for (size_t i = 0; i < n; i++) {
		json_t *l = json_pack("{s:s}", "id", v[i].id);
		if (v[i].parent)
			json_object_set_new(l, "parent", json_string(v[i].parent));
		json_array_append_new(layers, l);
	}
	*ret = json_pack("{s:o,s:o}", "ids", berth_ovl_removal_order(v, n), "layers", layers);
	berth_ovl_free_layers(v, n);
	return 0;
}

int berth_ovl_metadata(const struct berth_stor_call *call, json_t **ret, berth_error *err)
{
	_cleanup_ovl_ struct ovl o = { .rootfd = -1, .lockfd = -1 };
	_cleanup_free_ char *parent = NULL, *link = NULL;
	_cleanup_strv_ char **lowers = NULL;
	const char *id = NULL;
	char path[PATH_MAX];
	size_t n = 0;
	json_t *j, *lo;
	int r;

	r = berth_ovl_open(call, &o, OVL_LOCK_SHARED, err);
	if (r < 0)
		return r;
	if ((r = berth_stor_arg_id(call, "id", true, &id, err)) < 0 ||
	    (r = berth_ovl_need_layer(&o, id, err)) < 0)
		return r;
	r = berth_ovl_lowers(&o, id, &lowers, &n, err);
	if (r < 0)
		return r;
	j = json_object();
	lo = json_array();
	for (size_t i = 0; i < n; i++) {
		char real[PATH_MAX];
		json_array_append_new(lo, json_string(realpath(lowers[i], real) ? real : lowers[i]));
	}
	snprintf(path, sizeof(path), "%s/%s/diff", o.root, id);
	json_object_set_new(j, "UpperDir", json_string(path));
	snprintf(path, sizeof(path), "%s/%s/work", o.root, id);
	json_object_set_new(j, "WorkDir", json_string(path));
	snprintf(path, sizeof(path), "%s/%s/merged", o.root, id);
	json_object_set_new(j, "MergedDir", json_string(path));
	json_object_set_new(j, "LowerDirs", lo);
	snprintf(path, sizeof(path), "%s/parent", id);
	if (berth_ovl_read_str(o.rootfd, path, &parent, NULL) == 0)
		json_object_set_new(j, "parent", json_string(parent));
	snprintf(path, sizeof(path), "%s/link", id);
	if (berth_ovl_read_str(o.rootfd, path, &link, NULL) == 0)
		json_object_set_new(j, "link", json_string(link));
	json_object_set_new(j, "depth", json_integer((json_int_t)n + 1));
	json_object_set_new(j, "mounted", json_boolean(berth_ovl_is_mounted(&o, id)));
	json_object_set_new(j, "refs", json_integer(berth_ovl_refs_get(&o, id)));
	*ret = j;
	return 0;
}

/* Remove what crashes left: incomplete layers, staging/ entries, dangling l/ links, stale
 * reference counts.  Caller holds the exclusive lock.  Removed ids go to `removed`. */
static int gc_leftovers(struct ovl *o, json_t *removed, json_t *errors)
{
	struct layer_ent *v = NULL;
	size_t n = 0;
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;
	char path[PATH_MAX];
	int fd;

	if (berth_ovl_collect_layers(o, &v, &n, true, NULL) == 0) {
		for (size_t i = 0; i < n; i++) {
			berth_error e = { 0 };
			if (berth_ovl_remove_layer(o, v[i].id, &e) < 0)
				json_array_append_new(errors, json_string(e.msg));
			else
				json_array_append_new(removed, json_string(v[i].id));
		}
		berth_ovl_free_layers(v, n);
	}
	fd = openat(o->rootfd, "staging", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0 && (d = fdopendir(fd))) {
		while ((de = readdir(d)))
			if (de->d_name[0] != '.')
				berth_ovl_rm_rf_at(dirfd(d), de->d_name, NULL);
		closedir(d);
		d = NULL;
	} else if (fd >= 0) {
		close(fd);
	}
	fd = openat(o->rootfd, "l", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0 && (d = fdopendir(fd))) {
		while ((de = readdir(d))) {
			struct stat st;
			if (de->d_name[0] == '.')
				continue;
			if (fstatat(dirfd(d), de->d_name, &st, 0) < 0 && errno == ENOENT)
				unlinkat(dirfd(d), de->d_name, 0);
		}
	} else if (fd >= 0) {
		close(fd);
	}
	/* lock files of layers that are gone (removed by a driver older than this one, or a
	 * layer whose removal was killed after its rename) */
	if (d)
		closedir(d);
	snprintf(path, sizeof(path), "%s/locks", o->run_root);
	d = opendir(path);
	while (d && (de = readdir(d)))
		if (de->d_name[0] != '.' && berth_stor_id_valid(de->d_name) &&
		    !berth_ovl_layer_state(o, de->d_name))
			unlinkat(dirfd(d), de->d_name, 0);
	return 0;
}

/* Our mounts must not propagate into other namespaces (a leaked mount keeps a layer busy
 * forever: moby #27381), so root is a private mount of its own, as c/s does. */
static int private_root(struct ovl *o, berth_error *err)
{
	if (o->skip_mount_home)
		return 0;
	if (!berth_is_mountpoint(o->root) && mount(o->root, o->root, NULL, MS_BIND, NULL) < 0)
		return berth_error_errno(err, BERTH_ERR_IO, "bind mount %s", o->root);
	if (mount(NULL, o->root, NULL, MS_PRIVATE, NULL) < 0)
		return berth_error_errno(err, BERTH_ERR_IO, "make %s private", o->root);
	return 0;
}

/* d_type: overlay needs it to see whiteouts (moby #10294 on XFS ftype=0). */
static int check_d_type(struct ovl *o, berth_error *err)
{
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;
	bool ok = false;
	int fd;

	if (mkdirat(o->rootfd, "staging/dtype", 0700) < 0 && errno != EEXIST)
		return berth_error_errno(err, BERTH_ERR_IO, "mkdir staging/dtype");
	fd = openat(o->rootfd, "staging/dtype/f", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd >= 0)
		close(fd);
	fd = openat(o->rootfd, "staging/dtype", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return berth_error_errno(err, BERTH_ERR_IO, "open staging/dtype");
	}
	while ((de = readdir(d)))
		if (STREQ(de->d_name, "f"))
			ok = de->d_type == DT_REG;
	berth_ovl_rm_rf_at(o->rootfd, "staging/dtype", NULL);
	if (!ok)
		return berth_error_set(err, BERTH_STOR_ERR_WRONG_FS, EINVAL,
				       "the filesystem under %s does not report d_type (XFS needs "
				       "ftype=1); overlay cannot work on it",
				       o->root);
	return 0;
}

static const char *fs_name(long type)
{
	switch ((unsigned long)type) {
	case EXT4_SUPER_MAGIC: return "extfs";
	case XFS_SUPER_MAGIC: return "xfs";
	case TMPFS_MAGIC: return "tmpfs";
	case BTRFS_SUPER_MAGIC: return "btrfs";
	case OVERLAYFS_SUPER_MAGIC: return "overlayfs";
	default: return "unknown";
	}
}

static int check_backing(struct ovl *o, struct statfs *sfs, berth_error *err)
{
	if (fstatfs(o->rootfd, sfs) < 0)
		return berth_error_errno(err, BERTH_ERR_IO, "statfs %s", o->root);
	switch ((unsigned long)sfs->f_type) {
	case OVERLAYFS_SUPER_MAGIC:
	case 0x61756673: /* aufs */
	case 0xf15f:     /* ecryptfs */
	case 0x65735546: /* fuse */
		return berth_error_set(err, BERTH_STOR_ERR_WRONG_FS, EINVAL,
				       "%s is on %s, which cannot be an overlay upper layer", o->root,
				       (unsigned long)sfs->f_type == OVERLAYFS_SUPER_MAGIC
					       ? "overlayfs"
					       : "a stacked filesystem");
	}
	return check_d_type(o, err);
}

/* Mount a tiny overlay to prove this kernel and backing fs can do it. */
static int probe_mount(struct ovl *o, berth_error *err)
{
	static const char *const dirs[] = { "staging/probe", "staging/probe/l", "staging/probe/u",
					    "staging/probe/w", "staging/probe/m" };
	char target[PATH_MAX];
	_cleanup_free_ char *data = NULL;
	int r = 0;

	berth_ovl_rm_rf_at(o->rootfd, dirs[0], NULL);
	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++)
		if (mkdirat(o->rootfd, dirs[i], 0700) < 0)
			return berth_error_errno(err, BERTH_ERR_IO, "mkdir %s", dirs[i]);
	snprintf(target, sizeof(target), "%s/staging/probe/m", o->root);
	if (asprintf(&data, "lowerdir=%s/staging/probe/l,upperdir=%s/staging/probe/u,workdir=%s/"
			    "staging/probe/w",
		     o->root, o->root, o->root) < 0)
		return -ENOMEM;
	if (mount("overlay", target, "overlay", 0, data) < 0) {
		if (errno == ENODEV)
			r = berth_error_set(err, BERTH_STOR_ERR_NOT_SUPPORTED, ENODEV,
					    "this kernel has no overlay filesystem");
		else if (errno == EPERM)
			r = berth_error_errno(err, BERTH_STOR_ERR_NOT_SUPPORTED,
					      "overlay mount not permitted");
		else
			r = berth_error_errno(err, BERTH_STOR_ERR_WRONG_FS,
					      "overlay cannot use %s as upper layer", o->root);
	} else {
		umount2(target, MNT_DETACH);
	}
	berth_ovl_rm_rf_at(o->rootfd, dirs[0], NULL);
	return r;
}

static json_t *capabilities(struct ovl *o)
{
	berth_error e = { 0 };
	bool quota = berth_ovl_quota_supported(o, &e);

	return json_pack("{s:i,s:b,s:s,s:{s:b,s:b},s:b,s:b,s:b,s:s}", "maxDepth",
			 BERTH_OVL_MAX_DEPTH, "nativeDiff", !berth_ovl_naive_diff(o), "whiteout",
			 "overlay", "quota", "size", quota, "inodes", false, "volatile", true,
			 "exactDiffs", !berth_ovl_naive_diff(o), "idmap", false, "mountApi",
			 o->mount_api);
}

int berth_ovl_init(const struct berth_stor_call *call, json_t **ret, berth_error *err)
{
	_cleanup_ovl_ struct ovl o = { .rootfd = -1, .lockfd = -1 };
	json_t *removed = json_array(), *errors = json_array();
	struct statfs sfs;
	int r;

	r = berth_ovl_open(call, &o, OVL_LOCK_EXCLUSIVE, err);
	if (r < 0)
		goto out;
	if ((r = check_backing(&o, &sfs, err)) < 0 || (r = probe_mount(&o, err)) < 0 ||
	    (r = private_root(&o, err)) < 0)
		goto out;
	gc_leftovers(&o, removed, errors);
	*ret = json_pack("{s:o,s:s,s:O,s:O}", "capabilities", capabilities(&o), "backingFs",
			 fs_name(sfs.f_type), "removed", removed, "errors", errors);
out:
	json_decref(removed);
	json_decref(errors);
	return r;
}

int berth_ovl_status(const struct berth_stor_call *call, json_t **ret, berth_error *err)
{
	_cleanup_ovl_ struct ovl o = { .rootfd = -1, .lockfd = -1 };
	struct layer_ent *v = NULL;
	struct statfs sfs;
	size_t n = 0;
	char buf[32];
	berth_error e = { 0 };
	int r;

	r = berth_ovl_open(call, &o, OVL_LOCK_SHARED, err);
	if (r < 0)
		return r;
	if (fstatfs(o.rootfd, &sfs) < 0)
		return berth_error_errno(err, BERTH_ERR_IO, "statfs %s", o.root);
	berth_ovl_collect_layers(&o, &v, &n, false, NULL);
	berth_ovl_free_layers(v, n);
	snprintf(buf, sizeof(buf), "%zu", n);
	*ret = json_pack("{s:[[s,s],[s,s],[s,s],[s,s],[s,s],[s,s]],s:s,s:o}", "pairs",
			 "Backing Filesystem", fs_name(sfs.f_type), "Supports d_type", "true",
			 "Native Overlay Diff", berth_ovl_naive_diff(&o) ? "false" : "true",
			 "Using metacopy", o.metacopy ? "true" : "false", "Layers", buf,
			 "Project quota", berth_ovl_quota_supported(&o, &e) ? "true" : "false",
			 "health", "ok", "capabilities", capabilities(&o));
	return 0;
}

int berth_ovl_cleanup(const struct berth_stor_call *call, json_t **ret, berth_error *err)
{
	_cleanup_ovl_ struct ovl o = { .rootfd = -1, .lockfd = -1 };
	struct layer_ent *v = NULL;
	json_t *unmounted = json_array();
	size_t n = 0;
	int r;

	r = berth_ovl_open(call, &o, OVL_LOCK_EXCLUSIVE, err);
	if (r < 0) {
		json_decref(unmounted);
		return r;
	}
	berth_ovl_collect_layers(&o, &v, &n, false, NULL);
	for (size_t i = 0; i < n; i++) {
		char path[PATH_MAX];
		if (berth_ovl_is_mounted(&o, v[i].id)) {
			snprintf(path, sizeof(path), "%s/%s/merged", o.root, v[i].id);
			if (umount2(path, MNT_DETACH) == 0)
				json_array_append_new(unmounted, json_string(v[i].id));
		}
		berth_ovl_refs_set(&o, v[i].id, 0, NULL);
	}
	berth_ovl_free_layers(v, n);
	{
		json_t *removed = json_array(), *errors = json_array();
		gc_leftovers(&o, removed, errors);
		json_decref(removed);
		json_decref(errors);
	}
	if (!o.skip_mount_home && berth_is_mountpoint(o.root))
		umount2(o.root, MNT_DETACH);
	*ret = json_pack("{s:o}", "unmounted", unmounted);
	return 0;
}

int berth_ovl_gc(const struct berth_stor_call *call, json_t **ret, berth_error *err)
{
	_cleanup_ovl_ struct ovl o = { .rootfd = -1, .lockfd = -1 };
	json_t *removed = json_array(), *errors = json_array(), *keep = NULL;
	struct layer_ent *v = NULL;
	size_t n = 0;
	int r;

	r = berth_ovl_open(call, &o, OVL_LOCK_EXCLUSIVE, err);
	if (r < 0)
		goto fail;
	r = berth_json_get_array(call->args, "args", "keep", false, &keep, err);
	if (r < 0)
		goto fail;
	gc_leftovers(&o, removed, errors);
	if (keep) {
		/* Keep the listed layers and their ancestors; remove the rest, children first. */
		berth_ovl_collect_layers(&o, &v, &n, false, NULL);
		bool *keepv = calloc(n + 1, sizeof(bool));
		size_t idx;
		json_t *k;
		json_array_foreach(keep, idx, k) {
			const char *kid = json_string_value(k);
			while (kid) {
				const char *next = NULL;
				for (size_t i = 0; i < n; i++)
					if (STREQ(v[i].id, kid) && !keepv[i]) {
						keepv[i] = true;
						next = v[i].parent;
					}
				kid = next;
			}
		}
		for (size_t i = 0; i < n; i++)
			v[i].done = keepv[i];
		free(keepv);
		/* A kept layer's ancestors are kept, so what remains only has unkept children:
		 * remove leaves until nothing moves. */
		for (bool progress = true; progress;) {
			progress = false;
			for (size_t i = 0; i < n; i++) {
				berth_error e = { 0 };
				if (v[i].done || berth_ovl_count_children(&o, v[i].id, NULL) != 0)
					continue;
				if (berth_ovl_is_mounted(&o, v[i].id)) {
					char path[PATH_MAX];
					snprintf(path, sizeof(path), "%s/%s/merged", o.root, v[i].id);
					umount2(path, MNT_DETACH);
				}
				v[i].done = true;
				progress = true;
				if (berth_ovl_remove_layer(&o, v[i].id, &e) < 0)
					json_array_append_new(errors, json_string(e.msg));
				else
					json_array_append_new(removed, json_string(v[i].id));
			}
		}
		berth_ovl_free_layers(v, n);
	}
	*ret = json_pack("{s:O,s:O}", "removed", removed, "errors", errors);
fail:
	json_decref(removed);
	json_decref(errors);
	return r;
}
