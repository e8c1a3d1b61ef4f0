/* SPDX-License-Identifier: Apache-2.0 */
/* The fulltree layer store: layout, locks, layer lifecycle, INIT/STATUS/LIST/GC/CLEANUP.
 * Crash safety as overlay's: a layer is built in staging/ flagged incomplete, appears with one
 * rename(2) and is complete once the flag goes; REMOVE renames it out of sight first. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
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
#include "fulltree-internal.h"

void berth_ft_fault(const struct berth_ft *s, const char *what)
{
#ifdef BERTH_FAULT_INJECTION
	char name[128];

	snprintf(name, sizeof(name), "%s-%s", s->ops->name, what);
	berth_fault_point(name);
#else
	(void)s;
	(void)what;
#endif
}

int ft_parse_size(json_t *v, const char *what, uint64_t *ret, berth_error *err)
{
	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		*ret = (uint64_t)json_integer_value(v);
		return 0;
	}
	/* one size syntax for every driver (K/M/G/T, binary, overflow refused) */
	if (json_is_string(v) && berth_parse_size(json_string_value(v), ret) == 0)
		return 0;
	return berth_error_set(err, BERTH_ERR_INVALID_CONFIG, EINVAL,
			       "%s: \"%.50s\" is not a size (bytes, or e.g. \"16M\", \"10G\")", what,
			       json_is_string(v) ? json_string_value(v) : "(not a string)");
}

static int parse_options(struct berth_ft *s, json_t *opts, berth_error *err)
{
	json_t *v;
	int r;

	if ((r = berth_json_get_bool(opts, "options", "ignore_chown_errors", false,
				     &s->ignore_chown_errors, err)) < 0 ||
	    (r = berth_json_get_bool(opts, "options", "refuse_devices", false, &s->refuse_devices,
				     err)) < 0 ||
	    (r = berth_json_get_bool(opts, "options", "force_naive_diff", false,
				     &s->force_naive_diff, err)) < 0 ||
	    (r = berth_json_get_bool(opts, "options", "skip_mount_home", false,
				     &s->skip_mount_home, err)) < 0)
		return r;
	v = json_object_get(opts, "size");
	if (v && (r = ft_parse_size(v, "options.size", &s->default_size, err)) < 0)
		return r;
	return s->ops->parse_options ? s->ops->parse_options(s, opts, err) : 0;
}

/* root, or the nearest ancestor of it that exists: where the store would live. */
static void existing_ancestor(const char *root, char *buf, size_t len)
{
	struct stat st;

	snprintf(buf, len, "%s", root);
	while (stat(buf, &st) < 0) {
		char *slash = strrchr(buf, '/');
		if (!slash || slash == buf) {
			snprintf(buf, len, "/");
			return;
		}
		*slash = '\0';
	}
}

int ft_open(const struct berth_ft_ops *ops, const struct berth_stor_call *call,
	    struct berth_ft *s, int lock, berth_error *err)
{
	char path[PATH_MAX];
	int r;

	s->ops = ops;
	s->call = call;
	s->root = call->root;
	s->run_root = call->run_root;
	s->rootfd = s->layersfd = s->lockfd = -1;
	r = parse_options(s, call->options, err);
	if (r < 0)
		return r;
	r = berth_json_get_bool(call->args, "args", "noWait", false, &s->no_wait, err);
	if (r < 0)
		return r;
	/* Nothing is created where the store cannot live. */
	existing_ancestor(s->root, path, sizeof(path));
	if (ops->check_backing && (r = ops->check_backing(s, path, err)) < 0)
		return r;
	static const char *const subdirs[] = { "", "/layers", "/staging" };
	for (size_t i = 0; i < ARRAY_SIZE(subdirs); i++) {
		snprintf(path, sizeof(path), "%s%s", s->root, subdirs[i]);
		r = berth_mkdir_p(path, 0700, err);
		if (r < 0)
			return r;
	}
	static const char *const rsubdirs[] = { "/mounts", "/locks" };
	for (size_t i = 0; i < ARRAY_SIZE(rsubdirs); i++) {
		snprintf(path, sizeof(path), "%s%s", s->run_root, rsubdirs[i]);
		r = berth_mkdir_p(path, 0700, err);
		if (r < 0)
			return r;
	}
	s->rootfd = open(s->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->rootfd < 0)
		return berth_error_errno(err, BERTH_ERR_IO, "open %s", s->root);
	s->layersfd = openat(s->rootfd, "layers", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (s->layersfd < 0)
		return berth_error_errno(err, BERTH_ERR_IO, "open %s/layers", s->root);
	return ft_relock(s, lock, err);
}

int ft_relock(struct berth_ft *s, int lock, berth_error *err)
{
	if (lock == FT_LOCK_NONE)
		return 0;
	if (s->lockfd < 0) {
		s->lockfd = openat(s->rootfd, ".lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (s->lockfd < 0)
			return berth_error_errno(err, BERTH_ERR_IO, "open %s/.lock", s->root);
	}
	while (flock(s->lockfd, (lock == FT_LOCK_EXCLUSIVE ? LOCK_EX : LOCK_SH) |
					(s->no_wait ? LOCK_NB : 0)) < 0) {
		if (errno == EWOULDBLOCK)
			return berth_error_set(err, BERTH_ERR_TRY_AGAIN, EAGAIN,
					       "%s is busy with another call (args.noWait)", s->root);
		if (errno != EINTR)
			return berth_error_errno(err, BERTH_ERR_IO, "lock %s/.lock", s->root);
	}
	return 0;
}

void ft_close(struct berth_ft *s)
{
	if (s->lockfd >= 0)
		close(s->lockfd);
	if (s->layersfd >= 0)
		close(s->layersfd);
	if (s->rootfd >= 0)
		close(s->rootfd);
	s->lockfd = s->layersfd = s->rootfd = -1;
}

int ft_lock_layer(struct berth_ft *s, const char *id, int *ret_fd, berth_error *err)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/locks/%s", s->run_root, id);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return berth_error_errno(err, BERTH_ERR_IO, "open %s", path);
	while (flock(fd, LOCK_EX | (s->no_wait ? LOCK_NB : 0)) < 0) {
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

int ft_layer_state(struct berth_ft *s, const char *id)
{
	char path[PATH_MAX];
	struct stat st;

	if (fstatat(s->layersfd, id, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
		return 0;
	snprintf(path, sizeof(path), "%s/incomplete", id);
	if (faccessat(s->layersfd, path, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
		return 2;
	/* a layer whose tree is gone (a removal that had to start in place) is a leftover too */
	snprintf(path, sizeof(path), "%s/fs", id);
	if (fstatat(s->layersfd, path, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return 2;
	return 1;
}

int ft_need_layer(struct berth_ft *s, const char *id, berth_error *err)
{
	if (ft_layer_state(s, id) != 1)
		return berth_error_set(err, BERTH_ERR_NOT_FOUND, ENOENT,
				       "layer \"%s\" does not exist", id);
	return 0;
}

int ft_read(struct berth_ft *s, const char *id, const char *name, char **ret)
{
	char path[PATH_MAX], *buf = NULL;
	size_t len = 0;
	int r;

	snprintf(path, sizeof(path), "%s/%s", id, name);
	r = berth_read_file_at(s->layersfd, path, 4096, &buf, &len, NULL);
	if (r < 0)
		return r == -ENOENT || errno == ENOENT ? -ENOENT : r;
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
		buf[--len] = '\0';
	*ret = buf;
	return 0;
}

bool ft_has(struct berth_ft *s, const char *id, const char *name)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", id, name);
	return faccessat(s->layersfd, path, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

char *ft_parent(struct berth_ft *s, const char *id)
{
	char *p = NULL;

	if (ft_read(s, id, "parent", &p) < 0)
		return NULL;
	if (!berth_stor_id_valid(p)) {
		free(p);
		return NULL;
	}
	return p;
}

void ft_tree_path(struct berth_ft *s, const char *id, char *buf, size_t len)
{
	snprintf(buf, len, "%s/layers/%s/fs", s->root, id);
}

int berth_ft_open_tree(struct berth_ft *s, const char *id, int *ret_fd, berth_error *err)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/fs", id);
	fd = openat(s->layersfd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return berth_error_errno(err, BERTH_ERR_IO, "open %s/layers/%s", s->root, path);
	*ret_fd = fd;
	return 0;
}

static int write_at(int dirfd, const char *path, const char *str, berth_error *err)
{
	return berth_write_file_atomic_at(dirfd, path, str, strlen(str), 0600, false, err);
}

/* A layer directory (under layers/ or staging/) with its tree: the tree goes through the
 * driver (a subvolume, maybe read-only), the rest is plain files. */
static int remove_layer_dir(struct berth_ft *s, int dirfd, const char *name, berth_error *err)
{
	_cleanup_close_ int fd = -1;
	int r;

	/* also without its tree: a removal cut short may have left the driver work (btrfs: the
	 * qgroup of the deleted subvolume) */
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0) {
		r = s->ops->remove_tree(s, fd, "fs", err);
		if (r < 0)
			return berth_error_prefix(err, "%s", name);
	}
	return berth_rm_rf_at(dirfd, name, err);
}

/* Children whose layer dir still exists (markers can outlive a crash). */
static int count_children(struct berth_ft *s, const char *id, berth_error *err)
{
	char path[PATH_MAX];
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;
	int fd, n = 0;

	snprintf(path, sizeof(path), "%s/children", id);
	fd = openat(s->layersfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
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
		if (ft_layer_state(s, de->d_name))
			n++;
		else
			unlinkat(dirfd(d), de->d_name, 0);
	}
	return n;
}

static int layer_depth(struct berth_ft *s, const char *id)
{
	_cleanup_free_ char *d = NULL;

	if (ft_read(s, id, "depth", &d) < 0)
		return 1;
	return atoi(d) > 0 ? atoi(d) : 1;
}

int berth_ft_create(const struct berth_ft_ops *ops, const struct berth_stor_call *call,
		    json_t **ret, berth_error *err)
{
	_cleanup_ft_ struct berth_ft s = FT_INIT;
	_cleanup_close_ int stagefd = -1;
	const char *id = NULL, *parent = NULL;
	char stage[PATH_MAX], path[PATH_MAX], buf[32];
	uint64_t size = 0;
	bool rw = false, specs_ro = false;
	json_t *v, *want_specs = NULL, *specs = NULL;
	int depth = 1, r;

	r = ft_open(ops, call, &s, FT_LOCK_EXCLUSIVE, err);
	if (r < 0)
		return r;
	if ((r = berth_stor_arg_id(call, "id", true, &id, err)) < 0 ||
	    (r = berth_stor_arg_id(call, "parent", false, &parent, err)) < 0 ||
	    (r = berth_json_get_bool(call->args, "args", "rw", false, &rw, err)) < 0)
		return r;
	size = s.default_size;
	v = json_object_get(call->args, "size");
	if (v && !json_is_null(v) && (r = ft_parse_size(v, "args.size", &size, err)) < 0)
		return r;
	/* args.mounts: answer MOUNTS' specs in the same call (the snapshotter's Prepare) */
	if ((r = berth_json_get_object(call->args, "args", "mounts", false, &want_specs, err)) < 0 ||
	    (want_specs && (r = berth_json_get_bool(want_specs, "args.mounts", "ro", false,
						     &specs_ro, err)) < 0))
		return r;

	switch (ft_layer_state(&s, id)) {
	case 1:
		return berth_error_set(err, BERTH_STOR_ERR_EXISTS, EEXIST,
				       "layer \"%s\" already exists", id);
	case 2: /* a crash's leftover: nobody can be using it */
		r = ft_remove_layer(&s, id, err);
		if (r < 0)
			return r;
	}
	if (parent) {
		r = ft_need_layer(&s, parent, err);
		if (r < 0)
			return berth_error_prefix(err, "parent");
		depth = layer_depth(&s, parent) + 1;
		if (depth > BERTH_FT_MAX_DEPTH)
			return berth_error_set(err, BERTH_ERR_INVALID_CONFIG, E2BIG,
					       "layer chain too deep: %d layers, %s allows %d", depth,
					       ops->name, BERTH_FT_MAX_DEPTH);
	}
	if (size && (!ops->set_size || !ops->quota_supported || !ops->quota_supported(&s)))
		return berth_error_set(err, BERTH_STOR_ERR_NOT_SUPPORTED, EOPNOTSUPP,
				       "args.size: %s cannot limit a layer's size %s", ops->name,
				       ops->set_size ? "here (btrfs quotas are not enabled on this "
						       "filesystem: btrfs quota enable)"
						     : "on any filesystem (it uses no quotas)");

	/* Build everything in staging/, then one rename makes the layer appear; "incomplete"
	 * stays until the parent's child marker exists too. */
	snprintf(stage, sizeof(stage), "staging/%s", id);
	r = remove_layer_dir(&s, s.rootfd, stage, err);
	if (r < 0)
		return r;
	if (mkdirat(s.rootfd, stage, 0700) < 0)
		return berth_error_errno(err, berth_stor_errno_code(errno), "mkdir %s/%s", s.root,
					 stage);
	stagefd = openat(s.rootfd, stage, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (stagefd < 0)
		return berth_error_errno(err, BERTH_ERR_IO, "open %s/%s", s.root, stage);
	if ((r = write_at(stagefd, "incomplete", "", err)) < 0)
		goto undo;
	berth_ft_fault(&s, "create-after-incomplete");
	if (mkdirat(stagefd, "children", 0700) < 0) {
		r = berth_error_errno(err, berth_stor_errno_code(errno), "mkdir %s/children", stage);
		goto undo;
	}
	if (parent) {
		char ptree[PATH_MAX];

		/* A layer that others are built on must not change under them: a read-only
		 * layer is sealed before its first child is made (unless it is in use through a
		 * read-write mount; then the diff of the child compares whole trees). */
		snprintf(path, sizeof(path), "%s/rw", parent);
		if (ops->seal && ops->is_sealed && faccessat(s.layersfd, path, F_OK, 0) < 0) {
			struct ft_refs refs;

			snprintf(ptree, sizeof(ptree), "%s/fs", parent);
			ft_refs_get(&s, parent, &refs);
			if (!ops->is_sealed(&s, s.layersfd, ptree) && refs.refs == 0 &&
			    (r = ops->seal(&s, s.layersfd, ptree, err)) < 0)
				goto undo;
		}
		snprintf(ptree, sizeof(ptree), "%s/fs", parent);
		r = ops->make_child(&s, s.layersfd, ptree, stagefd, "fs", err);
	} else {
		r = ops->make_base(&s, stagefd, "fs", err);
	}
	if (r < 0)
		goto undo;
	berth_ft_fault(&s, "create-after-tree");
	snprintf(buf, sizeof(buf), "%d", depth);
	if ((parent && (r = write_at(stagefd, "parent", parent, err)) < 0) ||
	    (r = write_at(stagefd, "depth", buf, err)) < 0 ||
	    (r = write_at(stagefd, "fresh", "", err)) < 0 ||
	    (rw && (r = write_at(stagefd, "rw", "", err)) < 0))
		goto undo;
	if (size) {
		r = ops->set_size(&s, stagefd, "fs", size, err);
		if (r < 0)
			goto undo;
		snprintf(buf, sizeof(buf), "%llu", (unsigned long long)size);
		if ((r = write_at(stagefd, "size", buf, err)) < 0)
			goto undo;
	}
	berth_ft_fault(&s, "create-before-rename");
	if (renameat(s.rootfd, stage, s.layersfd, id) < 0) {
		r = berth_error_errno(err, BERTH_ERR_IO, "rename %s to layers/%s", stage, id);
		goto undo;
	}
	berth_ft_fault(&s, "create-after-rename");
	if (parent) {
		snprintf(path, sizeof(path), "%s/children/%s", parent, id);
		if ((r = write_at(s.layersfd, path, "", err)) < 0) {
			ft_remove_layer(&s, id, NULL);
			return r;
		}
	}
	berth_ft_fault(&s, "create-before-complete");
	snprintf(path, sizeof(path), "%s/incomplete", id);
	if (unlinkat(s.layersfd, path, 0) < 0) {
		r = berth_error_errno(err, BERTH_ERR_IO, "unlink layers/%s", path);
		ft_remove_layer(&s, id, NULL);
		return r;
	}
	if (want_specs && (r = ft_mount_specs(&s, id, specs_ro, &specs, err)) < 0) {
		ft_remove_layer(&s, id, NULL); /* all or nothing */
		return r;
	}
	*ret = json_pack("{s:s,s:i}", "id", id, "depth", depth);
	if (specs) {
		json_object_set_new(*ret, "mounts", specs);
		json_object_set_new(*ret, "activated", json_false());
	}
	return 0;
undo:
	remove_layer_dir(&s, s.rootfd, stage, NULL);
	return r;
}

int ft_remove_layer(struct berth_ft *s, const char *id, berth_error *err)
{
	_cleanup_free_ char *parent = ft_parent(s, id);
	char path[PATH_MAX], grave[PATH_MAX];
	int r;

	if (parent) {
		snprintf(path, sizeof(path), "%s/children/%s", parent, id);
		unlinkat(s->layersfd, path, 0);
	}
	/* Out of sight in one step, then the slow part; a crash leaves only staging/ junk. */
	berth_ft_fault(s, "remove-before-rename");
	snprintf(grave, sizeof(grave), "staging/rm-%s-%d", id, getpid());
	if (renameat(s->layersfd, id, s->rootfd, grave) < 0) {
		if (errno == ENOENT)
			return 0;
		if (errno != ENOSPC && errno != EDQUOT)
			return berth_error_errno(err, BERTH_ERR_IO, "rename layers/%s", id);
		/* A full filesystem (btrfs needs metadata space for a rename): the tree goes in
		 * place first, which frees space; without its tree the layer counts as a
		 * leftover (ft_layer_state), whatever happens next. */
		snprintf(path, sizeof(path), "%s", id);
		_cleanup_close_ int lfd =
			openat(s->layersfd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (lfd < 0)
			return berth_error_errno(err, BERTH_ERR_IO, "open layers/%s", id);
		s->reclaim_space = true;
		r = s->ops->remove_tree(s, lfd, "fs", err);
		if (r < 0)
			return r;
		if (renameat(s->layersfd, id, s->rootfd, grave) < 0)
			return berth_error_errno(err, BERTH_ERR_IO, "rename layers/%s", id);
	}
	berth_ft_fault(s, "remove-after-rename");
	r = remove_layer_dir(s, s->rootfd, grave, err);
	if (r < 0)
		return r;
	snprintf(path, sizeof(path), "%s/mounts/%s", s->run_root, id);
	unlink(path);
	/* Safe with the store lock held exclusively: a layer lock is only ever taken (and its
	 * file opened) under the store lock, so nobody holds or waits on this file. */
	snprintf(path, sizeof(path), "%s/locks/%s", s->run_root, id);
	unlink(path);
	return 0;
}

int berth_ft_remove(const struct berth_ft_ops *ops, const struct berth_stor_call *call,
		    json_t **ret, berth_error *err)
{
	_cleanup_ft_ struct berth_ft s = FT_INIT;
	const char *id = NULL;
	struct ft_refs refs;
	int r;

	r = ft_open(ops, call, &s, FT_LOCK_EXCLUSIVE, err);
	if (r < 0)
		return r;
	if ((r = berth_stor_arg_id(call, "id", true, &id, err)) < 0)
		return r;
	if (!ft_layer_state(&s, id)) {
		/* Already gone: success, like CNI DEL.  A CREATE killed before its rename left
		 * staging/ID; with the store lock held nobody is building it, so it goes too. */
		char stage[PATH_MAX];

		snprintf(stage, sizeof(stage), "staging/%s", id);
		return remove_layer_dir(&s, s.rootfd, stage, err);
	}
	r = count_children(&s, id, err);
	if (r < 0)
		return r;
	if (r > 0)
		return berth_error_set(err, BERTH_STOR_ERR_HAS_CHILDREN, ENOTEMPTY,
				       "layer \"%s\" has %d child layer(s)", id, r);
	ft_refs_get(&s, id, &refs);
	if (refs.refs > 0)
		return berth_error_set(err, BERTH_STOR_ERR_BUSY, EBUSY,
				       "layer \"%s\" is mounted (%d references)", id, refs.refs);
	ft_unbind(&s, id);
	return ft_remove_layer(&s, id, err);
}

int berth_ft_exists(const struct berth_ft_ops *ops, const struct berth_stor_call *call,
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
	*ret = json_pack("{s:b}", "exists", ft_layer_state(&s, id) == 1);
	return 0;
}

struct layer_ent {
	char *id;
	char *parent;
	bool done;
};

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

/* The layers (complete ones, or the incomplete ones), sorted by id. */
static int collect_layers(struct berth_ft *s, struct layer_ent **ret, size_t *ret_n,
			  bool incomplete, berth_error *err)
{
	_cleanup_closedir_ DIR *d = NULL;
	struct layer_ent *v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	int fd;

	fd = dup(s->layersfd);
	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return berth_error_errno(err, BERTH_ERR_IO, "opendir %s/layers", s->root);
	}
	rewinddir(d);
	while ((de = readdir(d))) {
		int st;

		if (!berth_stor_id_valid(de->d_name))
			continue;
		st = ft_layer_state(s, de->d_name);
		if (st == 0 || (st == 2) != incomplete)
			continue;
		if (n == cap) {
			struct layer_ent *nv;

			cap = cap ? cap * 2 : 64;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				free_layers(v, n);
				return berth_error_set(err, BERTH_ERR_INTERNAL, ENOMEM,
						       "out of memory");
			}
			v = nv;
		}
		v[n].id = strdup(de->d_name);
		v[n].parent = ft_parent(s, de->d_name);
		v[n].done = false;
		n++;
	}
	if (n)
		qsort(v, n, sizeof(*v), cmp_ent);
	*ret = v;
	*ret_n = n;
	return 0;
}

/* Children before parents (safe removal order): repeatedly take the layers that no remaining
 * layer names as parent. */
static json_t *removal_order(struct layer_ent *v, size_t n)
{
	json_t *a = json_array();
	size_t left = n;

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
		if (!took) /* a cycle (corrupt parent files): never loop forever */
			break;
	}
	return a;
}

int berth_ft_list(const struct berth_ft_ops *ops, const struct berth_stor_call *call,
		  json_t **ret, berth_error *err)
{
	_cleanup_ft_ struct berth_ft s = FT_INIT;
	struct layer_ent *v = NULL;
	json_t *layers;
	size_t n = 0;
	int r;

	r = ft_open(ops, call, &s, FT_LOCK_SHARED, err);
	if (r < 0)
		return r;
	r = collect_layers(&s, &v, &n, false, err);
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

int berth_ft_metadata(const struct berth_ft_ops *ops, const struct berth_stor_call *call,
		      json_t **ret, berth_error *err)
{
	_cleanup_ft_ struct berth_ft s = FT_INIT;
	_cleanup_free_ char *parent = NULL, *size = NULL;
	const char *id = NULL;
	char path[PATH_MAX], tree[PATH_MAX];
	struct ft_refs refs;
	json_t *j;
	int r;

	r = ft_open(ops, call, &s, FT_LOCK_SHARED, err);
	if (r < 0)
		return r;
	if ((r = berth_stor_arg_id(call, "id", true, &id, err)) < 0 ||
	    (r = ft_need_layer(&s, id, err)) < 0)
		return r;
	ft_tree_path(&s, id, path, sizeof(path));
	snprintf(tree, sizeof(tree), "%s/fs", id);
	ft_refs_get(&s, id, &refs);
	parent = ft_parent(&s, id);
	/* MergedDir: where the layer is seen, the key the core's inspect reads for every driver */
	j = json_pack("{s:s,s:s,s:i,s:b,s:b,s:b,s:b,s:i}", "Dir", path, "MergedDir", path, "depth",
		      layer_depth(&s, id), "rw", ft_has(&s, id, "rw"), "readOnly",
		      ops->is_sealed && ops->is_sealed(&s, s.layersfd, tree), "fresh",
		      ft_has(&s, id, "fresh"), "mounted", ft_is_mounted(&s, id), "refs",
		      refs.refs);
	if (refs.refs)
		json_object_set_new(j, "mountMode", json_string(refs.ro ? "ro" : "rw"));
	if (parent)
		json_object_set_new(j, "parent", json_string(parent));
	if (ft_read(&s, id, "size", &size) == 0)
		json_object_set_new(j, "size", json_integer(strtoll(size, NULL, 10)));
	if (ops->metadata)
		ops->metadata(&s, id, j);
	*ret = j;
	return 0;
}

/* Remove what crashes left: incomplete layers, staging/ entries, lock files of layers that
 * are gone.  Caller holds the exclusive lock. */
static void gc_leftovers(struct berth_ft *s, json_t *removed, json_t *errors)
{
	struct layer_ent *v = NULL;
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;
	char path[PATH_MAX];
	size_t n = 0;
	int fd;

	if (collect_layers(s, &v, &n, true, NULL) == 0) {
		for (size_t i = 0; i < n; i++) {
			berth_error e = { 0 };

			if (ft_remove_layer(s, v[i].id, &e) < 0)
				json_array_append_new(errors, json_string(e.msg));
			else
				json_array_append_new(removed, json_string(v[i].id));
		}
		free_layers(v, n);
	}
	fd = openat(s->rootfd, "staging", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0 && (d = fdopendir(fd))) {
		while ((de = readdir(d))) {
			berth_error e = { 0 };

			if (de->d_name[0] == '.')
				continue;
			if (remove_layer_dir(s, dirfd(d), de->d_name, &e) < 0)
				json_array_append_new(errors, json_string(e.msg));
		}
		closedir(d);
		d = NULL;
	} else if (fd >= 0) {
		close(fd);
	}
	snprintf(path, sizeof(path), "%s/locks", s->run_root);
	d = opendir(path);
	while (d && (de = readdir(d)))
		if (de->d_name[0] != '.' && berth_stor_id_valid(de->d_name) &&
		    !ft_layer_state(s, de->d_name))
			unlinkat(dirfd(d), de->d_name, 0);
}

/* Read-only binds of layer trees must not propagate into other mount namespaces (a leaked
 * mount keeps a layer busy for good: moby #27381), so root is a private mount of its own. */
static int private_root(struct berth_ft *s, berth_error *err)
{
	if (s->skip_mount_home)
		return 0;
	if (!berth_is_mountpoint(s->root) && mount(s->root, s->root, NULL, MS_BIND, NULL) < 0)
		return berth_error_errno(err, BERTH_ERR_IO, "bind mount %s", s->root);
	if (mount(NULL, s->root, NULL, MS_PRIVATE, NULL) < 0)
		return berth_error_errno(err, BERTH_ERR_IO, "make %s private", s->root);
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
	case 0x65735546: return "fuse";
	default: return "unknown";
	}
}

static json_t *capabilities(struct berth_ft *s)
{
	bool quota = s->ops->set_size && s->ops->quota_supported && s->ops->quota_supported(s);
	json_t *caps = json_pack(
		"{s:i,s:b,s:s,s:{s:b,s:b},s:b,s:b,s:b,s:b}", "maxDepth", BERTH_FT_MAX_DEPTH,
		"nativeDiff", s->ops->changes && !s->force_naive_diff, "whiteout", "delete",
		"quota", "size", quota, "inodes", false, "volatile", false,
		/* a DIFF reproduces the content, not every byte of an applied tar: a whiteout was
		 * a deletion, its own time and owner are not kept (they are written as 0) */
		"exactDiffs", false,
		"idmap", false,
		/* MOUNT hands out the layer's own directory: nothing to unmount at 0 refs */
		"mountIsLayerDir", true);

	if (s->ops->capabilities)
		s->ops->capabilities(s, caps);
	return caps;
}

int berth_ft_init(const struct berth_ft_ops *ops, const struct berth_stor_call *call,
		  json_t **ret, berth_error *err)
{
	_cleanup_ft_ struct berth_ft s = FT_INIT;
	json_t *removed = json_array(), *errors = json_array();
	struct statfs sfs;
	int r;

	r = ft_open(ops, call, &s, FT_LOCK_EXCLUSIVE, err);
	if (r < 0)
		goto out;
	if (fstatfs(s.rootfd, &sfs) < 0) {
		r = berth_error_errno(err, BERTH_ERR_IO, "statfs %s", s.root);
		goto out;
	}
	/* leftovers first: on a filesystem a crash left full, they are what frees space */
	gc_leftovers(&s, removed, errors);
	if ((ops->probe && (r = ops->probe(&s, err)) < 0) || (r = private_root(&s, err)) < 0)
		goto out;
	*ret = json_pack("{s:o,s:s,s:O,s:O}", "capabilities", capabilities(&s), "backingFs",
			 fs_name(sfs.f_type), "removed", removed, "errors", errors);
out:
	json_decref(removed);
	json_decref(errors);
	return r;
}

int berth_ft_status(const struct berth_ft_ops *ops, const struct berth_stor_call *call,
		    json_t **ret, berth_error *err)
{
	_cleanup_ft_ struct berth_ft s = FT_INIT;
	struct layer_ent *v = NULL;
	struct statfs sfs;
	size_t n = 0;
	char buf[32];
	json_t *pairs;
	int r;

	r = ft_open(ops, call, &s, FT_LOCK_SHARED, err);
	if (r < 0)
		return r;
	if (fstatfs(s.rootfd, &sfs) < 0)
		return berth_error_errno(err, BERTH_ERR_IO, "statfs %s", s.root);
	if (collect_layers(&s, &v, &n, false, NULL) == 0)
		free_layers(v, n);
	snprintf(buf, sizeof(buf), "%zu", n);
	pairs = json_pack("[[s,s],[s,s]]", "Backing Filesystem", fs_name(sfs.f_type), "Layers",
			  buf);
	if (ops->status)
		ops->status(&s, pairs);
	*ret = json_pack("{s:o,s:s,s:o}", "pairs", pairs, "health", "ok", "capabilities",
			 capabilities(&s));
	return 0;
}

int berth_ft_cleanup(const struct berth_ft_ops *ops, const struct berth_stor_call *call,
		     json_t **ret, berth_error *err)
{
	_cleanup_ft_ struct berth_ft s = FT_INIT;
	struct layer_ent *v = NULL;
	json_t *unmounted = json_array(), *removed, *errors;
	size_t n = 0;
	int r;

	r = ft_open(ops, call, &s, FT_LOCK_EXCLUSIVE, err);
	if (r < 0) {
		json_decref(unmounted);
		return r;
	}
	if (collect_layers(&s, &v, &n, false, NULL) == 0) {
		for (size_t i = 0; i < n; i++) {
			struct ft_refs zero = { 0 };

			if (ft_is_mounted(&s, v[i].id))
				json_array_append_new(unmounted, json_string(v[i].id));
			ft_unbind(&s, v[i].id);
			ft_refs_set(&s, v[i].id, &zero, NULL);
		}
		free_layers(v, n);
	}
	removed = json_array();
	errors = json_array();
	gc_leftovers(&s, removed, errors);
	json_decref(removed);
	json_decref(errors);
	if (!s.skip_mount_home && berth_is_mountpoint(s.root)) {
		/* the fds under root must go first, or the detach leaves them on the old mount */
		ft_close(&s);
		umount2(call->root, MNT_DETACH);
	}
	*ret = json_pack("{s:o}", "unmounted", unmounted);
	return 0;
}

int berth_ft_gc(const struct berth_ft_ops *ops, const struct berth_stor_call *call, json_t **ret,
		berth_error *err)
{
	_cleanup_ft_ struct berth_ft s = FT_INIT;
	json_t *removed = json_array(), *errors = json_array(), *keep = NULL;
	struct layer_ent *v = NULL;
	size_t n = 0;
	int r;

	r = ft_open(ops, call, &s, FT_LOCK_EXCLUSIVE, err);
	if (r < 0)
		goto out;
	r = berth_json_get_array(call->args, "args", "keep", false, &keep, err);
	if (r < 0)
		goto out;
	gc_leftovers(&s, removed, errors);
	if (keep && collect_layers(&s, &v, &n, false, NULL) == 0) {
		size_t idx;
		json_t *k;

		/* keep the listed layers and their ancestors (done = kept) */
		json_array_foreach(keep, idx, k) {
			const char *kid = json_string_value(k);

			for (size_t hops = 0; kid && hops <= n; hops++) {
				const char *next = NULL;

				for (size_t i = 0; i < n; i++)
					if (STREQ(v[i].id, kid) && !v[i].done) {
						v[i].done = true;
						next = v[i].parent;
					}
				kid = next;
			}
		}
		/* what is left has only unkept children: remove leaves until nothing moves */
		for (bool progress = true; progress;) {
			progress = false;
			for (size_t i = 0; i < n; i++) {
				berth_error e = { 0 };

				if (v[i].done || count_children(&s, v[i].id, NULL) != 0)
					continue;
				v[i].done = true;
				progress = true;
				ft_unbind(&s, v[i].id);
				if (ft_remove_layer(&s, v[i].id, &e) < 0)
					json_array_append_new(errors, json_string(e.msg));
				else
					json_array_append_new(removed, json_string(v[i].id));
			}
		}
		free_layers(v, n);
	}
	*ret = json_pack("{s:O,s:O}", "removed", removed, "errors", errors);
out:
	json_decref(removed);
	json_decref(errors);
	return r;
}
