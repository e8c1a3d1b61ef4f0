/* SPDX-License-Identifier: Apache-2.0 */
/* Layer contents: APPLY_DIFF, DIFF (native from the upper dir, or naive from mounted views),
 * CHANGES, DIFF_SIZE, USAGE.  The tar work is storage/archive/ (include/berth/archive.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "berth/cleanup.h"
#include "berth/fault.h"
#include "berth/file.h"
#include "berth/json.h"
#include "overlay-internal.h"

#include "berth/archive.h"

static int open_diff(struct ovl *o, const char *id, int *ret, berth_error *err)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/diff", id);
	fd = openat(o->rootfd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return berth_error_errno(err, BERTH_ERR_IO, "open %s/%s", o->root, path);
	*ret = fd;
	return 0;
}

/* The layer's parent, checked against args.parent when the caller names one. */
static int layer_parent(struct ovl *o, const struct berth_stor_call *call, const char *id,
			char **ret, berth_error *err)
{
	_cleanup_free_ char *parent = NULL;
	const char *want = NULL;
	char path[PATH_MAX];
	int r;

	if ((r = berth_stor_arg_id(call, "parent", false, &want, err)) < 0)
		return r;
	snprintf(path, sizeof(path), "%s/parent", id);
	r = berth_ovl_read_str(o->rootfd, path, &parent, err);
	if (r < 0 && r != -ENOENT)
		return r;
	if (want && (!parent || !STREQ(want, parent)))
		return berth_error_set(err, BERTH_STOR_ERR_NOT_SUPPORTED, EOPNOTSUPP,
				       "args.parent: overlay diffs a layer against its own parent "
				       "(%s), not \"%s\"",
				       parent ? parent : "none", want);
	*ret = TAKE_PTR(parent);
	return 0;
}

static int open_common(const struct berth_stor_call *call, struct ovl *o, const char **id,
		       int *layer_lock, berth_error *err)
{
	int r;

	r = berth_ovl_open(call, o, OVL_LOCK_SHARED, err);
	if (r < 0)
		return r;
	if ((r = berth_stor_arg_id(call, "id", true, id, err)) < 0 ||
	    (r = berth_ovl_need_layer(o, *id, err)) < 0)
		return r;
	return berth_ovl_lock_layer(o, *id, layer_lock, err);
}

/* Changes of layer id against its parent: native from the upper dir, or comparing views. */
static int layer_changes(struct ovl *o, const char *id, const char *parent,
			 struct berth_archive_changes *ret, int *ret_tree, berth_error *err)
{
	_cleanup_close_ int tree = -1, pview = -1;
	int r;

	if (parent) {
		r = berth_ovl_view_fd(o, parent, &pview, err);
		if (r < 0)
			return r;
	}
	if (berth_ovl_naive_diff(o)) {
		r = berth_ovl_view_fd(o, id, &tree, err);
		if (r < 0)
			return r;
		r = berth_archive_changes(tree, pview, BERTH_ARCHIVE_CHANGES_FULL, false, ret, err);
	} else {
		r = open_diff(o, id, &tree, err);
		if (r < 0)
			return r;
		r = berth_archive_changes(tree, pview, BERTH_ARCHIVE_CHANGES_OVERLAY_UPPER, false,
					  ret, err);
	}
	if (r >= 0 && ret_tree)
		*ret_tree = TAKE_FD(tree);
	return r;
}

int berth_ovl_apply_diff(const struct berth_stor_call *call, json_t **ret, berth_error *err)
{
	struct ovl o = { .rootfd = -1, .lockfd = -1 };
	_cleanup_close_ int llock = -1, dfd = -1;
	_cleanup_closedir_ DIR *d = NULL;
	const char *id = NULL;
	char path[PATH_MAX];
	struct dirent *de;
	int r;

	r = open_common(call, &o, &id, &llock, err);
	if (r < 0)
		goto out;
	r = open_diff(&o, id, &dfd, err);
	if (r < 0)
		goto out;
	/* Only into an empty layer: applying twice would merge two diffs silently. */
	d = fdopendir(dup(dfd));
	while (d && (de = readdir(d)))
		if (!STREQ(de->d_name, ".") && !STREQ(de->d_name, "..")) {
			r = berth_error_set(err, BERTH_STOR_ERR_EXISTS, EEXIST,
					    "layer \"%s\" already has content", id);
			goto out;
		}
	snprintf(path, sizeof(path), "%s/incomplete", id);
	r = berth_write_file_atomic_at(o.rootfd, path, "apply\n", 6, 0600, false, err);
	if (r < 0)
		goto out;
	BERTH_FAULT_POINT("ovl-apply-after-incomplete");
	{
		struct berth_archive_apply_opts ao = {
			.whiteout = BERTH_ARCHIVE_WHITEOUT_OVERLAY,
			.ignore_chown_errors = o.ignore_chown_errors,
			.refuse_devices = o.refuse_devices,
		};
		struct berth_archive_apply_stats st = { 0 };

		r = berth_archive_apply(dfd, call->stream_fd, &ao, &st, err);
		if (r == 0) {
			BERTH_FAULT_POINT("ovl-apply-before-complete");
			if (unlinkat(o.rootfd, path, 0) < 0) {
				r = berth_error_errno(err, BERTH_ERR_IO, "unlink %s", path);
			} else {
				*ret = json_pack("{s:I,s:I}", "size", (json_int_t)st.size,
						 "entries", (json_int_t)st.entries);
				goto out;
			}
		}
	}
	/* A layer that failed to apply is useless and maybe hostile: it goes, now.  A crash
	 * instead of an error leaves the incomplete flag, and INIT/GC remove it. */
	close(llock);
	llock = -1;
	if (berth_ovl_relock(&o, OVL_LOCK_EXCLUSIVE, NULL) == 0 &&
	    berth_ovl_layer_state(&o, id) == 2)
		berth_ovl_remove_layer(&o, id, NULL);
out:
	berth_ovl_close(&o);
	return r;
}

int berth_ovl_diff(const struct berth_stor_call *call, json_t **ret, berth_error *err)
{
	struct ovl o = { .rootfd = -1, .lockfd = -1 };
	_cleanup_close_ int llock = -1;
	_cleanup_free_ char *parent = NULL;
	const char *id = NULL;
	int r;

	r = open_common(call, &o, &id, &llock, err);
	if (r < 0)
		goto out;
	r = layer_parent(&o, call, id, &parent, err);
	if (r < 0)
		goto out;
	{
		struct berth_archive_diff_opts dopts = { .whiteout = BERTH_ARCHIVE_WHITEOUT_OVERLAY };
		uint64_t size = 0;

		if (berth_ovl_naive_diff(&o)) {
			struct berth_archive_changes ch = { 0 };
			_cleanup_close_ int tree = -1;

			r = layer_changes(&o, id, parent, &ch, &tree, err);
			if (r < 0)
				goto out;
			dopts.whiteout = BERTH_ARCHIVE_WHITEOUT_KEEP;
			dopts.changes = &ch;
			r = berth_archive_diff(tree, call->stream_fd, &dopts, &size, err);
			berth_archive_changes_free(&ch);
		} else {
			_cleanup_close_ int dfd = -1;

			r = open_diff(&o, id, &dfd, err);
			if (r < 0)
				goto out;
			r = berth_archive_diff(dfd, call->stream_fd, &dopts, &size, err);
		}
		if (r >= 0)
			*ret = json_pack("{s:I,s:b}", "size", (json_int_t)size, "naive",
					 berth_ovl_naive_diff(&o));
	}
out:
	berth_ovl_close(&o);
	return r;
}

static __attribute__((unused)) const char *kind_name(int k)
{
	return k == 1 ? "added" : k == 2 ? "deleted" : "modified";
}

int berth_ovl_changes(const struct berth_stor_call *call, json_t **ret, berth_error *err)
{
	struct ovl o = { .rootfd = -1, .lockfd = -1 };
	_cleanup_close_ int llock = -1;
	_cleanup_free_ char *parent = NULL;
	const char *id = NULL;
	int r;

	r = open_common(call, &o, &id, &llock, err);
	if (r < 0)
		goto out;
	r = layer_parent(&o, call, id, &parent, err);
	if (r < 0)
		goto out;
	{
		struct berth_archive_changes ch = { 0 };
		json_t *a;

		r = layer_changes(&o, id, parent, &ch, NULL, err);
		if (r < 0)
			goto out;
		a = json_array();
		for (size_t i = 0; i < ch.n; i++) {
			json_t *c = json_object();
			json_object_set_new(c, "path", json_sprintf("/%s", ch.v[i].path));
			json_object_set_new(c, "kind", json_string(kind_name(ch.v[i].kind)));
			json_array_append_new(a, c);
		}
		berth_archive_changes_free(&ch);
		*ret = json_pack("{s:o}", "changes", a);
	}
out:
	berth_ovl_close(&o);
	return r;
}

int berth_ovl_diff_size(const struct berth_stor_call *call, json_t **ret, berth_error *err)
{
	struct ovl o = { .rootfd = -1, .lockfd = -1 };
	_cleanup_close_ int llock = -1;
	_cleanup_free_ char *parent = NULL;
	const char *id = NULL;
	int r;

	r = open_common(call, &o, &id, &llock, err);
	if (r < 0)
		goto out;
	r = layer_parent(&o, call, id, &parent, err);
	if (r < 0)
		goto out;
	{
		struct berth_archive_changes ch = { 0 };
		_cleanup_close_ int tree = -1;
		uint64_t size = 0;

		r = layer_changes(&o, id, parent, &ch, &tree, err);
		if (r < 0)
			goto out;
		r = berth_archive_changes_size(tree, &ch, &size, err);
		berth_archive_changes_free(&ch);
		if (r >= 0)
			*ret = json_pack("{s:I}", "size", (json_int_t)size);
	}
out:
	berth_ovl_close(&o);
	return r;
}

/* du of a tree: allocated bytes and inodes, hardlinks counted once. */
static int walk_usage(int dirfd, uint64_t *bytes, uint64_t *inodes, berth_error *err)
{
	DIR *d;
	struct dirent *de;
	int fd = dup(dirfd);

	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return berth_error_errno(err, BERTH_ERR_IO, "opendir");
	}
	while ((de = readdir(d))) {
		struct stat st;
		if (STREQ(de->d_name, ".") || STREQ(de->d_name, ".."))
			continue;
		if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (st.st_nlink <= 1 || S_ISDIR(st.st_mode)) {
			*bytes += (uint64_t)st.st_blocks * 512;
		} else {
			/* share of a hardlinked inode */
			*bytes += (uint64_t)st.st_blocks * 512 / st.st_nlink;
		}
		*inodes += 1;
		if (S_ISDIR(st.st_mode)) {
			int sub = openat(dirfd, de->d_name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub >= 0) {
				walk_usage(sub, bytes, inodes, NULL);
				close(sub);
			}
		}
	}
	closedir(d);
	return 0;
}

int berth_ovl_usage(const struct berth_stor_call *call, json_t **ret, berth_error *err)
{
	struct ovl o = { .rootfd = -1, .lockfd = -1 };
	_cleanup_close_ int llock = -1, dfd = -1;
	const char *id = NULL;
	uint64_t bytes = 0, inodes = 0;
	int r;

	r = open_common(call, &o, &id, &llock, err);
	if (r < 0)
		goto out;
	r = open_diff(&o, id, &dfd, err);
	if (r < 0)
		goto out;
	r = walk_usage(dfd, &bytes, &inodes, err);
	if (r >= 0)
		*ret = json_pack("{s:I,s:I}", "size", (json_int_t)bytes, "inodes",
				 (json_int_t)inodes);
out:
	berth_ovl_close(&o);
	return r;
}
