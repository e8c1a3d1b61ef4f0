/* SPDX-License-Identifier: Apache-2.0 */
/* Layer contents of fulltree drivers: APPLY_DIFF (whiteouts applied by deleting from the copy
 * of the parent), DIFF, CHANGES and DIFF_SIZE (the layer's tree against its parent's: the
 * driver's fast way when it has one, else the full comparison), USAGE.  The tar work is
 * include/berth/archive.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "berth/archive.h"
#include "berth/cleanup.h"
#include "berth/file.h"
#include "berth/json.h"
#include "fulltree-internal.h"

/* Store lock shared, the layer locked, the layer complete. */
static int open_common(const struct berth_ft_ops *ops, const struct berth_stor_call *call,
		       struct berth_ft *s, const char **id, int *layer_lock, berth_error *err)
{
	int r;

	r = ft_open(ops, call, s, FT_LOCK_SHARED, err);
	if (r < 0)
		return r;
	if ((r = berth_stor_arg_id(call, "id", true, id, err)) < 0 ||
	    (r = ft_need_layer(s, *id, err)) < 0)
		return r;
	return ft_lock_layer(s, *id, layer_lock, err);
}

int berth_ft_apply_diff(const struct berth_ft_ops *ops, const struct berth_stor_call *call,
			json_t **ret, berth_error *err)
{
	_cleanup_ft_ struct berth_ft s = FT_INIT;
	_cleanup_close_ int llock = -1, tree = -1;
	struct berth_archive_apply_stats st = { 0 };
	const char *id = NULL;
	char path[PATH_MAX];
	int r;

	r = open_common(ops, call, &s, &id, &llock, err);
	if (r < 0)
		return r;
	/* Only into a layer as CREATE made it: applying onto content (an earlier APPLY_DIFF, or
	 * writes through a read-write MOUNT) would merge two diffs silently. */
	if (!ft_has(&s, id, "fresh"))
		return berth_error_set(err, BERTH_STOR_ERR_EXISTS, EEXIST,
				       "layer \"%s\" already has content (applied, or mounted "
				       "read-write)",
				       id);
	r = berth_ft_open_tree(&s, id, &tree, err);
	if (r < 0)
		return r;
	snprintf(path, sizeof(path), "%s/incomplete", id);
	r = berth_write_file_atomic_at(s.layersfd, path, "apply\n", 6, 0600, false, err);
	if (r < 0)
		return r;
	berth_ft_fault(&s, "apply-after-incomplete");
	{
		struct berth_archive_apply_opts ao = {
			.whiteout = BERTH_ARCHIVE_WHITEOUT_DELETE,
			.ignore_chown_errors = s.ignore_chown_errors,
			.refuse_devices = s.refuse_devices,
		};

		r = berth_archive_apply(tree, call->stream_fd, &ao, &st, err);
	}
	if (r >= 0) {
		char fresh[PATH_MAX], tpath[PATH_MAX];

		berth_ft_fault(&s, "apply-before-complete");
		snprintf(fresh, sizeof(fresh), "%s/fresh", id);
		snprintf(tpath, sizeof(tpath), "%s/fs", id);
		if (unlinkat(s.layersfd, fresh, 0) < 0)
			r = berth_error_errno(err, BERTH_ERR_IO, "unlink layers/%s", fresh);
		/* an image layer is final once filled: read-only from now on */
		else if (ops->seal && !ft_has(&s, id, "rw") &&
			 (r = ops->seal(&s, s.layersfd, tpath, err)) < 0)
			;
		else if (unlinkat(s.layersfd, path, 0) < 0)
			r = berth_error_errno(err, BERTH_ERR_IO, "unlink layers/%s", path);
		if (r >= 0) {
			*ret = json_pack("{s:I,s:I}", "size", (json_int_t)st.size, "entries",
					 (json_int_t)st.entries);
			return 0;
		}
	}
	/* A layer that failed to apply is useless and maybe hostile: it goes, now.  A crash
	 * instead of an error leaves the incomplete flag, and INIT/GC remove it. */
	close(TAKE_FD(tree));
	close(TAKE_FD(llock));
	if (err && err->code == BERTH_STOR_ERR_NO_SPACE)
		s.reclaim_space = true;
	if (ft_relock(&s, FT_LOCK_EXCLUSIVE, NULL) == 0 && ft_layer_state(&s, id) == 2)
		ft_remove_layer(&s, id, NULL);
	return r;
}

/* The layer's changes against args.parent (default: its own parent, none for a base layer).
 * *ret_naive says whether the full comparison ran. */
static int layer_changes(struct berth_ft *s, const char *id, struct berth_archive_changes *ret,
			 int *ret_tree, bool *ret_naive, berth_error *err)
{
	_cleanup_free_ char *own = ft_parent(s, id);
	_cleanup_close_ int tree = -1, ptree = -1;
	const char *parent = NULL;
	int r;

	r = berth_stor_arg_id(s->call, "parent", false, &parent, err);
	if (r < 0)
		return r;
	if (!parent)
		parent = own;
	if (parent && (r = ft_need_layer(s, parent, err)) < 0)
		return berth_error_prefix(err, "parent");
	if ((r = berth_ft_open_tree(s, id, &tree, err)) < 0 ||
	    (parent && (r = berth_ft_open_tree(s, parent, &ptree, err)) < 0))
		return r;
	*ret_naive = true;
	r = -EOPNOTSUPP;
	if (s->ops->changes && !s->force_naive_diff && parent && own && STREQ(parent, own)) {
		r = s->ops->changes(s, id, tree, parent, ptree, ret, err);
		if (r >= 0)
			*ret_naive = false;
		else if (r != -EOPNOTSUPP)
			return r;
	}
	if (r == -EOPNOTSUPP)
		r = berth_archive_changes(tree, ptree, BERTH_ARCHIVE_CHANGES_FULL, false, ret, err);
	if (r >= 0 && ret_tree)
		*ret_tree = TAKE_FD(tree);
	return r;
}

int berth_ft_diff(const struct berth_ft_ops *ops, const struct berth_stor_call *call,
		  json_t **ret, berth_error *err)
{
	_cleanup_ft_ struct berth_ft s = FT_INIT;
	_cleanup_close_ int llock = -1, tree = -1;
	struct berth_archive_changes ch = { 0 };
	const char *id = NULL;
	uint64_t size = 0;
	bool naive = true;
	int r;

	r = open_common(ops, call, &s, &id, &llock, err);
	if (r < 0)
		return r;
	r = layer_changes(&s, id, &ch, &tree, &naive, err);
	if (r < 0)
		return r;
	{
		struct berth_archive_diff_opts dopts = {
			.whiteout = BERTH_ARCHIVE_WHITEOUT_KEEP,
			.changes = &ch,
		};

		r = berth_archive_diff(tree, call->stream_fd, &dopts, &size, err);
	}
	berth_archive_changes_free(&ch);
	if (r >= 0)
		*ret = json_pack("{s:I,s:b}", "size", (json_int_t)size, "naive", naive);
	return r;
}

static const char *kind_name(int k)
{
	return k == BERTH_ARCHIVE_CHANGE_ADD ? "added"
	       : k == BERTH_ARCHIVE_CHANGE_DELETE ? "deleted"
						  : "modified";
}

int berth_ft_changes(const struct berth_ft_ops *ops, const struct berth_stor_call *call,
		     json_t **ret, berth_error *err)
{
	_cleanup_ft_ struct berth_ft s = FT_INIT;
	_cleanup_close_ int llock = -1;
	struct berth_archive_changes ch = { 0 };
	const char *id = NULL;
	bool naive = true;
	json_t *a;
	int r;

	r = open_common(ops, call, &s, &id, &llock, err);
	if (r < 0)
		return r;
	r = layer_changes(&s, id, &ch, NULL, &naive, err);
	if (r < 0)
		return r;
	a = json_array();
	for (size_t i = 0; i < ch.n; i++)
		json_array_append_new(a, json_pack("{s:o,s:s}", "path",
						   json_sprintf("/%s", ch.v[i].path), "kind",
						   kind_name(ch.v[i].kind)));
	berth_archive_changes_free(&ch);
	*ret = json_pack("{s:o,s:b}", "changes", a, "naive", naive);
	return 0;
}

int berth_ft_diff_size(const struct berth_ft_ops *ops, const struct berth_stor_call *call,
		       json_t **ret, berth_error *err)
{
	_cleanup_ft_ struct berth_ft s = FT_INIT;
	_cleanup_close_ int llock = -1, tree = -1;
	struct berth_archive_changes ch = { 0 };
	const char *id = NULL;
	uint64_t size = 0;
	bool naive = true;
	int r;

	r = open_common(ops, call, &s, &id, &llock, err);
	if (r < 0)
		return r;
	r = layer_changes(&s, id, &ch, &tree, &naive, err);
	if (r < 0)
		return r;
	r = berth_archive_changes_size(tree, &ch, &size, err);
	berth_archive_changes_free(&ch);
	if (r >= 0)
		*ret = json_pack("{s:I}", "size", (json_int_t)size);
	return r;
}

/* du of a tree: allocated bytes (a hardlinked inode's share per link) and inodes. */
static void walk_usage(int dirfd, uint64_t *bytes, uint64_t *inodes, int depth)
{
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;
	int fd;

	if (depth > 4096 || (fd = dup(dirfd)) < 0)
		return;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	while ((de = readdir(d))) {
		struct stat st;

		if (STREQ(de->d_name, ".") || STREQ(de->d_name, "..") ||
		    fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		*bytes += (uint64_t)st.st_blocks * 512 /
			  (st.st_nlink > 1 && !S_ISDIR(st.st_mode) ? st.st_nlink : 1);
		*inodes += 1;
		if (S_ISDIR(st.st_mode)) {
			int sub = openat(dirfd, de->d_name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub >= 0) {
				walk_usage(sub, bytes, inodes, depth + 1);
				close(sub);
			}
		}
	}
}

int berth_ft_usage(const struct berth_ft_ops *ops, const struct berth_stor_call *call,
		   json_t **ret, berth_error *err)
{
	_cleanup_ft_ struct berth_ft s = FT_INIT;
	_cleanup_close_ int llock = -1, tree = -1;
	const char *id = NULL;
	uint64_t bytes = 0, inodes = 0;
	int r;

	r = open_common(ops, call, &s, &id, &llock, err);
	if (r < 0)
		return r;
	r = berth_ft_open_tree(&s, id, &tree, err);
	if (r < 0)
		return r;
	if (ops->usage)
		return ops->usage(&s, id, tree, ret, err);
	/* The whole tree: a full copy holds all of it (reflinked extents are shared with the
	 * parent, but the layer still references them). */
	walk_usage(tree, &bytes, &inodes, 0);
	*ret = json_pack("{s:I,s:I}", "size", (json_int_t)bytes, "inodes", (json_int_t)inodes);
	return 0;
}
