/* SPDX-License-Identifier: Apache-2.0 */
/* Overlay mounts: the new mount API (fsconfig "lowerdir+", no page-size limit on the number of
 * lowers) with mount(2) as the fallback; on-disk reference counts; MOUNT and UNMOUNT. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "berth/cleanup.h"
#include "berth/file.h"
#include "berth/json.h"
#include "berth/log.h"
#include "berth/overlay.h"
#include "overlay-internal.h"

const char *berth_ovl_last_api = "";

int berth_ovl_refs_get(struct ovl *o, const char *id)
{
	char path[PATH_MAX];
	_cleanup_free_ char *s = NULL;

	snprintf(path, sizeof(path), "%s/mounts/%s", o->run_root, id);
	if (berth_ovl_read_str(AT_FDCWD, path, &s, NULL) < 0)
		return 0;
	return atoi(s) > 0 ? atoi(s) : 0;
}

int berth_ovl_refs_set(struct ovl *o, const char *id, int refs, berth_error *err)
{
	char path[PATH_MAX], buf[32];

	snprintf(path, sizeof(path), "%s/mounts/%s", o->run_root, id);
	if (refs <= 0) {
		if (unlink(path) < 0 && errno != ENOENT)
			return berth_error_errno(err, BERTH_ERR_IO, "unlink %s", path);
		return 0;
	}
	snprintf(buf, sizeof(buf), "%d\n", refs);
	return berth_write_file_atomic(path, buf, strlen(buf), 0600, false, err);
}

bool berth_ovl_is_mounted(struct ovl *o, const char *id)
{
	char path[PATH_MAX];
	struct stat a, b;

	snprintf(path, sizeof(path), "%s/merged", id);
	if (fstatat(o->rootfd, path, &a, AT_SYMLINK_NOFOLLOW) < 0 ||
	    fstatat(o->rootfd, id, &b, AT_SYMLINK_NOFOLLOW) < 0)
		return false;
	return a.st_dev != b.st_dev;
}

/* The kernel explains fsconfig failures in the fs context's log. */
static void fsctx_log(int fsfd, berth_error *err)
{
	char buf[512];
	ssize_t n;

	while ((n = read(fsfd, buf, sizeof(buf) - 1)) > 0) {
		buf[n] = '\0';
		if (err && !err->details[0])
			berth_error_details(err, "%s", buf);
	}
}

struct mount_spec {
	char **lowers; /* absolute, nearest first */
	size_t n;
	const char *upper, *work; /* NULL for a read-only mount */
	bool is_volatile;
};

/* New mount API.  Returns a mount fd (detached) or -errno; -ENOSYS/-EINVAL on "lowerdir+"
 * mean "use the legacy path". */
static int mount_new(struct ovl *o, const struct mount_spec *ms, bool ro, berth_error *err)
{
	_cleanup_close_ int fsfd = -1;
	int mfd;

	fsfd = fsopen("overlay", FSOPEN_CLOEXEC);
	if (fsfd < 0)
		return -errno;
	if (fsconfig(fsfd, FSCONFIG_SET_STRING, "source", "overlay", 0) < 0)
		return -errno;
	for (size_t i = 0; i < ms->n; i++)
		if (fsconfig(fsfd, FSCONFIG_SET_STRING, "lowerdir+", ms->lowers[i], 0) < 0) {
			/* EINVAL: a kernel before 6.8 does not know "lowerdir+" */
			if (errno == EINVAL)
				return -EINVAL;
			return berth_error_errno(err, BERTH_ERR_IO, "lower %s", ms->lowers[i]);
		}
	if (ms->upper) {
		if (fsconfig(fsfd, FSCONFIG_SET_STRING, "upperdir", ms->upper, 0) < 0 ||
		    fsconfig(fsfd, FSCONFIG_SET_STRING, "workdir", ms->work, 0) < 0)
			return berth_error_errno(err, BERTH_ERR_IO, "overlay upper %s",
						 ms->upper);
		if (ms->is_volatile && fsconfig(fsfd, FSCONFIG_SET_FLAG, "volatile", NULL, 0) < 0)
			return berth_error_errno(err, BERTH_STOR_ERR_NOT_SUPPORTED,
						 "overlay volatile");
	}
	if (fsconfig(fsfd, FSCONFIG_SET_STRING, "index", o->index ? "on" : "off", 0) < 0 ||
	    fsconfig(fsfd, FSCONFIG_SET_STRING, "redirect_dir", o->redirect_dir ? "on" : "off",
		     0) < 0)
		return berth_error_errno(err, BERTH_STOR_ERR_NOT_SUPPORTED, "overlay options");
	if (o->metacopy && fsconfig(fsfd, FSCONFIG_SET_STRING, "metacopy", "on", 0) < 0)
		return berth_error_errno(err, BERTH_STOR_ERR_NOT_SUPPORTED, "overlay metacopy");
	if (fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) {
		int r = berth_error_errno(err, berth_stor_errno_code(errno), "overlay mount");
		fsctx_log(fsfd, err);
		return r;
	}
	mfd = fsmount(fsfd, FSMOUNT_CLOEXEC, ro ? MOUNT_ATTR_RDONLY : 0);
	if (mfd < 0)
		return berth_error_errno(err, BERTH_ERR_IO, "fsmount overlay");
	return mfd;
}

/* mount(2): the data must fit in a page.  Relative l/ links from root first; when even those
 * are too long, each lower is opened and named by its fd number with the cwd in
 * /proc/self/fd (3 or 4 bytes a layer). */
static int mount_legacy(struct ovl *o, const struct mount_spec *ms, bool ro, const char *target,
			berth_error *err)
{
	const size_t max = (size_t)sysconf(_SC_PAGESIZE) - 1;
	_cleanup_free_ char *data = NULL;
	_cleanup_free_ int *fds = NULL;
	_cleanup_close_ int cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	size_t len, cap;
	bool use_fds = false;
	int r = 0;

again:
	cap = 256 + (ms->upper ? strlen(ms->upper) + strlen(ms->work) : 0);
	for (size_t i = 0; i < ms->n; i++)
		cap += strlen(ms->lowers[i]) + 1;
	free(data);
	data = malloc(cap);
	if (!data)
		return berth_error_set(err, BERTH_ERR_INTERNAL, ENOMEM, "out of memory");
	len = (size_t)snprintf(data, cap, "lowerdir=");
	for (size_t i = 0; i < ms->n; i++) {
		const char *l = ms->lowers[i];
		char num[16];
		if (use_fds) {
			snprintf(num, sizeof(num), "%d", fds[i]);
			l = num;
		} else if (!strncmp(l, o->root, strlen(o->root)) && l[strlen(o->root)] == '/') {
			l += strlen(o->root) + 1; /* relative to root, the cwd */
		}
		len += (size_t)snprintf(data + len, cap - len, "%s%s", i ? ":" : "", l);
	}
	if (ms->upper)
		len += (size_t)snprintf(data + len, cap - len, ",upperdir=%s,workdir=%s%s", ms->upper,
					ms->work, ms->is_volatile ? ",volatile" : "");
	len += (size_t)snprintf(data + len, cap - len, ",index=%s,redirect_dir=%s%s",
				o->index ? "on" : "off", o->redirect_dir ? "on" : "off",
				o->metacopy ? ",metacopy=on" : "");
	if (len > max && !use_fds) {
		fds = calloc(ms->n ? ms->n : 1, sizeof(int));
		if (!fds)
			return berth_error_set(err, BERTH_ERR_INTERNAL, ENOMEM, "out of memory");
		for (size_t i = 0; i < ms->n; i++)
			fds[i] = -1;
		for (size_t i = 0; i < ms->n; i++) {
			fds[i] = open(ms->lowers[i], O_PATH | O_DIRECTORY | O_CLOEXEC);
			if (fds[i] < 0) {
				r = berth_error_errno(err, BERTH_ERR_IO, "open %s", ms->lowers[i]);
				goto out;
			}
		}
		use_fds = true;
		goto again;
	}
	if (len > max) {
		r = berth_error_set(err, BERTH_ERR_INVALID_CONFIG, E2BIG,
				    "overlay mount data of %zu bytes exceeds a page", len);
		goto out;
	}
	if (chdir(use_fds ? "/proc/self/fd" : o->root) < 0) {
		r = berth_error_errno(err, BERTH_ERR_IO, "chdir");
		goto out;
	}
	if (mount("overlay", target, "overlay", ro ? MS_RDONLY : 0, data) < 0)
		r = berth_error_errno(err, berth_stor_errno_code(errno), "mount overlay on %s",
				      target);
	if (cwd >= 0 && fchdir(cwd) < 0)
		berth_log_warn("fchdir back: %m");
out:
	if (fds)
		for (size_t i = 0; i < ms->n; i++)
			if (fds[i] >= 0)
				close(fds[i]);
	return r;
}

static int build_spec(struct ovl *o, const char *id, bool ro, bool is_volatile,
		      struct mount_spec *ms, char ***ret_strs, berth_error *err)
{
	_cleanup_strv_ char **anc = NULL;
	char **all;
	size_t n = 0, k = 0;
	int r;

	r = berth_ovl_lowers(o, id, &anc, &n, err);
	if (r < 0)
		return r;
	/* [own diff if ro] + ancestors + [empty if fewer than needed] + upper + work */
	all = calloc(n + 5, sizeof(char *));
	if (!all)
		return berth_error_set(err, BERTH_ERR_INTERNAL, ENOMEM, "out of memory");
	if (ro && asprintf(&all[k++], "%s/%s/diff", o->root, id) < 0)
		goto nomem;
	for (size_t i = 0; i < n; i++)
		all[k++] = TAKE_PTR(anc[i]);
	/* A mount without upper needs two lowers, one with an upper needs one. */
	if (k < (ro ? 2u : 1u) && asprintf(&all[k++], "%s/%s/empty", o->root, id) < 0)
		goto nomem;
	ms->lowers = all;
	ms->n = k;
	ms->upper = ms->work = NULL;
	ms->is_volatile = false;
	if (!ro) {
		if (asprintf(&all[k], "%s/%s/diff", o->root, id) < 0 ||
		    asprintf(&all[k + 1], "%s/%s/work", o->root, id) < 0)
			goto nomem;
		ms->upper = all[k];
		ms->work = all[k + 1];
		ms->is_volatile = is_volatile;
	}
	*ret_strs = all;
	return 0;
nomem:
	berth_strv_free(all);
	return berth_error_set(err, BERTH_ERR_INTERNAL, ENOMEM, "out of memory");
}

static json_t *spec_options(const struct mount_spec *ms, bool ro, const struct ovl *o)
{
	json_t *a = json_array();
	size_t len = 9;
	char *lower;

	for (size_t i = 0; i < ms->n; i++)
		len += strlen(ms->lowers[i]) + 1;
	lower = malloc(len + 1);
	if (lower) {
		size_t p = (size_t)sprintf(lower, "lowerdir=");
		for (size_t i = 0; i < ms->n; i++)
			p += (size_t)sprintf(lower + p, "%s%s", i ? ":" : "", ms->lowers[i]);
		json_array_append_new(a, json_string(lower));
		free(lower);
	}
	if (ms->upper) {
		json_array_append_new(a, json_sprintf("upperdir=%s", ms->upper));
		json_array_append_new(a, json_sprintf("workdir=%s", ms->work));
	}
	if (ms->is_volatile)
		json_array_append_new(a, json_string("volatile"));
	json_array_append_new(a, json_string(o->index ? "index=on" : "index=off"));
	json_array_append_new(a, json_string(o->redirect_dir ? "redirect_dir=on" : "redirect_dir=off"));
	if (ro)
		json_array_append_new(a, json_string("ro"));
	return a;
}

int berth_ovl_mount_layer(struct ovl *o, const char *id, const struct ovl_mount_opts *mo,
			  const char *target, json_t **ret_opts, berth_error *err)
{
	_cleanup_strv_ char **strs = NULL;
	struct mount_spec ms;
	char path[PATH_MAX];
	int r;

	r = build_spec(o, id, mo->ro, mo->is_volatile, &ms, &strs, err);
	if (r < 0)
		return r;
	if (ms.n > BERTH_OVL_MAX_DEPTH)
		return berth_error_set(err, BERTH_ERR_INVALID_CONFIG, E2BIG,
				       "%zu lower layers, overlay allows %d", ms.n,
				       BERTH_OVL_MAX_DEPTH);
	if (ms.upper) {
		/* A volatile mount leaves work/work/incompat/volatile behind, and the kernel
		 * refuses the next mount until it is gone (c/s clears it the same way). */
		snprintf(path, sizeof(path), "%s/work/work/incompat", id);
		berth_ovl_rm_rf_at(o->rootfd, path, NULL);
	}
	if (!STREQ(o->mount_api, "legacy")) {
		berth_error e = { 0 };
		int mfd = mount_new(o, &ms, mo->ro, &e);
		if (mfd >= 0) {
			r = move_mount(mfd, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH);
			close(mfd);
			if (r < 0)
				return berth_error_errno(err, BERTH_ERR_IO, "move_mount to %s",
							 target);
			berth_ovl_last_api = "new";
			goto done;
		}
		if (STREQ(o->mount_api, "new") || (e.msg[0] && mfd != -EINVAL && mfd != -ENOSYS)) {
			if (!e.msg[0])
				berth_error_set(&e, BERTH_STOR_ERR_NOT_SUPPORTED, -mfd,
						"new mount API: %s", strerror(-mfd));
			*err = e;
			return mfd;
		}
	}
	r = mount_legacy(o, &ms, mo->ro, target, err);
	if (r < 0)
		return r;
	berth_ovl_last_api = "legacy";
done:
	if (ret_opts)
		*ret_opts = spec_options(&ms, mo->ro, o);
	return 0;
}

int berth_ovl_view_fd(struct ovl *o, const char *id, int *ret_fd, berth_error *err)
{
	_cleanup_strv_ char **strs = NULL;
	struct mount_spec ms;
	char tmp[PATH_MAX];
	int r, fd;

	r = build_spec(o, id, true, false, &ms, &strs, err);
	if (r < 0)
		return r;
	if (!STREQ(o->mount_api, "legacy")) {
		berth_error e = { 0 };
		int mfd = mount_new(o, &ms, true, &e);
		if (mfd >= 0) {
			/* A detached mount: nothing to clean up, gone when the fd closes. */
			*ret_fd = mfd;
			return 0;
		}
	}
	snprintf(tmp, sizeof(tmp), "%s/staging/view-%s-%d", o->root, id, getpid());
	if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
		return berth_error_errno(err, BERTH_ERR_IO, "mkdir %s", tmp);
	r = mount_legacy(o, &ms, true, tmp, err);
	if (r < 0) {
		rmdir(tmp);
		return r;
	}
	fd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	r = fd < 0 ? berth_error_errno(err, BERTH_ERR_IO, "open %s", tmp) : 0;
	umount2(tmp, MNT_DETACH); /* the open fd keeps the view alive */
	rmdir(tmp);
	if (r < 0)
		return r;
	*ret_fd = fd;
	return 0;
}

int berth_ovl_mount(const struct berth_stor_call *call, json_t **ret, berth_error *err)
{
	struct ovl o = { .rootfd = -1, .lockfd = -1 };
	struct ovl_mount_opts mo = { 0 };
	json_t *opts = NULL;
	const char *id = NULL;
	char target[PATH_MAX];
	int refs, r;

	r = berth_ovl_open(call, &o, OVL_LOCK_EXCLUSIVE, err);
	if (r < 0)
		goto out;
	if ((r = berth_stor_arg_id(call, "id", true, &id, err)) < 0 ||
	    (r = berth_ovl_need_layer(&o, id, err)) < 0 ||
	    (r = berth_json_get_bool(call->args, "args", "ro", false, &mo.ro, err)) < 0 ||
	    (r = berth_json_get_bool(call->args, "args", "volatile", false, &mo.is_volatile, err)) <
		    0)
		goto out;
	snprintf(target, sizeof(target), "%s/%s/merged", o.root, id);
	refs = berth_ovl_refs_get(&o, id);
	if (berth_ovl_is_mounted(&o, id)) {
		/* Already mounted (by another process): share it, if it is what this caller asked
		 * for.  A read-write caller handed the read-only mount would fail its first write;
		 * a read-only one handed a writable mount could change the layer. */
		struct statvfs sv;
		bool is_ro = statvfs(target, &sv) == 0 && (sv.f_flag & ST_RDONLY);

		if (is_ro != mo.ro) {
			r = berth_error_set(err, BERTH_STOR_ERR_BUSY, EBUSY,
					    "layer \"%s\" is mounted %s (%d references): a %s MOUNT "
					    "must wait until it is unmounted",
					    id, is_ro ? "read-only" : "read-write", refs,
					    mo.ro ? "read-only" : "read-write");
			goto out;
		}
		r = berth_ovl_refs_set(&o, id, refs + 1, err);
		if (r < 0)
			goto out;
		*ret = json_pack("{s:s,s:i,s:b}", "path", target, "refs", refs + 1, "shared", true);
		goto out;
	}
	if (mo.ro && mo.is_volatile)
		mo.is_volatile = false;
	r = berth_ovl_mount_layer(&o, id, &mo, target, &opts, err);
	if (r < 0)
		goto out;
	r = berth_ovl_refs_set(&o, id, 1, err);
	if (r < 0) {
		umount2(target, MNT_DETACH);
		goto out;
	}
	*ret = json_pack("{s:s,s:i,s:s,s:[{s:s,s:s,s:s,s:o}]}", "path", target, "refs", 1,
			 "mountApi", berth_ovl_last_api, "mounts", "type", "overlay", "source",
			 "overlay", "destination", target, "options", opts);
	opts = NULL;
out:
	if (opts)
		json_decref(opts);
	berth_ovl_close(&o);
	return r;
}

int berth_ovl_unmount(const struct berth_stor_call *call, json_t **ret, berth_error *err)
{
	struct ovl o = { .rootfd = -1, .lockfd = -1 };
	const char *id = NULL;
	char target[PATH_MAX];
	bool force = false;
	int refs, r;

	r = berth_ovl_open(call, &o, OVL_LOCK_EXCLUSIVE, err);
	if (r < 0)
		goto out;
	if ((r = berth_stor_arg_id(call, "id", true, &id, err)) < 0 ||
	    (r = berth_json_get_bool(call->args, "args", "force", false, &force, err)) < 0)
		goto out;
	if (!berth_ovl_layer_state(&o, id)) {
		*ret = json_pack("{s:i}", "refs", 0); /* gone: nothing to unmount */
		goto out;
	}
	refs = berth_ovl_refs_get(&o, id) - 1;
	if (force || refs < 0)
		refs = 0;
	if (refs == 0 && berth_ovl_is_mounted(&o, id)) {
		snprintf(target, sizeof(target), "%s/%s/merged", o.root, id);
		/* Detach: a process still inside must not make the driver fail or hang. */
		if (umount2(target, MNT_DETACH) < 0) {
			r = berth_error_errno(err, berth_stor_errno_code(errno), "umount %s", target);
			goto out;
		}
	}
	r = berth_ovl_refs_set(&o, id, refs, err);
	if (r < 0)
		goto out;
	*ret = json_pack("{s:i}", "refs", refs);
out:
	berth_ovl_close(&o);
	return r;
}

/* Does dir (relative to rootfd) hold anything? */
static bool dir_empty_at(int rootfd, const char *dir)
{
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;
	int fd;

	fd = openat(rootfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return true;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return true;
	}
	while ((de = readdir(d)))
		if (!STREQ(de->d_name, ".") && !STREQ(de->d_name, ".."))
			return false;
	return true;
}

static json_t *bind_spec(const char *source, bool ro)
{
	return json_pack("{s:s,s:s,s:[s,s]}", "type", "bind", "source", source, "options",
			 ro ? "ro" : "rw", "rbind");
}

/* MOUNTS: what MOUNT would mount, as specs for a caller that mounts them itself (containerd).
 * Mounts nothing, takes no reference.  The shapes are containerd's overlayfs snapshotter's: a
 * bind mount where a single directory is the whole tree, else overlay. */
int berth_ovl_mounts_spec(struct ovl *o, const char *id, bool ro, json_t **ret, berth_error *err)
{
	_cleanup_strv_ char **anc = NULL;
	_cleanup_free_ char *lower = NULL;
	char own[PATH_MAX], rel[PATH_MAX];
	json_t *opts;
	size_t n = 0, len, p;
	bool with_own;
	int r;

	r = berth_ovl_lowers(o, id, &anc, &n, err);
	if (r < 0)
		return r;
	/* Each lower by the shorter of its two names, R/l/<link> or R/<id>/diff: containerd
	 * mounts a lowerdir list longer than a page relative to the lowers' common directory
	 * (R), so the shorter names let more layers fit. */
	for (size_t i = 0; i < n; i++) {
		char target[PATH_MAX], *alt = NULL;
		const char *link = anc[i] + strlen(o->root) + 1; /* l/<link> */
		ssize_t tl = readlinkat(o->rootfd, link, target, sizeof(target) - 1);

		if (tl <= 3 || strncmp(target, "../", 3) != 0)
			continue;
		target[tl] = '\0';
		if ((size_t)tl - 3 < strlen(link) &&
		    asprintf(&alt, "%s/%s", o->root, target + 3) >= 0) {
			free(anc[i]);
			anc[i] = alt;
		}
	}
	snprintf(own, sizeof(own), "%s/%s/diff", o->root, id);
	snprintf(rel, sizeof(rel), "%s/diff", id);
	if (!ro && n == 0) {
		*ret = bind_spec(own, false);
		return 0;
	}
	/* A read-only stack leaves out an empty own layer: a containerd View is a new, empty
	 * layer on its parent, and its tree is the parent's. */
	with_own = ro && !dir_empty_at(o->rootfd, rel);
	if (ro && n + with_own <= 1) {
		*ret = bind_spec(with_own || n == 0 ? own : anc[0], true);
		return 0;
	}
	if (n + with_own > BERTH_OVL_MAX_DEPTH)
		return berth_error_set(err, BERTH_ERR_INVALID_CONFIG, E2BIG,
				       "%zu lower layers, overlay allows %d", n + with_own,
				       BERTH_OVL_MAX_DEPTH);
	len = sizeof("lowerdir=") + strlen(own) + 1;
	for (size_t i = 0; i < n; i++)
		len += strlen(anc[i]) + 1;
	lower = malloc(len);
	if (!lower)
		return -ENOMEM;
	p = (size_t)snprintf(lower, len, "lowerdir=%s", with_own ? own : "");
	for (size_t i = 0; i < n; i++)
		p += (size_t)snprintf(lower + p, len - p, "%s%s", with_own || i ? ":" : "", anc[i]);
	opts = json_array();
	json_array_append_new(opts, json_string(o->index ? "index=on" : "index=off"));
	json_array_append_new(opts,
			      json_string(o->redirect_dir ? "redirect_dir=on" : "redirect_dir=off"));
	if (o->metacopy)
		json_array_append_new(opts, json_string("metacopy=on"));
	if (!ro) {
		json_array_append_new(opts, json_sprintf("workdir=%s/%s/work", o->root, id));
		json_array_append_new(opts, json_sprintf("upperdir=%s", own));
	}
	json_array_append_new(opts, json_string(lower));
	if (ro)
		json_array_append_new(opts, json_string("ro"));
	*ret = json_pack("{s:s,s:s,s:o}", "type", "overlay", "source", "overlay", "options", opts);
	return 0;
}

int berth_ovl_mounts(const struct berth_stor_call *call, json_t **ret, berth_error *err)
{
	struct ovl o = { .rootfd = -1, .lockfd = -1 };
	const char *id = NULL;
	json_t *m = NULL;
	bool ro = false;
	int r;

	r = berth_ovl_open(call, &o, OVL_LOCK_SHARED, err);
	if (r < 0)
		goto out;
	if ((r = berth_stor_arg_id(call, "id", true, &id, err)) < 0 ||
	    (r = berth_ovl_need_layer(&o, id, err)) < 0 ||
	    (r = berth_json_get_bool(call->args, "args", "ro", false, &ro, err)) < 0 ||
	    (r = berth_ovl_mounts_spec(&o, id, ro, &m, err)) < 0)
		goto out;
	*ret = m ? json_pack("{s:[o],s:b}", "mounts", m, "activated", false) : NULL;
	if (!*ret)
		r = berth_error_set(err, BERTH_ERR_INTERNAL, ENOMEM, "out of memory");
out:
	berth_ovl_close(&o);
	return r == -ENOMEM && !err->msg[0]
		       ? berth_error_set(err, BERTH_ERR_INTERNAL, ENOMEM, "out of memory")
		       : r;
}

/* RELEASE: MOUNTS activates nothing here. */
int berth_ovl_release(const struct berth_stor_call *call, json_t **ret, berth_error *err)
{
	const char *id = NULL;
	int r;

	if ((r = berth_stor_arg_id(call, "id", true, &id, err)) < 0)
		return r;
	*ret = json_pack("{s:b,s:b}", "released", false, "deferred", false);
	return 0;
}
