/* SPDX-License-Identifier: Apache-2.0 */
/* MOUNT and UNMOUNT of fulltree layers.  The tree is a directory already, so a read-write
 * MOUNT is only a reference (no mount(2): vfs works where mounting is not allowed, and btrfs
 * subvolumes are directories); a read-only MOUNT of a tree that is still writable binds it
 * read-only onto itself, so every user of the path sees it read-only until the last UNMOUNT.
 * Reference counts and the mode live in runRoot/mounts/<id> as "REFS MODE". */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "berth/cleanup.h"
#include "berth/file.h"
#include "berth/fs.h"
#include "berth/json.h"
#include "fulltree-internal.h"

void ft_refs_get(struct berth_ft *s, const char *id, struct ft_refs *ret)
{
	_cleanup_free_ char *buf = NULL;
	char path[PATH_MAX], mode[8] = "";
	int refs = 0;

	ret->refs = 0;
	ret->ro = false;
	snprintf(path, sizeof(path), "%s/mounts/%s", s->run_root, id);
	if (berth_read_file(path, 256, &buf, NULL, NULL) < 0)
		return;
	if (sscanf(buf, "%d %7s", &refs, mode) < 1 || refs <= 0)
		return;
	ret->refs = refs;
	ret->ro = STREQ(mode, "ro");
}

int ft_refs_set(struct berth_ft *s, const char *id, const struct ft_refs *r, berth_error *err)
{
	char path[PATH_MAX], buf[32];

	snprintf(path, sizeof(path), "%s/mounts/%s", s->run_root, id);
	if (r->refs <= 0) {
		if (unlink(path) < 0 && errno != ENOENT)
			return berth_error_errno(err, BERTH_ERR_IO, "unlink %s", path);
		return 0;
	}
	snprintf(buf, sizeof(buf), "%d %s\n", r->refs, r->ro ? "ro" : "rw");
	return berth_write_file_atomic(path, buf, strlen(buf), 0600, false, err);
}

bool ft_is_mounted(struct berth_ft *s, const char *id)
{
	struct ft_refs refs;
	char path[PATH_MAX];

	ft_refs_get(s, id, &refs);
	if (refs.refs > 0)
		return true;
	ft_tree_path(s, id, path, sizeof(path));
	return berth_is_mountpoint(path);
}

void ft_unbind(struct berth_ft *s, const char *id)
{
	char path[PATH_MAX];

	ft_tree_path(s, id, path, sizeof(path));
	/* a btrfs subvolume is no mount root of its own (statx reports bind mounts only) */
	while (berth_is_mountpoint(path) && umount2(path, MNT_DETACH) == 0)
		;
}

static bool sealed(struct berth_ft *s, const char *id)
{
	char tree[PATH_MAX];

	snprintf(tree, sizeof(tree), "%s/fs", id);
	return s->ops->is_sealed && s->ops->is_sealed(s, s->layersfd, tree);
}

static int bind_ro(const char *path, berth_error *err)
{
	if (mount(path, path, NULL, MS_BIND, NULL) < 0)
		return berth_error_errno(err, berth_stor_errno_code(errno), "bind mount %s", path);
	if (mount(NULL, path, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0) {
		int r = berth_error_errno(err, BERTH_ERR_IO, "remount %s read-only", path);
		umount2(path, MNT_DETACH);
		return r;
	}
	return 0;
}

int berth_ft_mount(const struct berth_ft_ops *ops, const struct berth_stor_call *call,
		   json_t **ret, berth_error *err)
{
	_cleanup_ft_ struct berth_ft s = FT_INIT;
	const char *id = NULL;
	char path[PATH_MAX], fresh[PATH_MAX];
	struct ft_refs refs;
	bool ro = false, is_sealed;
	int r;

	r = ft_open(ops, call, &s, FT_LOCK_EXCLUSIVE, err);
	if (r < 0)
		return r;
	if ((r = berth_stor_arg_id(call, "id", true, &id, err)) < 0 ||
	    (r = ft_need_layer(&s, id, err)) < 0 ||
	    (r = berth_json_get_bool(call->args, "args", "ro", false, &ro, err)) < 0)
		return r;
	ft_tree_path(&s, id, path, sizeof(path));
	ft_refs_get(&s, id, &refs);
	if (refs.refs > 0) {
		/* Shared only in the mode it was mounted: a read-write caller handed the read-only
		 * bind would fail its first write, a read-only one handed the writable tree could
		 * change the layer. */
		if (refs.ro != ro)
			return berth_error_set(err, BERTH_STOR_ERR_BUSY, EBUSY,
					       "layer \"%s\" is mounted %s (%d references): a %s "
					       "MOUNT must wait until it is unmounted",
					       id, refs.ro ? "read-only" : "read-write", refs.refs,
					       ro ? "read-only" : "read-write");
		refs.refs++;
		r = ft_refs_set(&s, id, &refs, err);
		if (r < 0)
			return r;
		*ret = json_pack("{s:s,s:i,s:b}", "path", path, "refs", refs.refs, "shared", true);
		return 0;
	}
	is_sealed = sealed(&s, id);
	if (ro && !is_sealed) {
		ft_unbind(&s, id); /* a stale bind (CLEANUP was not run after a crash) */
		r = bind_ro(path, err);
		if (r < 0)
			return r;
	} else if (!ro && !is_sealed) {
		/* the tree may be written from now on: it is no longer an empty layer that
		 * APPLY_DIFF could fill */
		snprintf(fresh, sizeof(fresh), "%s/fresh", id);
		unlinkat(s.layersfd, fresh, 0);
	}
	refs.refs = 1;
	refs.ro = ro;
	r = ft_refs_set(&s, id, &refs, err);
	if (r < 0) {
		if (ro && !is_sealed)
			ft_unbind(&s, id);
		return r;
	}
	*ret = json_pack("{s:s,s:i,s:b,s:[{s:s,s:s,s:s,s:[s,s]}]}", "path", path, "refs", 1,
			 "readOnly", ro || is_sealed, "mounts", "type", "bind", "source", path,
			 "destination", path, "options", "rbind", ro || is_sealed ? "ro" : "rw");
	return 0;
}

int berth_ft_unmount(const struct berth_ft_ops *ops, const struct berth_stor_call *call,
		     json_t **ret, berth_error *err)
{
	_cleanup_ft_ struct berth_ft s = FT_INIT;
	const char *id = NULL;
	struct ft_refs refs;
	bool force = false;
	int r;

	r = ft_open(ops, call, &s, FT_LOCK_EXCLUSIVE, err);
	if (r < 0)
		return r;
	if ((r = berth_stor_arg_id(call, "id", true, &id, err)) < 0 ||
	    (r = berth_json_get_bool(call->args, "args", "force", false, &force, err)) < 0)
		return r;
	if (!ft_layer_state(&s, id)) {
		*ret = json_pack("{s:i}", "refs", 0); /* gone: nothing to unmount */
		return 0;
	}
	ft_refs_get(&s, id, &refs);
	refs.refs--;
	if (force || refs.refs < 0)
		refs.refs = 0;
	if (refs.refs == 0)
		ft_unbind(&s, id);
	r = ft_refs_set(&s, id, &refs, err);
	if (r < 0)
		return r;
	*ret = json_pack("{s:i}", "refs", refs.refs);
	return 0;
}

/* The specs of MOUNTS (and of CREATE with args.mounts): a bind of the tree unless the driver
 * says otherwise; read-write specs make the layer non-fresh (whoever mounts them may write). */
int ft_mount_specs(struct berth_ft *s, const char *id, bool ro, json_t **ret, berth_error *err)
{
	char path[PATH_MAX], fresh[PATH_MAX];
	json_t *mounts = NULL;
	bool is_sealed = sealed(s, id);
	int r;

	ft_tree_path(s, id, path, sizeof(path));
	if (s->ops->mount_specs) {
		r = s->ops->mount_specs(s, id, path, ro || is_sealed, &mounts, err);
		if (r < 0)
			return r;
	} else {
		mounts = json_pack("[{s:s,s:s,s:[s,s]}]", "type", "bind", "source", path, "options",
				   "rbind", ro || is_sealed ? "ro" : "rw");
	}
	if (!ro && !is_sealed) {
		snprintf(fresh, sizeof(fresh), "%s/fresh", id);
		unlinkat(s->layersfd, fresh, 0);
	}
	*ret = mounts;
	return 0;
}

/* MOUNTS: what a caller mounts itself (containerd), nothing mounted, no reference taken. */
int berth_ft_mounts(const struct berth_ft_ops *ops, const struct berth_stor_call *call,
		    json_t **ret, berth_error *err)
{
	_cleanup_ft_ struct berth_ft s = FT_INIT;
	_cleanup_close_ int llock = -1;
	json_t *mounts = NULL;
	const char *id = NULL;
	bool ro = false;
	int r;

	r = ft_open(ops, call, &s, FT_LOCK_SHARED, err);
	if (r < 0)
		return r;
	if ((r = berth_stor_arg_id(call, "id", true, &id, err)) < 0 ||
	    (r = berth_json_get_bool(call->args, "args", "ro", false, &ro, err)) < 0 ||
	    (r = ft_need_layer(&s, id, err)) < 0 || (r = ft_lock_layer(&s, id, &llock, err)) < 0)
		return r;
	r = ft_mount_specs(&s, id, ro, &mounts, err);
	if (r < 0)
		return r;
	*ret = json_pack("{s:o,s:b}", "mounts", mounts, "activated", false);
	return 0;
}

/* RELEASE: MOUNTS activates nothing here. */
int berth_ft_release(const struct berth_ft_ops *ops, const struct berth_stor_call *call,
		     json_t **ret, berth_error *err)
{
	_cleanup_ft_ struct berth_ft s = FT_INIT;
	const char *id = NULL;
	int r;

	r = ft_open(ops, call, &s, FT_LOCK_SHARED, err);
	if (r < 0)
		return r;
	if ((r = berth_stor_arg_id(call, "id", true, &id, err)) < 0)
		return r;
	*ret = json_pack("{s:b,s:b}", "released", false, "deferred", false);
	return 0;
}
