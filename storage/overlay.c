/* SPDX-License-Identifier: Apache-2.0 */
/* The overlay driver: layout, locking, layer lifecycle, INIT/STATUS/GC/CLEANUP. */
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
#include "berth/json.h"
#include "berth/log.h"
#include "berth/storage.h"
#include "overlay.h"
#include "overlay-int.h"

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

/* "10G", "512m", "1048576" or a number. */
static int parse_size(json_t *v, const char *what, uint64_t *ret, berth_error *err)
{
	const char *s;
	char *end;
	unsigned long long n;
	unsigned shift = 0;

	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		*ret = (uint64_t)json_integer_value(v);
		return 0;
	}
	if (!json_is_string(v))
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "%s: expected a size", what);
	s = json_string_value(v);
	errno = 0;
	n = strtoull(s, &end, 10);
	if (errno || end == s)
		goto bad;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	}
	/* "16777216T" must not wrap around to 0, which means "no limit" */
	if (shift && n > (~0ULL >> shift))
		goto bad;
	n <<= shift;
	if (*end == 'b' || *end == 'B')
		end++;
	if (*end)
		goto bad;
	*ret = n;
	return 0;
bad:
	return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
			       "%s: invalid size \"%.50s\"", what, s);
}

static int parse_options(struct ovl *o, json_t *opts, berth_error *err)
{
	json_t *v;
	int r;

	o->mount_api = "auto";
	r = berth_json_get_string(opts, "options", "mount_api", false, &o->mount_api, err);
	if (r < 0)
		return r;
	if (!STREQ(o->mount_api, "auto") && !STREQ(o->mount_api, "new") &&
	    !STREQ(o->mount_api, "legacy"))
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "options.mount_api: \"%.50s\" is not auto, new or legacy",
				       o->mount_api);
	if ((r = berth_json_get_bool(opts, "options", "index", false, &o->index, err)) < 0 ||
	    (r = berth_json_get_bool(opts, "options", "redirect_dir", false, &o->redirect_dir,
				     err)) < 0 ||
	    (r = berth_json_get_bool(opts, "options", "metacopy", false, &o->metacopy, err)) < 0 ||
	    (r = berth_json_get_bool(opts, "options", "force_naive_diff", false,
				     &o->force_naive_diff, err)) < 0 ||
	    (r = berth_json_get_bool(opts, "options", "skip_mount_home", false,
				     &o->skip_mount_home, err)) < 0 ||
	    (r = berth_json_get_bool(opts, "options", "ignore_chown_errors", false,
				     &o->ignore_chown_errors, err)) < 0 ||
	    (r = berth_json_get_bool(opts, "options", "refuse_devices", false,
				     &o->refuse_devices, err)) < 0)
		return r;
	v = json_object_get(opts, "size");
	if (v && (r = parse_size(v, "options.size", &o->default_size, err)) < 0)
		return r;
	return 0;
}

bool berth_ovl_naive_diff(const struct ovl *o)
{
	/* With redirect_dir or metacopy the upper dir no longer holds the whole change (renamed
	 * dirs point into lowers, copied-up files may be metadata only): diff the merged views. */
	return o->force_naive_diff || o->redirect_dir || o->metacopy;
}

int berth_ovl_open(const struct berth_stor_call *call, struct ovl *o, int lock, berth_error *err)
{
	char path[PATH_MAX];
	int r;

	memset(o, 0, sizeof(*o));
	o->call = call;
	o->root = call->root;
	o->run_root = call->run_root;
	o->rootfd = -1;
	o->lockfd = -1;
	r = parse_options(o, call->options, err);
	if (r < 0)
		return r;
	r = berth_json_get_bool(call->args, "args", "noWait", false, &o->no_wait, err);
	if (r < 0)
		return r;
	if (strpbrk(o->root, ":,") || strpbrk(o->run_root, ":,"))
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "root/runRoot must not contain ':' or ',' (overlay mount "
				       "options)");
	static const char *const subdirs[] = { "", "/l", "/staging" };
	for (size_t i = 0; i < ARRAY_SIZE(subdirs); i++) {
		snprintf(path, sizeof(path), "%s%s", o->root, subdirs[i]);
		r = berth_mkdir_p(path, 0700, err);
		if (r < 0)
			return r;
	}
	static const char *const rsubdirs[] = { "/mounts", "/locks" };
	for (size_t i = 0; i < ARRAY_SIZE(rsubdirs); i++) {
		snprintf(path, sizeof(path), "%s%s", o->run_root, rsubdirs[i]);
		r = berth_mkdir_p(path, 0700, err);
		if (r < 0)
			return r;
	}
	o->rootfd = open(o->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (o->rootfd < 0)
		return berth_error_errno(err, BERTH_CNI_ERR_IO, "open %s", o->root);
	return berth_ovl_relock(o, lock, err);
}

int berth_ovl_relock(struct ovl *o, int lock, berth_error *err)
{
	if (lock == OVL_LOCK_NONE)
		return 0;
	if (o->lockfd < 0) {
		o->lockfd = openat(o->rootfd, ".lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (o->lockfd < 0)
			return berth_error_errno(err, BERTH_CNI_ERR_IO, "open %s/.lock", o->root);
	}
	while (flock(o->lockfd, (lock == OVL_LOCK_EXCLUSIVE ? LOCK_EX : LOCK_SH) |
					(o->no_wait ? LOCK_NB : 0)) < 0) {
		if (errno == EWOULDBLOCK)
			return berth_error_set(err, BERTH_CNI_ERR_TRY_AGAIN, EAGAIN,
					       "%s is busy with another call (args.noWait)", o->root);
		if (errno != EINTR)
			return berth_error_errno(err, BERTH_CNI_ERR_IO, "lock %s/.lock", o->root);
	}
	return 0;
}

void berth_ovl_close(struct ovl *o)
{
	if (o->lockfd >= 0)
		close(o->lockfd);
	if (o->rootfd >= 0)
		close(o->rootfd);
	o->lockfd = o->rootfd = -1;
}

static void ovl_closep(struct ovl *o)
{
	berth_ovl_close(o);
}
#define _cleanup_ovl_ _cleanup_(ovl_closep)

int berth_ovl_lock_layer(struct ovl *o, const char *id, int *ret_fd, berth_error *err)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/locks/%s", o->run_root, id);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return berth_error_errno(err, BERTH_CNI_ERR_IO, "open %s", path);
	while (flock(fd, LOCK_EX | (o->no_wait ? LOCK_NB : 0)) < 0) {
		if (errno == EWOULDBLOCK) {
			close(fd);
			return berth_error_set(err, BERTH_CNI_ERR_TRY_AGAIN, EAGAIN,
					       "layer \"%s\" is busy with another call (args.noWait)",
					       id);
		}
		if (errno != EINTR) {
			close(fd);
			return berth_error_errno(err, BERTH_CNI_ERR_IO, "lock %s", path);
		}
	}
	*ret_fd = fd;
	return 0;
}

int berth_ovl_layer_state(struct ovl *o, const char *id)
{
	char path[PATH_MAX];
	struct stat st;

	if (fstatat(o->rootfd, id, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
		return 0;
	snprintf(path, sizeof(path), "%s/incomplete", id);
	if (faccessat(o->rootfd, path, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
		return 2;
	return 1;
}

int berth_ovl_need_layer(struct ovl *o, const char *id, berth_error *err)
{
	if (berth_ovl_layer_state(o, id) != 1)
		return berth_error_set(err, BERTH_CNI_ERR_UNKNOWN_CONTAINER, ENOENT,
				       "layer \"%s\" does not exist", id);
	return 0;
}

int berth_ovl_read_str(int dirfd, const char *path, char **ret, berth_error *err)
{
	char *s = NULL;
	size_t len = 0;
	int fd, r;

	fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ENOENT)
			return -ENOENT;
		return berth_error_errno(err, BERTH_CNI_ERR_IO, "open %s", path);
	}
	r = berth_read_fd(fd, 1 << 20, &s, &len, err);
	close(fd);
	if (r < 0)
		return r;
	while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == ' '))
		s[--len] = '\0';
	*ret = s;
	return 0;
}

int berth_ovl_lowers(struct ovl *o, const char *id, char ***ret, size_t *ret_n, berth_error *err)
{
	_cleanup_free_ char *lower = NULL;
	char path[PATH_MAX];
	char **v;
	size_t n = 0, cap;
	int r;

	snprintf(path, sizeof(path), "%s/lower", id);
	r = berth_ovl_read_str(o->rootfd, path, &lower, err);
	if (r == -ENOENT || (r == 0 && !*lower)) {
		*ret = calloc(1, sizeof(char *));
		*ret_n = 0;
		return *ret ? 0 : -ENOMEM;
	}
	if (r < 0)
		return r;
	cap = 1;
	for (char *p = lower; *p; p++)
		cap += *p == ':';
	v = calloc(cap + 1, sizeof(char *));
	if (!v)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	for (char *save = NULL, *tok = strtok_r(lower, ":", &save); tok;
	     tok = strtok_r(NULL, ":", &save)) {
		if (strncmp(tok, "l/", 2) || !berth_path_component_ok(tok + 2)) {
			berth_strv_free(v);
			return berth_error_set(err, BERTH_CNI_ERR_IO, EUCLEAN,
					       "layer %s: corrupt lower file (\"%.60s\")", id, tok);
		}
		if (asprintf(&v[n], "%s/%s", o->root, tok) < 0) {
			v[n] = NULL;
			berth_strv_free(v);
			return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
		}
		n++;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

int berth_ovl_rm_rf_at(int dfd, const char *path, berth_error *err)
{
	struct stat st;
	int fd;
	DIR *d;
	struct dirent *de;

	if (fstatat(dfd, path, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return 0;
		return berth_error_errno(err, BERTH_CNI_ERR_IO, "stat %s", path);
	}
	if (!S_ISDIR(st.st_mode)) {
		if (unlinkat(dfd, path, 0) < 0 && errno != ENOENT)
			return berth_error_errno(err, BERTH_CNI_ERR_IO, "unlink %s", path);
		return 0;
	}
	fd = openat(dfd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return berth_error_errno(err, BERTH_CNI_ERR_IO, "open %s", path);
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return berth_error_errno(err, BERTH_CNI_ERR_IO, "opendir %s", path);
	}
	while ((errno = 0, de = readdir(d))) {
		int r;
		if (STREQ(de->d_name, ".") || STREQ(de->d_name, ".."))
			continue;
		r = berth_ovl_rm_rf_at(dirfd(d), de->d_name, err);
		if (r < 0) {
			closedir(d);
			return berth_error_prefix(err, "%s", path);
		}
	}
	closedir(d);
	if (unlinkat(dfd, path, AT_REMOVEDIR) < 0 && errno != ENOENT) {
		if (errno == EBUSY)
			return berth_error_errno(err, BERTH_STOR_ERR_BUSY, "rmdir %s", path);
		return berth_error_errno(err, BERTH_CNI_ERR_IO, "rmdir %s", path);
	}
	return 0;
}

static void random_link(char *buf)
{
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
	unsigned char rnd[OVL_LINK_LEN];

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		for (size_t i = 0; i < sizeof(rnd); i++)
			rnd[i] = (unsigned char)(rand() ^ getpid() ^ i);
	for (int i = 0; i < OVL_LINK_LEN; i++)
		buf[i] = alphabet[rnd[i] & 31];
	buf[OVL_LINK_LEN] = '\0';
}

static int write_at(int dirfd, const char *path, const char *s, berth_error *err)
{
	return berth_write_file_atomic_at(dirfd, path, s, strlen(s), 0600, false, err);
}

/* Children whose layer dir still exists (markers can outlive a crash). */
static int count_children(struct ovl *o, const char *id, berth_error *err)
{
	char path[PATH_MAX];
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;
	int fd, n = 0;

	snprintf(path, sizeof(path), "%s/children", id);
	fd = openat(o->rootfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : berth_error_errno(err, BERTH_CNI_ERR_IO, "open %s", path);
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return berth_error_errno(err, BERTH_CNI_ERR_IO, "opendir %s", path);
	}
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (berth_ovl_layer_state(o, de->d_name))
			n++;
		else
			unlinkat(dirfd(d), de->d_name, 0);
	}
	return n;
}

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
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "args.mounts: must be an object ({\"ro\":bool})");
	size = o.default_size;
	v = json_object_get(call->args, "size");
	if (v && (r = parse_size(v, "args.size", &size, err)) < 0)
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
			return r == -ENOENT ? berth_error_set(err, BERTH_CNI_ERR_IO, EUCLEAN,
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
			return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, E2BIG,
					       "layer chain too deep: %zu layers, overlay allows %d",
					       depth, BERTH_OVL_MAX_DEPTH);
		if (asprintf(&lower, "l/%s%s%s", plink, plower && *plower ? ":" : "",
			     plower ? plower : "") < 0)
			return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
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
		return berth_error_errno(err, BERTH_CNI_ERR_IO, "mkdir %s/%s", o.root, stage);
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
	if ((r = write_at(o.rootfd, path, "", err)) < 0)
		return r;
	BERTH_FAULT_POINT("ovl-create-after-incomplete");
	random_link(link);
	snprintf(path, sizeof(path), "%s/link", stage);
	if ((r = write_at(o.rootfd, path, link, err)) < 0)
		return r;
	BERTH_FAULT_POINT("ovl-create-before-lower");
	if (lower) {
		snprintf(path, sizeof(path), "%s/lower", stage);
		if ((r = write_at(o.rootfd, path, lower, err)) < 0)
			return r;
		snprintf(path, sizeof(path), "%s/parent", stage);
		if ((r = write_at(o.rootfd, path, parent, err)) < 0)
			return r;
	}
	if (json_is_true(json_object_get(call->args, "rw"))) {
		snprintf(path, sizeof(path), "%s/rw", stage);
		if ((r = write_at(o.rootfd, path, "", err)) < 0)
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
		r = berth_error_errno(err, BERTH_CNI_ERR_IO, "rename %s to %s", stage, id);
		goto undo;
	}
	BERTH_FAULT_POINT("ovl-create-after-rename");
	snprintf(path, sizeof(path), "l/%s", link);
	snprintf(stage, sizeof(stage), "../%s/diff", id);
	if (symlinkat(stage, o.rootfd, path) < 0) {
		r = berth_error_errno(err, BERTH_CNI_ERR_IO, "symlink %s", path);
		berth_ovl_remove_layer(&o, id, NULL);
		return r;
	}
	BERTH_FAULT_POINT("ovl-create-after-link");
	if (parent) {
		snprintf(path, sizeof(path), "%s/children/%s", parent, id);
		if ((r = write_at(o.rootfd, path, "", err)) < 0) {
			berth_ovl_remove_layer(&o, id, NULL);
			return r;
		}
	}
	BERTH_FAULT_POINT("ovl-create-before-complete");
	snprintf(path, sizeof(path), "%s/incomplete", id);
	if (unlinkat(o.rootfd, path, 0) < 0) {
		r = berth_error_errno(err, BERTH_CNI_ERR_IO, "unlink %s", path);
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

int berth_ovl_remove_layer(struct ovl *o, const char *id, berth_error *err)
{
	_cleanup_free_ char *link = NULL, *parent = NULL;
	char path[PATH_MAX], grave[PATH_MAX];
	int r;

	snprintf(path, sizeof(path), "%s/link", id);
	if (berth_ovl_read_str(o->rootfd, path, &link, NULL) == 0 &&
	    berth_path_component_ok(link)) {
		snprintf(path, sizeof(path), "l/%s", link);
		unlinkat(o->rootfd, path, 0);
	}
	snprintf(path, sizeof(path), "%s/parent", id);
	if (berth_ovl_read_str(o->rootfd, path, &parent, NULL) == 0 &&
	    berth_stor_id_valid(parent)) {
		snprintf(path, sizeof(path), "%s/children/%s", parent, id);
		unlinkat(o->rootfd, path, 0);
	}
	/* Out of sight in one step, then the slow part; a crash leaves only staging/ junk. */
	BERTH_FAULT_POINT("ovl-remove-before-rename");
	snprintf(grave, sizeof(grave), "staging/rm-%s-%d", id, getpid());
	if (renameat(o->rootfd, id, o->rootfd, grave) < 0) {
		if (errno == ENOENT)
			return 0;
		return berth_error_errno(err, BERTH_CNI_ERR_IO, "rename %s", id);
	}
	BERTH_FAULT_POINT("ovl-remove-after-rename");
	r = berth_ovl_rm_rf_at(o->rootfd, grave, err);
	if (r < 0)
		return r;
	snprintf(path, sizeof(path), "%s/mounts/%s", o->run_root, id);
	unlink(path);
	/* Safe with the store lock held exclusively: a layer lock is only ever taken (and its
	 * file opened) under the store lock, so nobody holds or waits on this file. */
	snprintf(path, sizeof(path), "%s/locks/%s", o->run_root, id);
	unlink(path);
	return 0;
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
	r = count_children(&o, id, err);
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

struct layer_ent {
	char *id;
	char *parent;
	bool done;
};

static int collect_layers(struct ovl *o, struct layer_ent **ret, size_t *ret_n, bool incomplete,
			  berth_error *err)
{
	_cleanup_closedir_ DIR *d = NULL;
	struct layer_ent *v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	int fd;

	fd = dup(o->rootfd);
	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return berth_error_errno(err, BERTH_CNI_ERR_IO, "opendir %s", o->root);
	}
	rewinddir(d);
	while ((de = readdir(d))) {
		char path[PATH_MAX];
		int st;

		if (!berth_stor_id_valid(de->d_name) || STREQ(de->d_name, "l") ||
		    STREQ(de->d_name, "staging"))
			continue;
		st = berth_ovl_layer_state(o, de->d_name);
		if (st == 0 || (st == 2) != incomplete)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			struct layer_ent *nv = realloc(v, cap * sizeof(*v));
			if (!nv)
				break;
			v = nv;
		}
		v[n].id = strdup(de->d_name);
		v[n].parent = NULL;
		v[n].done = false;
		snprintf(path, sizeof(path), "%s/parent", de->d_name);
		berth_ovl_read_str(o->rootfd, path, &v[n].parent, NULL);
		n++;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

static void free_layers(struct layer_ent *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].id);
		free(v[i].parent);
	}
	free(v);
}

static int cmp_ent(const void *a, const void *b)
{
	return strcmp(((const struct layer_ent *)a)->id, ((const struct layer_ent *)b)->id);
}

/* Order children before parents (safe removal order): repeatedly take the layers that no
 * remaining layer names as parent.  O(n^2) in the worst case, fine for thousands. */
static json_t *removal_order(struct layer_ent *v, size_t n)
{
	json_t *a = json_array();
	size_t left = n;

	if (n) /* qsort(NULL, 0) is undefined (UBSan stops LIST on an empty store) */
		qsort(v, n, sizeof(*v), cmp_ent);
	while (left > 0) {
		size_t took = 0;
		for (size_t i = 0; i < n; i++) {
			bool has_child = false;
			if (v[i].done)
				continue;
			for (size_t j = 0; j < n && !has_child; j++)
				has_child = !v[j].done && v[j].parent && STREQ(v[j].parent, v[i].id);
			if (has_child)
				continue;
			json_array_append_new(a, json_string(v[i].id));
			v[i].done = true;
			took++;
		}
		left -= took;
		if (!took) /* a cycle cannot happen, but never loop forever */
			break;
	}
	return a;
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
	r = collect_layers(&o, &v, &n, false, err);
	if (r < 0)
		return r;
	layers = json_array();
	for (size_t i = 0; i < n; i++) {
		json_t *l = json_pack("{s:s}", "id", v[i].id);
		if (v[i].parent)
			json_object_set_new(l, "parent", json_string(v[i].parent));
		json_array_append_new(layers, l);
	}
	*ret = json_pack("{s:o,s:o}", "ids", removal_order(v, n), "layers", layers);
	free_layers(v, n);
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

	if (collect_layers(o, &v, &n, true, NULL) == 0) {
		for (size_t i = 0; i < n; i++) {
			berth_error e = { 0 };
			if (berth_ovl_remove_layer(o, v[i].id, &e) < 0)
				json_array_append_new(errors, json_string(e.msg));
			else
				json_array_append_new(removed, json_string(v[i].id));
		}
		free_layers(v, n);
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

static bool is_mountpoint(const char *path)
{
	struct statx sx;

	if (statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &sx) < 0)
		return false;
	return (sx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
	       (sx.stx_attributes & STATX_ATTR_MOUNT_ROOT);
}

/* Our mounts must not propagate into other namespaces (a leaked mount keeps a layer busy
 * forever: moby #27381), so root is a private mount of its own, as c/s does. */
static int private_root(struct ovl *o, berth_error *err)
{
	if (o->skip_mount_home)
		return 0;
	if (!is_mountpoint(o->root) && mount(o->root, o->root, NULL, MS_BIND, NULL) < 0)
		return berth_error_errno(err, BERTH_CNI_ERR_IO, "bind mount %s", o->root);
	if (mount(NULL, o->root, NULL, MS_PRIVATE, NULL) < 0)
		return berth_error_errno(err, BERTH_CNI_ERR_IO, "make %s private", o->root);
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
		return berth_error_errno(err, BERTH_CNI_ERR_IO, "mkdir staging/dtype");
	fd = openat(o->rootfd, "staging/dtype/f", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd >= 0)
		close(fd);
	fd = openat(o->rootfd, "staging/dtype", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return berth_error_errno(err, BERTH_CNI_ERR_IO, "open staging/dtype");
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
		return berth_error_errno(err, BERTH_CNI_ERR_IO, "statfs %s", o->root);
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
			return berth_error_errno(err, BERTH_CNI_ERR_IO, "mkdir %s", dirs[i]);
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
		return berth_error_errno(err, BERTH_CNI_ERR_IO, "statfs %s", o.root);
	collect_layers(&o, &v, &n, false, NULL);
	free_layers(v, n);
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
	collect_layers(&o, &v, &n, false, NULL);
	for (size_t i = 0; i < n; i++) {
		char path[PATH_MAX];
		if (berth_ovl_is_mounted(&o, v[i].id)) {
			snprintf(path, sizeof(path), "%s/%s/merged", o.root, v[i].id);
			if (umount2(path, MNT_DETACH) == 0)
				json_array_append_new(unmounted, json_string(v[i].id));
		}
		berth_ovl_refs_set(&o, v[i].id, 0, NULL);
	}
	free_layers(v, n);
	{
		json_t *removed = json_array(), *errors = json_array();
		gc_leftovers(&o, removed, errors);
		json_decref(removed);
		json_decref(errors);
	}
	if (!o.skip_mount_home && is_mountpoint(o.root))
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
		collect_layers(&o, &v, &n, false, NULL);
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
				if (v[i].done || count_children(&o, v[i].id, NULL) != 0)
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
		free_layers(v, n);
	}
	*ret = json_pack("{s:O,s:O}", "removed", removed, "errors", errors);
fail:
	json_decref(removed);
	json_decref(errors);
	return r;
}
