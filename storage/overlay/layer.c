/* SPDX-License-Identifier: Apache-2.0 */
/* The overlay driver's layout (overlay-internal.h draws it): the options, opening the root and
 * its locks, a layer's state, links and lowers, counting children, removing a layer, and the
 * list of layers in a safe removal order. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "berth/cleanup.h"
#include "berth/fault.h"
#include "berth/file.h"
#include "berth/fs.h"
#include "berth/json.h"
#include "berth/log.h"
#include "berth/storage-skel.h"
#include "overlay-internal.h"

/* A number of bytes, or a string berth_parse_size() reads ("10G", "512m", "1048576"). */
int berth_ovl_parse_size(json_t *v, const char *what, uint64_t *ret, berth_error *err)
{
	const char *s;

	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		*ret = (uint64_t)json_integer_value(v);
		return 0;
	}
	if (!json_is_string(v))
		return berth_error_set(err, BERTH_ERR_INVALID_CONFIG, EINVAL,
				       "%s: expected a size", what);
	s = json_string_value(v);
	if (berth_parse_size(s, ret) == 0)
		return 0;
	return berth_error_set(err, BERTH_ERR_INVALID_CONFIG, EINVAL,
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
		return berth_error_set(err, BERTH_ERR_INVALID_CONFIG, EINVAL,
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
	if (v && (r = berth_ovl_parse_size(v, "options.size", &o->default_size, err)) < 0)
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
		return berth_error_set(err, BERTH_ERR_INVALID_CONFIG, EINVAL,
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
		return berth_error_errno(err, BERTH_ERR_IO, "open %s", o->root);
	return berth_ovl_relock(o, lock, err);
}

int berth_ovl_relock(struct ovl *o, int lock, berth_error *err)
{
	if (lock == OVL_LOCK_NONE)
		return 0;
	if (o->lockfd < 0) {
		o->lockfd = openat(o->rootfd, ".lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (o->lockfd < 0)
			return berth_error_errno(err, BERTH_ERR_IO, "open %s/.lock", o->root);
	}
	while (flock(o->lockfd, (lock == OVL_LOCK_EXCLUSIVE ? LOCK_EX : LOCK_SH) |
					(o->no_wait ? LOCK_NB : 0)) < 0) {
		if (errno == EWOULDBLOCK)
			return berth_error_set(err, BERTH_ERR_TRY_AGAIN, EAGAIN,
					       "%s is busy with another call (args.noWait)", o->root);
		if (errno != EINTR)
			return berth_error_errno(err, BERTH_ERR_IO, "lock %s/.lock", o->root);
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

int berth_ovl_lock_layer(struct ovl *o, const char *id, int *ret_fd, berth_error *err)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/locks/%s", o->run_root, id);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return berth_error_errno(err, BERTH_ERR_IO, "open %s", path);
	while (flock(fd, LOCK_EX | (o->no_wait ? LOCK_NB : 0)) < 0) {
		if (errno == EWOULDBLOCK) {
			close(fd);
			return berth_error_set(err, BERTH_ERR_TRY_AGAIN, EAGAIN,
					       "layer \"%s\" is busy with another call (args.noWait)",
					       id);
		}
		if (errno != EINTR) {
			close(fd);
			return berth_error_errno(err, BERTH_ERR_IO, "lock %s", path);
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
		return berth_error_set(err, BERTH_ERR_NOT_FOUND, ENOENT,
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
		return berth_error_errno(err, BERTH_ERR_IO, "open %s", path);
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
		return berth_error_set(err, BERTH_ERR_INTERNAL, ENOMEM, "out of memory");
	for (char *save = NULL, *tok = strtok_r(lower, ":", &save); tok;
	     tok = strtok_r(NULL, ":", &save)) {
		if (strncmp(tok, "l/", 2) || !berth_path_component_ok(tok + 2)) {
			berth_strv_free(v);
			return berth_error_set(err, BERTH_ERR_IO, EUCLEAN,
					       "layer %s: corrupt lower file (\"%.60s\")", id, tok);
		}
		if (asprintf(&v[n], "%s/%s", o->root, tok) < 0) {
			v[n] = NULL;
			berth_strv_free(v);
			return berth_error_set(err, BERTH_ERR_INTERNAL, ENOMEM, "out of memory");
		}
		n++;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

int berth_ovl_rm_rf_at(int dfd, const char *path, berth_error *err)
{
	int r = berth_rm_rf_at(dfd, path, err);

	if (r == -EBUSY && err)
		err->code = BERTH_STOR_ERR_BUSY;
	return r;
}

void berth_ovl_random_link(char *buf)
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

int berth_ovl_write_at(int dirfd, const char *path, const char *s, berth_error *err)
{
	return berth_write_file_atomic_at(dirfd, path, s, strlen(s), 0600, false, err);
}

int berth_ovl_count_children(struct ovl *o, const char *id, berth_error *err)
{
	char path[PATH_MAX];
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;
	int fd, n = 0;

	snprintf(path, sizeof(path), "%s/children", id);
	fd = openat(o->rootfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : berth_error_errno(err, BERTH_ERR_IO, "open %s", path);
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return berth_error_errno(err, BERTH_ERR_IO, "opendir %s", path);
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
		return berth_error_errno(err, BERTH_ERR_IO, "rename %s", id);
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

int berth_ovl_collect_layers(struct ovl *o, struct layer_ent **ret, size_t *ret_n, bool incomplete,
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
		return berth_error_errno(err, BERTH_ERR_IO, "opendir %s", o->root);
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

void berth_ovl_free_layers(struct layer_ent *v, size_t n)
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
json_t *berth_ovl_removal_order(struct layer_ent *v, size_t n)
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
