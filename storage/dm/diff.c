/* SPDX-License-Identifier: Apache-2.0 */
/* A layer's content as tar: APPLY_DIFF into a fresh layer, DIFF/CHANGES/DIFF_SIZE against its
 * parent, USAGE. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>
#include <linux/fs.h>

#include "berth/archive.h"
#include "berth/cleanup.h"
#include "berth/dm.h"
#include "berth/exec.h"
#include "berth/fault.h"
#include "berth/file.h"
#include "berth/fs.h"
#include "berth/json.h"
#include "berth/log.h"
#include "dm-internal.h"

int berth_dmset_apply_diff(struct berth_dmset *s, const char *id, int tarfd, uint64_t *ret_size,
			   berth_error *err)
{
	_cleanup_free_ char *mnt = NULL;
	_cleanup_close_ int rootfd = -1, lock = -1;
	struct berth_archive_apply_opts opts = {
		.whiteout = BERTH_ARCHIVE_WHITEOUT_DELETE,
		.sync = true,
	};
	struct berth_archive_apply_stats st = { 0 };
	struct layer l;
	int r, r2;

	r = berth_dmset_read_visible(s, id, &l, err);
	if (r == -ENOENT)
		return berth_dmset_unknown_layer(err, id);
	if (r < 0)
		return r;
	r = berth_dmset_lock_layer(s, id, &lock, err);
	if (r < 0)
		return r;
	/* Only into a fresh layer: applying twice would merge two diffs silently. */
	if (l.applied)
		return berth_error_set(err, BERTH_STOR_ERR_EXISTS, EEXIST,
				       "layer %.130s already has content", id);
	snprintf(l.state, sizeof(l.state), "applying");
	r = berth_dmset_write_layer(s, &l, err);
	if (r < 0)
		return r;
	BERTH_FAULT_POINT("dm-apply-after-state");
	r = berth_dmset_mount_layer(s, &l, false, NULL, &mnt, err);
	if (r >= 0) {
		BERTH_FAULT_POINT("dm-apply-after-mount");
		rootfd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (rootfd < 0)
			r = berth_error_errno(err, BERTH_ERR_IO, "open %s", mnt);
		else
			r = berth_archive_apply(rootfd, tarfd, &opts, &st, err);
		if (rootfd >= 0) {
			close(rootfd);
			rootfd = -1;
		}
		r2 = berth_dmset_unmount_ref(s, &l, r < 0 ? &(berth_error){ 0 } : err);
		if (r >= 0 && r2 < 0)
			r = r2;
		if (r >= 0)
			BERTH_FAULT_POINT("dm-apply-after-unmount");
	}
	if (r < 0) {
		/* A layer that failed to apply is useless and maybe hostile: it goes now,
		 * under the exclusive lock.  A crash instead leaves "applying" for INIT/GC. */
		berth_error e = { 0 };
		if (berth_dmset_lock_fd(s->lockfd, true, false, s->root, &e) == 0) {
			berth_dmset_unmount_layer(s, &l, &e);
			berth_dmset_remove_layer(s, &l, true, &e);
			berth_dmset_lock_fd(s->lockfd, s->exclusive, false, s->root, &e);
		}
		return r;
	}
	snprintf(l.state, sizeof(l.state), "ready");
	l.applied = true;
	r = berth_dmset_write_layer(s, &l, err);
	if (r < 0)
		return r;
	if (ret_size)
		*ret_size = st.size;
	return 0;
}

static const char *kind_name(enum berth_archive_change_kind k)
{
	return k == BERTH_ARCHIVE_CHANGE_ADD ? "added"
	       : k == BERTH_ARCHIVE_CHANGE_DELETE ? "deleted"
						  : "modified";
}

int berth_dmset_diff(struct berth_dmset *s, const char *id, const char *parent, int outfd,
		     json_t **ret_changes, uint64_t *ret_size, berth_error *err)
{
	_cleanup_free_ char *tree = NULL, *ptree = NULL;
	_cleanup_close_ int treefd = -1, parentfd = -1;
	struct berth_archive_changes ch = { 0 };
	int lock = -1, plock = -1;
	const char *par;
	struct layer l;
	int r;

	r = berth_dmset_read_visible(s, id, &l, err);
	if (r == -ENOENT)
		return berth_dmset_unknown_layer(err, id);
	if (r < 0)
		return r;
	par = parent && *parent ? parent : l.parent;
	if (*par && !berth_dmset_exists(s, par))
		return berth_dmset_unknown_layer(err, par);
	r = berth_dmset_mount_id(s, id, &lock, &tree, err);
	if (r < 0)
		return r;
	if (*par && !STREQ(par, id)) {
		r = berth_dmset_mount_id(s, par, &plock, &ptree, err);
		if (r < 0)
			goto out;
	}
	treefd = open(tree, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (treefd < 0) {
		r = berth_error_errno(err, BERTH_ERR_IO, "open %s", tree);
		goto out;
	}
	if (ptree) {
		parentfd = open(ptree, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (parentfd < 0) {
			r = berth_error_errno(err, BERTH_ERR_IO, "open %s", ptree);
			goto out;
		}
	}
	if (outfd >= 0 && parentfd < 0) {
		/* a layer on the (empty) base: its diff is the whole tree */
		struct berth_archive_diff_opts o = { .whiteout = BERTH_ARCHIVE_WHITEOUT_KEEP };
		r = berth_archive_diff(treefd, outfd, &o, ret_size, err);
		goto out;
	}
	r = berth_archive_changes(treefd, parentfd, BERTH_ARCHIVE_CHANGES_FULL, false, &ch, err);
	if (r < 0)
		goto out;
	if (outfd >= 0) {
		struct berth_archive_diff_opts o = { .whiteout = BERTH_ARCHIVE_WHITEOUT_KEEP,
						     .changes = &ch };
		r = berth_archive_diff(treefd, outfd, &o, ret_size, err);
	} else if (ret_changes) {
		json_t *a = json_array();
		for (size_t i = 0; i < ch.n; i++)
			json_array_append_new(a, json_pack("{s:s%,s:s}", "path", "", 0, "kind",
							   kind_name(ch.v[i].kind))),
				json_object_set_new(json_array_get(a, i), "path",
						    json_sprintf("/%s", ch.v[i].path));
		*ret_changes = a;
	} else if (ret_size) {
		r = berth_archive_changes_size(treefd, &ch, ret_size, err);
	}
out:
	berth_archive_changes_free(&ch);
	if (treefd >= 0) {
		close(treefd);
		treefd = -1;
	}
	if (parentfd >= 0) {
		close(parentfd);
		parentfd = -1;
	}
	if (ptree)
		berth_dmset_unmount_id(s, par, plock);
	if (tree)
		berth_dmset_unmount_id(s, id, lock);
	return r;
}

int berth_dmset_usage(struct berth_dmset *s, const char *id, uint64_t *ret_size,
		      uint64_t *ret_inodes, berth_error *err)
{
	_cleanup_free_ char *mnt = NULL, *target = NULL, *params = NULL;
	struct statvfs sv;
	uint64_t mapped = 0;
	struct layer l;
	char name[160];
	int r, lock = -1;

	r = berth_dmset_read_visible(s, id, &l, err);
	if (r == -ENOENT)
		return berth_dmset_unknown_layer(err, id);
	if (r < 0)
		return r;
	r = berth_dmset_mount_id(s, id, &lock, &mnt, err);
	if (r < 0)
		return r;
	berth_dmset_dev_name(s, l.devid, name, sizeof(name));
	r = berth_dm_status(name, false, NULL, &target, &params, err);
	if (r == 0 && sscanf(params, "%" SCNu64, &mapped) != 1)
		mapped = 0;
	*ret_size = mapped * SECTOR;
	*ret_inodes = 0;
	if (r == 0 && statvfs(mnt, &sv) == 0)
		*ret_inodes = sv.f_files - sv.f_ffree;
	berth_dmset_unmount_id(s, id, lock);
	return r;
}
