// SPDX-License-Identifier: Apache-2.0
/* Layer archive apply/diff/changes in temp dirs; parts that need root (chown to other ids,
 * device nodes, trusted.* xattrs) live in tests/integration/60-archive.sh. */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "berth/archive.h"
#include "berth/cleanup.h"
#include "berth/error.h"
#include "../../storage/archive/archive-internal.h"
#include "tap.h"

static char W[PATH_MAX];
static int counter;

/* ---- small fs helpers ---- */

static void rm_rf(const char *path)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
	if (fd >= 0) {
		char **names;
		size_t n;
		if (berth_archive_list_dir(fd, &names, &n) == 0) {
			for (size_t i = 0; i < n; i++)
				berth_archive_remove_tree_at(fd, names[i], NULL);
			berth_archive_names_free(names, n);
		}
	}
	rmdir(path);
	unlink(path);
}

static char *newdir(const char *name)
{
	char *p;
	if (asprintf(&p, "%s/%s.%d", W, name, counter++) < 0)
		abort();
	mkdir(p, 0755);
	return p;
}

static void put(const char *dir, const char *rel, const char *content, mode_t mode)
{
	char p[PATH_MAX];
	FILE *f;
	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	f = fopen(p, "w");
	if (!f)
		abort();
	fputs(content, f);
	fclose(f);
	chmod(p, mode);
}

static bool exists(const char *dir, const char *rel)
{
	char p[PATH_MAX];
	struct stat st;
	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	return lstat(p, &st) == 0;
}

static char *slurp(const char *dir, const char *rel)
{
	static char buf[4096];
	char p[PATH_MAX];
	ssize_t n;
	_cleanup_close_ int fd = -1;
	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	fd = open(p, O_RDONLY | O_NOFOLLOW);
	if (fd < 0)
		return NULL;
	n = read(fd, buf, sizeof(buf) - 1);
	buf[n < 0 ? 0 : n] = '\0';
	return buf;
}

/* A listing of a tree: one line per entry with type, mode, ids, size, mtime (s), link target,
 * link count, content checksum and xattrs.  Two trees are equal when their listings are. */
static void list_tree_rec(int dirfd, const char *prefix, FILE *out, bool with_mtime_dirs)
{
	char **names;
	size_t n;
	if (berth_archive_list_dir(dirfd, &names, &n) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		struct stat st;
		char target[PATH_MAX] = "", xl[4096];
		char proc[PATH_MAX];
		unsigned long sum = 0;
		ssize_t xn;

		if (fstatat(dirfd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISLNK(st.st_mode)) {
			ssize_t l = readlinkat(dirfd, names[i], target, sizeof(target) - 1);
			target[l < 0 ? 0 : l] = '\0';
		}
		if (S_ISREG(st.st_mode)) {
			_cleanup_close_ int fd = openat(dirfd, names[i], O_RDONLY | O_NOFOLLOW);
			unsigned char b[4096];
			ssize_t l;
			while (fd >= 0 && (l = read(fd, b, sizeof(b))) > 0)
				for (ssize_t k = 0; k < l; k++)
					sum = sum * 31 + b[k];
		}
		fprintf(out, "%s%s%s %o %u:%u %lld %lld %s nl=%lu sum=%lx rdev=%lx", prefix,
			*prefix ? "/" : "", names[i], st.st_mode, st.st_uid, st.st_gid,
			S_ISDIR(st.st_mode) ? 0LL : (long long)st.st_size,
			S_ISDIR(st.st_mode) && !with_mtime_dirs ? 0LL : (long long)st.st_mtim.tv_sec,
			target, S_ISDIR(st.st_mode) ? 0UL : (unsigned long)st.st_nlink, sum,
			(unsigned long)st.st_rdev);
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d/%s", dirfd, names[i]);
		xn = llistxattr(proc, xl, sizeof(xl));
		for (char *x = xl; xn > 0 && x < xl + xn; x += strlen(x) + 1) {
			char v[256];
			ssize_t vl = lgetxattr(proc, x, v, sizeof(v) - 1);
			v[vl < 0 ? 0 : vl] = '\0';
			if (strncmp(x, "security.selinux", 16))
				fprintf(out, " %s=%s", x, v);
		}
		fputc('\n', out);
		if (S_ISDIR(st.st_mode)) {
			_cleanup_close_ int cfd =
				openat(dirfd, names[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
			char *p;
			if (asprintf(&p, "%s%s%s", prefix, *prefix ? "/" : "", names[i]) < 0)
				abort();
			if (cfd >= 0)
				list_tree_rec(cfd, p, out, with_mtime_dirs);
			free(p);
		}
	}
	berth_archive_names_free(names, n);
}

static char *list_tree(const char *dir)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);
	_cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY);
	if (fd >= 0)
		list_tree_rec(fd, "", out, true);
	fclose(out);
	return buf;
}

/* ---- tar building with libarchive ---- */

struct tb {
	struct archive *a;
	char path[PATH_MAX];
};

static void tb_open(struct tb *t, const char *name, int filter)
{
	snprintf(t->path, sizeof(t->path), "%s/%s.%d.tar", W, name, counter++);
	t->a = archive_write_new();
	archive_write_set_format_pax_restricted(t->a);
	if (filter == 1)
		archive_write_add_filter_gzip(t->a);
	else if (filter == 2)
		archive_write_add_filter_zstd(t->a);
	archive_write_open_filename(t->a, t->path);
}

static void tb_add(struct tb *t, const char *name, mode_t type, mode_t perm, const char *data,
		   const char *link, bool hard)
{
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, type);
	archive_entry_set_perm(e, perm);
	archive_entry_set_uid(e, getuid());
	archive_entry_set_gid(e, getgid());
	archive_entry_set_mtime(e, 1600000000, 0);
	if (link && hard)
		archive_entry_set_hardlink(e, link);
	else if (link)
		archive_entry_set_symlink(e, link);
	archive_entry_set_size(e, data ? strlen(data) : 0);
	archive_write_header(t->a, e);
	if (data)
		archive_write_data(t->a, data, strlen(data));
	archive_entry_free(e);
}

/* A directory carrying one xattr. */
static void tb_dir_xattr(struct tb *t, const char *name, const char *xname, const void *v,
			 size_t vlen)
{
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFDIR);
	archive_entry_set_perm(e, 0755);
	archive_entry_set_uid(e, getuid());
	archive_entry_set_gid(e, getgid());
	archive_entry_set_mtime(e, 1600000000, 0);
	archive_entry_xattr_add_entry(e, xname, v, vlen);
	archive_write_header(t->a, e);
	archive_entry_free(e);
}

static void tb_file(struct tb *t, const char *name, const char *data)
{
	tb_add(t, name, AE_IFREG, 0644, data, NULL, false);
}

static void tb_close(struct tb *t)
{
	archive_write_close(t->a);
	archive_write_free(t->a);
}

static int apply(const char *root, const char *tar, const struct berth_archive_apply_opts *o,
		 berth_error *err)
{
	struct berth_archive_apply_opts def = { .ignore_chown_errors = true };
	berth_error_clear(err);
	return berth_archive_apply_path(root, tar, o ? o : &def, NULL, err);
}

/* ---- tests ---- */

static void test_clean_path(void)
{
	static const struct {
		const char *in, *out;
		int r;
	} cases[] = {
		{ "a/b", "a/b", 0 },	   { "./a//b/", "a/b", 0 },   { "./", "", 0 },
		{ ".", "", 0 },		   { "a/./b/.", "a/b", 0 },   { "../a", NULL, -EPERM },
		{ "a/../b", NULL, -EPERM }, { "/etc", NULL, -EPERM }, { "a/..", NULL, -EPERM },
		{ "..a/b..", "..a/b..", 0 }, { ".wh...", ".wh...", 0 },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char buf[64];
		int r;
		snprintf(buf, sizeof(buf), "%s", cases[i].in);
		r = berth_archive_clean_path(buf, 4096);
		is_int(r, cases[i].r, "clean_path('%s') returns %d", cases[i].in, cases[i].r);
		if (cases[i].out)
			is_str(buf, cases[i].out, "clean_path('%s') = '%s'", cases[i].in,
			       cases[i].out);
	}
	char longp[64] = "aaaaaaaaaaaaaaaaaaaa";
	is_int(berth_archive_clean_path(longp, 10), -ENAMETOOLONG, "clean_path caps the length");
}

static void test_xattr_allowlist(void)
{
	ok(berth_archive_xattr_allowed("user.foo"), "user.* allowed");
	ok(berth_archive_xattr_allowed("security.capability"), "security.capability allowed");
	ok(berth_archive_xattr_allowed("trusted.foo"), "trusted.* allowed");
	ok(berth_archive_xattr_allowed("system.posix_acl_access"), "ACLs allowed");
	ok(!berth_archive_xattr_allowed("trusted.overlay.opaque"), "trusted.overlay.* dropped");
	ok(!berth_archive_xattr_allowed("trusted.overlay.redirect"), "overlay redirect dropped");
	ok(!berth_archive_xattr_allowed("user.overlay.opaque"), "user.overlay.* dropped");
	ok(!berth_archive_xattr_allowed("security.selinux"), "security.selinux dropped");
	ok(!berth_archive_xattr_allowed("security.ima"), "security.ima dropped");
}

static void test_basic_apply(void)
{
	_cleanup_free_ char *root = newdir("basic");
	struct tb t;
	berth_error err;
	struct stat st, st2;
	char p[PATH_MAX];
	int r;

	tb_open(&t, "basic", 0);
	tb_add(&t, "./", AE_IFDIR, 0755, NULL, NULL, false);
	tb_add(&t, "./etc/", AE_IFDIR, 0750, NULL, NULL, false);
	tb_add(&t, "./etc/passwd", AE_IFREG, 0640, "root:x:0:0\n", NULL, false);
	tb_add(&t, "./etc/hl", AE_IFREG, 0, NULL, "etc/passwd", true);
	tb_add(&t, "./tmp/", AE_IFDIR, 01777, NULL, NULL, false);
	tb_add(&t, "./bin/sh", AE_IFLNK, 0777, NULL, "/usr/bin/dash", false);
	tb_add(&t, "./deep/a/b/c/file", AE_IFREG, 0600, "deep\n", NULL, false);
	tb_add(&t, "./fifo", AE_IFIFO, 0620, NULL, NULL, false);
	tb_add(&t, "./.wh.kept", AE_IFREG, 0644, "", NULL, false);
	tb_close(&t);

	struct berth_archive_apply_opts o = { .whiteout = BERTH_ARCHIVE_WHITEOUT_KEEP,
					      .ignore_chown_errors = true };
	struct berth_archive_apply_stats stats = { 0 };
	berth_error_clear(&err);
	r = berth_archive_apply_path(root, t.path, &o, &stats, &err);
	is_int(r, 0, "basic apply succeeds (%s)", err.msg);
	is_int(stats.size, 16, "size counts file data (11 + 5 bytes)");
	is_int(stats.entries, 9, "9 entries");
	is_str(slurp(root, "etc/passwd"), "root:x:0:0\n", "file content");
	snprintf(p, sizeof(p), "%s/etc/passwd", root);
	ok(stat(p, &st) == 0 && (st.st_mode & 07777) == 0640, "file mode 0640");
	is_int(st.st_mtim.tv_sec, 1600000000, "file mtime");
	snprintf(p, sizeof(p), "%s/etc/hl", root);
	ok(stat(p, &st2) == 0 && st2.st_ino == st.st_ino && st.st_nlink == 2,
	   "hardlink shares the inode");
	snprintf(p, sizeof(p), "%s/etc", root);
	ok(stat(p, &st) == 0 && (st.st_mode & 07777) == 0750, "dir mode 0750 (deferred)");
	is_int(st.st_mtim.tv_sec, 1600000000, "dir mtime set after its entries");
	snprintf(p, sizeof(p), "%s/tmp", root);
	ok(stat(p, &st) == 0 && (st.st_mode & 07777) == 01777, "sticky dir 1777");
	snprintf(p, sizeof(p), "%s/bin/sh", root);
	{
		char tg[64] = "";
		ssize_t n = readlink(p, tg, sizeof(tg) - 1);
		tg[n < 0 ? 0 : n] = '\0';
		is_str(tg, "/usr/bin/dash", "symlink stored verbatim");
	}
	is_str(slurp(root, "deep/a/b/c/file"), "deep\n", "missing parents created");
	snprintf(p, sizeof(p), "%s/fifo", root);
	ok(lstat(p, &st) == 0 && S_ISFIFO(st.st_mode) && (st.st_mode & 0777) == 0620, "fifo");
	ok(exists(root, ".wh.kept"), "KEEP mode stores .wh. files");
}

static void test_replace(void)
{
	_cleanup_free_ char *root = newdir("replace");
	struct tb t;
	berth_error err;
	struct stat st;
	char p[PATH_MAX];

	tb_open(&t, "replace", 0);
	tb_file(&t, "x", "one");
	tb_file(&t, "x", "two");
	tb_add(&t, "d/", AE_IFDIR, 0755, NULL, NULL, false);
	tb_file(&t, "d/inner", "in");
	tb_file(&t, "d", "now a file");
	tb_add(&t, "s", AE_IFLNK, 0777, NULL, "/etc/passwd", false);
	tb_file(&t, "s", "not through the symlink");
	tb_close(&t);
	is_int(apply(root, t.path, NULL, &err), 0, "duplicates apply (%s)", err.msg);
	is_str(slurp(root, "x"), "two", "later entry wins");
	is_str(slurp(root, "d"), "now a file", "file replaces a dir with contents");
	snprintf(p, sizeof(p), "%s/s", root);
	ok(lstat(p, &st) == 0 && S_ISREG(st.st_mode), "file replaces a symlink, not written through");
	is_str(slurp(root, "s"), "not through the symlink", "content in the root");
}

/* A symlink that was there before the apply (a parent layer's) resolves inside the root,
 * with openat2 and with the *at walk. */
static void test_preexisting_symlink(bool walk)
{
	_cleanup_free_ char *root = newdir("preexist");
	_cleanup_free_ char *outside = newdir("outside");
	_cleanup_free_ char *before = NULL, *after = NULL;
	char p[PATH_MAX], tg[PATH_MAX];
	struct tb t;
	berth_error err;
	struct berth_archive_apply_opts o = { .whiteout = BERTH_ARCHIVE_WHITEOUT_DELETE,
					      .ignore_chown_errors = true };

	put(outside, "victim", "keep", 0644);
	snprintf(p, sizeof(p), "%s/sub", root);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/abs", root);
	snprintf(tg, sizeof(tg), "%s", outside); /* absolute: the host's path to outside */
	symlink(tg, p);
	snprintf(p, sizeof(p), "%s/rel", root);
	symlink("../../../../../../../../../../sub", p);
	snprintf(p, sizeof(p), "%s/loop", root);
	symlink("loop", p);
	before = list_tree(outside);

	berth_archive_set_force_walk(walk);
	tb_open(&t, "preexist", 0);
	tb_file(&t, "rel/f", "via rel");
	tb_close(&t);
	is_int(apply(root, t.path, &o, &err), 0, "%s: write through a relative symlink (%s)",
	       walk ? "walk" : "openat2", err.msg);
	is_str(slurp(root, "sub/f"), "via rel", "%s: '..' clamped at the root",
	       walk ? "walk" : "openat2");

	tb_open(&t, "preexist-abs", 0);
	tb_file(&t, "abs/victim", "pwned");
	tb_close(&t);
	apply(root, t.path, &o, &err);
	/* the absolute target means root/<outside path>: created or failed, never outside */
	is_str(slurp(outside, "victim"), "keep", "%s: absolute symlink target stays in the root",
	       walk ? "walk" : "openat2");

	tb_open(&t, "preexist-wh", 0);
	tb_file(&t, "abs/.wh.victim", "");
	tb_close(&t);
	apply(root, t.path, &o, &err);
	ok(exists(outside, "victim"), "%s: whiteout through an absolute symlink deletes nothing "
				      "outside", walk ? "walk" : "openat2");

	tb_open(&t, "preexist-loop", 0);
	tb_file(&t, "loop/x", "");
	tb_close(&t);
	is_int(apply(root, t.path, &o, &err), -EPERM, "%s: symlink loop refused",
	       walk ? "walk" : "openat2");
	is_int(err.code, BERTH_STOR_ERR_UNSAFE_ARCHIVE, "loop: code 15");
	after = list_tree(outside);
	is_str(after, before, "%s: outside unchanged", walk ? "walk" : "openat2");
	berth_archive_set_force_walk(false);
}

static void test_whiteouts_delete(void)
{
	_cleanup_free_ char *root = newdir("wh");
	char p[PATH_MAX];
	struct tb t;
	berth_error err;
	struct berth_archive_apply_opts o = { .whiteout = BERTH_ARCHIVE_WHITEOUT_DELETE,
					      .ignore_chown_errors = true };
	struct berth_archive_apply_stats st;

	snprintf(p, sizeof(p), "%s/gone", root);
	mkdir(p, 0755);
	put(root, "gone/file", "x", 0644);
	put(root, "file", "x", 0644);
	snprintf(p, sizeof(p), "%s/opq", root);
	mkdir(p, 0755);
	put(root, "opq/old1", "x", 0644);
	put(root, "opq/old2", "x", 0644);
	put(root, "opq/new", "old content", 0644);

	tb_open(&t, "wh", 0);
	tb_file(&t, ".wh.gone", "");
	tb_file(&t, ".wh.file", "");
	tb_file(&t, ".wh.never-existed", "");
	tb_add(&t, "opq/", AE_IFDIR, 0755, NULL, NULL, false);
	tb_file(&t, "opq/new", "from this layer");
	tb_file(&t, "opq/.wh..wh..opq", "");
	tb_file(&t, "missing-dir/.wh.x", "");
	tb_close(&t);
	berth_error_clear(&err);
	is_int(berth_archive_apply_path(root, t.path, &o, &st, &err), 0, "delete-mode apply (%s)",
	       err.msg);
	ok(!exists(root, "gone"), ".wh.DIR removes the dir tree");
	ok(!exists(root, "file"), ".wh.FILE removes the file");
	ok(!exists(root, "opq/old1") && !exists(root, "opq/old2"),
	   "opaque marker clears the parent's entries");
	is_str(slurp(root, "opq/new"), "from this layer", "opaque spares this layer's entries");
	ok(!exists(root, "missing-dir"), "a whiteout does not create its directory");
	ok(!exists(root, ".wh.gone") && !exists(root, "opq/.wh..wh..opq"),
	   "no .wh. files left");
	is_int(st.whiteouts, 5, "5 whiteouts counted");
}

static void test_hostile_corpus(void)
{
	const char *src = getenv("BERTH_SRC");
	char mpath[PATH_MAX], line[512];
	_cleanup_fclose_ FILE *m = NULL;

	snprintf(mpath, sizeof(mpath), "%s/tests/data/hostile/MANIFEST", src ? src : ".");
	m = fopen(mpath, "re");
	ok(m != NULL, "hostile MANIFEST found (%s)", mpath);
	if (!m)
		return;
	while (fgets(line, sizeof(line), m)) {
		char name[128], flags[32];
		int code;
		_cleanup_free_ char *w = newdir("hostile");
		_cleanup_free_ char *before = NULL, *after = NULL;
		char root[PATH_MAX], outside[PATH_MAX], tar[PATH_MAX];
		struct berth_archive_apply_opts o = { .ignore_chown_errors = true };
		berth_error err;
		int r;

		if (sscanf(line, "%127s %d %31s", name, &code, flags) != 3)
			continue;
		if (strstr(flags, "-D"))
			o.refuse_devices = true;
		if (strstr(flags, "-wdelete"))
			o.whiteout = BERTH_ARCHIVE_WHITEOUT_DELETE;
		snprintf(root, sizeof(root), "%s/root", w);
		snprintf(outside, sizeof(outside), "%s/outside", w);
		mkdir(root, 0755);
		mkdir(outside, 0755);
		put(outside, "file", "keep", 0644);
		snprintf(tar, sizeof(tar), "%s/tests/data/hostile/%s", src ? src : ".", name);
		before = list_tree(w);
		/* the listing of w includes root: strip it by comparing outside only + w's top */
		free(before);
		before = list_tree(outside);
		r = apply(root, tar, &o, &err);
		after = list_tree(outside);
		ok(code ? r < 0 && err.code == code : r == 0, "%s: code %d (got %d: %s)", name,
		   code, err.code, err.msg);
		is_str(after, before, "%s: outside unchanged", name);
		{
			char **names;
			size_t n;
			_cleanup_close_ int fd = open(w, O_RDONLY | O_DIRECTORY);
			berth_archive_list_dir(fd, &names, &n);
			is_int(n, 2, "%s: nothing new beside the root", name);
			berth_archive_names_free(names, n);
		}
		rm_rf(w);
	}
}

static void test_limits(void)
{
	_cleanup_free_ char *root = newdir("limits");
	struct tb t;
	berth_error err;
	struct berth_archive_apply_opts o = { .ignore_chown_errors = true, .max_total_size = 10 };

	tb_open(&t, "limits", 0);
	tb_file(&t, "a", "0123456789");
	tb_file(&t, "b", "0");
	tb_close(&t);
	is_int(apply(root, t.path, &o, &err), -EPERM, "total size cap");
	is_int(err.code, BERTH_STOR_ERR_UNSAFE_ARCHIVE, "size cap: code 15 (%s)", err.msg);
	o = (struct berth_archive_apply_opts){ .ignore_chown_errors = true, .max_entries = 1 };
	apply(root, t.path, &o, &err);
	is_int(err.code, BERTH_STOR_ERR_UNSAFE_ARCHIVE, "entry cap: code 15 (%s)", err.msg);
	o = (struct berth_archive_apply_opts){ .ignore_chown_errors = true, .max_path = 4 };
	tb_open(&t, "limits2", 0);
	tb_file(&t, "abcdefgh", "");
	tb_close(&t);
	apply(root, t.path, &o, &err);
	is_int(err.code, BERTH_STOR_ERR_UNSAFE_ARCHIVE, "path cap: code 15 (%s)", err.msg);
}

static void test_compressed(void)
{
	for (int f = 1; f <= 2; f++) {
		_cleanup_free_ char *root = newdir("comp");
		struct tb t;
		berth_error err;

		tb_open(&t, "comp", f);
		tb_file(&t, "hello", "compressed");
		tb_close(&t);
		is_int(apply(root, t.path, NULL, &err), 0, "%s layer applies (%s)",
		       f == 1 ? "gzip" : "zstd", err.msg);
		is_str(slurp(root, "hello"), "compressed", "%s content", f == 1 ? "gzip" : "zstd");
	}
}

/* tree -> diff -> apply == tree */
static void test_roundtrip(void)
{
	_cleanup_free_ char *src = newdir("rt-src");
	_cleanup_free_ char *dst = newdir("rt-dst");
	_cleanup_free_ char *a = NULL, *b = NULL;
	char p[PATH_MAX], tar[PATH_MAX];
	berth_error err;
	uint64_t size = 0;
	struct timespec ts[2] = { { 1500000000, 0 }, { 1500000000, 0 } };
	int r;

	snprintf(p, sizeof(p), "%s/dir", src);
	mkdir(p, 0700);
	put(src, "dir/f", "content", 0640);
	put(src, "exec", "#!/bin/sh\n", 0755);
	put(src, "big", "", 0644);
	{
		char big[PATH_MAX];
		snprintf(big, sizeof(big), "%s/big", src);
		int bfd = open(big, O_WRONLY | O_TRUNC);
		for (int i = 0; i < 300; i++)
			if (write(bfd, "0123456789abcdef0123456789abcdef", 32) != 32)
				abort();
		close(bfd);
	}
	snprintf(p, sizeof(p), "%s/dir/f", src);
	setxattr(p, "user.test", "v1", 2, 0);
	snprintf(tar, sizeof(tar), "%s/dir/hl", src);
	link(p, tar);
	snprintf(p, sizeof(p), "%s/link", src);
	symlink("dir/f", p);
	snprintf(p, sizeof(p), "%s/dangling", src);
	symlink("/nonexistent/../x", p);
	snprintf(p, sizeof(p), "%s/fifo", src);
	mkfifo(p, 0600);
	snprintf(p, sizeof(p), "%s/long-%0200d", src, 7);
	mkdir(p, 0755);
	/* whole-second times everywhere (tar carries seconds, as Docker's do) */
	{
		const char *all[] = { "dir/f", "exec", "big", "fifo", "dir", "." };
		for (size_t i = 0; i < ARRAY_SIZE(all); i++) {
			snprintf(p, sizeof(p), "%s/%s", src, all[i]);
			utimensat(AT_FDCWD, p, ts, 0);
		}
		snprintf(p, sizeof(p), "%s/link", src);
		utimensat(AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW);
		snprintf(p, sizeof(p), "%s/dangling", src);
		utimensat(AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW);
		snprintf(p, sizeof(p), "%s/long-%0200d", src, 7);
		utimensat(AT_FDCWD, p, ts, 0);
	}

	snprintf(tar, sizeof(tar), "%s/rt.%d.tar", W, counter++);
	{
		_cleanup_close_ int rootfd = open(src, O_RDONLY | O_DIRECTORY);
		_cleanup_close_ int out = open(tar, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		struct berth_archive_diff_opts d = { .whiteout = BERTH_ARCHIVE_WHITEOUT_KEEP };
		berth_error_clear(&err);
		r = berth_archive_diff(rootfd, out, &d, &size, &err);
		is_int(r, 0, "diff of a tree (%s)", err.msg);
		ok(size > 9600 && size % 512 == 0, "tar size %llu, 512-aligned",
		   (unsigned long long)size);
	}
	is_int(apply(dst, tar, NULL, &err), 0, "apply the diff (%s)", err.msg);
	a = list_tree(src);
	b = list_tree(dst);
	is_str(b, a, "apply(diff(tree)) == tree");

	/* the same through the *at walk */
	{
		_cleanup_free_ char *dst2 = newdir("rt-dst2");
		_cleanup_free_ char *c = NULL;
		berth_archive_set_force_walk(true);
		is_int(apply(dst2, tar, NULL, &err), 0, "apply via the walk (%s)", err.msg);
		berth_archive_set_force_walk(false);
		c = list_tree(dst2);
		is_str(c, a, "walk: apply(diff(tree)) == tree");
	}
}

static const char *changes_str(const struct berth_archive_changes *c)
{
	static char buf[4096];
	size_t l = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < c->n && l < sizeof(buf) - 300; i++)
		l += snprintf(buf + l, sizeof(buf) - l, "%c%s ",
			      "CAD"[c->v[i].kind], c->v[i].path);
	return buf;
}

static ino_t hint_ino;
static bool hint_only(void *ctx, const struct stat *t, const struct stat *p)
{
	return hint_ino && t->st_ino == hint_ino;
}
static bool hint_all(void *ctx, const struct stat *t, const struct stat *p)
{
	return true;
}

static void test_changes_and_naive_diff(void)
{
	_cleanup_free_ char *parent = newdir("ch-parent");
	_cleanup_free_ char *tree = newdir("ch-tree");
	_cleanup_free_ char *copy = newdir("ch-copy");
	_cleanup_free_ char *a = NULL, *b = NULL;
	struct berth_archive_changes ch = { 0 };
	struct timespec ts[2] = { { 1500000000, 0 }, { 1500000000, 0 } };
	char p[PATH_MAX], tar[PATH_MAX];
	berth_error err;
	uint64_t size = 0;
	int r;

	/* parent: same/ keep, mod, del, deldir/x ; tree: mod changed, del gone, new added */
	for (int k = 0; k < 3; k++) {
		const char *d = k == 0 ? parent : k == 1 ? tree : copy;
		const char *names[] = { "same/keep", "same/mod", "del", "deldir/x", "untouched" };
		snprintf(p, sizeof(p), "%s/same", d);
		mkdir(p, 0755);
		snprintf(p, sizeof(p), "%s/deldir", d);
		mkdir(p, 0755);
		for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
			put(d, names[i], "orig", 0644);
			snprintf(p, sizeof(p), "%s/%s", d, names[i]);
			utimensat(AT_FDCWD, p, ts, 0);
		}
	}
	put(tree, "same/mod", "changed!", 0644);
	snprintf(p, sizeof(p), "%s/del", tree);
	unlink(p);
	snprintf(p, sizeof(p), "%s/deldir", tree);
	rm_rf(p);
	snprintf(p, sizeof(p), "%s/newdir", tree);
	mkdir(p, 0755);
	put(tree, "newdir/n", "new file", 0600);
	snprintf(p, sizeof(p), "%s/untouched", tree);
	chmod(p, 0600);
	snprintf(p, sizeof(p), "%s/same/keep", tree);
	setxattr(p, "user.changed", "1", 1, 0); /* only an xattr differs */
	for (int k = 0; k < 3; k++) { /* dir times as in the tree for the comparison */
		const char *d = k == 0 ? parent : k == 1 ? tree : copy;
		const char *dirs[] = { "same", "newdir", "" };
		for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
			snprintf(p, sizeof(p), "%s/%s", d, dirs[i]);
			utimensat(AT_FDCWD, p, ts, 0);
		}
		snprintf(p, sizeof(p), "%s/newdir/n", d);
		utimensat(AT_FDCWD, p, ts, 0);
		snprintf(p, sizeof(p), "%s/same/mod", d);
		utimensat(AT_FDCWD, p, ts, 0);
	}

	{
		_cleanup_close_ int tfd = open(tree, O_RDONLY | O_DIRECTORY);
		_cleanup_close_ int pfd = open(parent, O_RDONLY | O_DIRECTORY);
		r = berth_archive_changes(tfd, pfd, BERTH_ARCHIVE_CHANGES_FULL, false, &ch, &err);
		is_int(r, 0, "changes (%s)", err.msg);
		is_str(changes_str(&ch),
		       "Ddel Ddeldir Anewdir Anewdir/n Csame Csame/keep Csame/mod Cuntouched ",
		       "changes: added, modified (content, mode, xattr), deleted, with ancestors");
		r = berth_archive_changes_size(tfd, &ch, &size, &err);
		is_int(size, 8 + 4 + 8 + 4, "changes size = new + xattr'd + mod + chmodded file");

		snprintf(tar, sizeof(tar), "%s/naive.%d.tar", W, counter++);
		_cleanup_close_ int out = open(tar, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		struct berth_archive_diff_opts d = { .whiteout = BERTH_ARCHIVE_WHITEOUT_KEEP,
						     .changes = &ch };
		r = berth_archive_diff(tfd, out, &d, NULL, &err);
		is_int(r, 0, "naive diff (%s)", err.msg);
		berth_archive_changes_free(&ch);
	}
	{
		struct berth_archive_apply_opts o = { .whiteout = BERTH_ARCHIVE_WHITEOUT_DELETE,
						      .ignore_chown_errors = true };
		is_int(apply(copy, tar, &o, &err), 0, "naive diff applies onto a parent copy (%s)",
		       err.msg);
		snprintf(p, sizeof(p), "%s", copy);
		utimensat(AT_FDCWD, p, ts, 0);
		a = list_tree(tree);
		b = list_tree(copy);
		is_str(b, a, "parent + naive diff == tree");
	}
	{
		/* the hint: what the caller knows unchanged is neither compared nor walked */
		_cleanup_close_ int tfd = open(tree, O_RDONLY | O_DIRECTORY);
		_cleanup_close_ int pfd = open(parent, O_RDONLY | O_DIRECTORY);
		struct stat same;

		snprintf(p, sizeof(p), "%s/same", tree);
		stat(p, &same);
		hint_ino = 0;
		r = berth_archive_changes_hinted(tfd, pfd, hint_only, NULL, &ch, &err);
		is_str(r == 0 ? changes_str(&ch) : err.msg,
		       "Ddel Ddeldir Anewdir Anewdir/n Csame Csame/keep Csame/mod Cuntouched ",
		       "hinted changes, nothing known unchanged: as the full comparison");
		berth_archive_changes_free(&ch);
		hint_ino = same.st_ino;
		r = berth_archive_changes_hinted(tfd, pfd, hint_only, NULL, &ch, &err);
		is_str(r == 0 ? changes_str(&ch) : err.msg,
		       "Ddel Ddeldir Anewdir Anewdir/n Cuntouched ",
		       "hinted changes: a directory known unchanged is not walked");
		berth_archive_changes_free(&ch);
		r = berth_archive_changes_hinted(tfd, pfd, hint_all, NULL, &ch, &err);
		is_str(r == 0 ? changes_str(&ch) : err.msg, "Ddel Ddeldir Anewdir Anewdir/n ",
		       "hinted changes, everything known unchanged: names added and gone remain");
		berth_archive_changes_free(&ch);
	}
	{
		_cleanup_close_ int tfd = open(tree, O_RDONLY | O_DIRECTORY);
		r = berth_archive_changes(tfd, -1, BERTH_ARCHIVE_CHANGES_FULL, false, &ch, &err);
		ok(r == 0 && ch.n == 6, "changes against no parent: everything added (%zu)", ch.n);
		berth_archive_changes_free(&ch);
	}
}

static void test_remove_tree(void)
{
	_cleanup_free_ char *d = newdir("rm");
	_cleanup_free_ char *outside = newdir("rm-outside");
	char p[PATH_MAX];
	_cleanup_close_ int fd = -1;
	berth_error err;

	put(outside, "precious", "x", 0644);
	snprintf(p, sizeof(p), "%s/t", d);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/t/link", d);
	symlink(outside, p);
	snprintf(p, sizeof(p), "%s/t/sub", d);
	mkdir(p, 0755);
	put(d, "t/sub/f", "x", 0644);
	fd = open(d, O_RDONLY | O_DIRECTORY);
	is_int(berth_archive_remove_tree_at(fd, "t", &err), 0, "remove_tree");
	ok(!exists(d, "t"), "tree gone");
	ok(exists(outside, "precious"), "symlink target untouched");
	is_int(berth_archive_remove_tree_at(fd, "t", &err), 0, "missing is fine");
	snprintf(p, sizeof(p), "%s/l2", d);
	symlink(outside, p);
	is_int(berth_archive_remove_tree_at(fd, "l2/precious", &err), 0,
	       "remove through a symlink is a no-op");
	ok(exists(outside, "precious"), "not followed");
	ok(berth_archive_remove_tree_at(fd, "..", &err) < 0, "'..' refused");
}

static void test_opath_root(void)
{
	_cleanup_free_ char *root = newdir("opath");
	_cleanup_close_ int rfd = open(root, O_PATH | O_DIRECTORY);
	_cleanup_close_ int tfd = -1;
	struct tb t;
	berth_error err;
	struct stat st;

	tb_open(&t, "opath", 0);
	tb_add(&t, "./", AE_IFDIR, 0711, NULL, NULL, false);
	tb_file(&t, "f", "x");
	tb_close(&t);
	tfd = open(t.path, O_RDONLY);
	berth_error_clear(&err);
	is_int(berth_archive_apply(rfd, tfd, NULL, NULL, &err), 0,
	       "apply into an O_PATH root fd (%s)", err.msg);
	ok(stat(root, &st) == 0 && (st.st_mode & 07777) == 0711, "root entry's mode applied");
}

/* A default ACL on a dir decides new files' modes instead of the umask: modes stay exact. */
static void test_default_acl_modes(void)
{
	_cleanup_free_ char *root = newdir("defacl");
	/* user::rwx group::--- other::--- */
	static const unsigned char acl[] = { 2, 0, 0, 0, 1, 0, 7, 0, 0xff, 0xff, 0xff, 0xff,
					     4, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x20, 0, 0, 0,
					     0xff, 0xff, 0xff, 0xff };
	char p[PATH_MAX];
	struct stat st;
	struct tb t;
	berth_error err;

	tb_open(&t, "defacl", 0);
	tb_dir_xattr(&t, "d/", "system.posix_acl_default", acl, sizeof(acl));
	tb_add(&t, "d/f", AE_IFREG, 0644, "x", NULL, false);
	tb_add(&t, "d/fifo", AE_IFIFO, 0644, NULL, NULL, false);
	tb_close(&t);
	is_int(apply(root, t.path, NULL, &err), 0, "apply with a default ACL (%s)", err.msg);
	snprintf(p, sizeof(p), "%s/d", root);
	if (getxattr(p, "system.posix_acl_default", NULL, 0) < 0) {
		tap_skip("file mode 0644, not the ACL's 0600", "no ACL support on this file system");
		tap_skip("fifo mode 0644", "no ACL support on this file system");
		return;
	}
	snprintf(p, sizeof(p), "%s/d/f", root);
	ok(stat(p, &st) == 0 && (st.st_mode & 0777) == 0644, "file mode 0644, not the ACL's 0600 "
	   "(got %o)", st.st_mode & 0777);
	snprintf(p, sizeof(p), "%s/d/fifo", root);
	ok(lstat(p, &st) == 0 && (st.st_mode & 0777) == 0644, "fifo mode 0644 (got %o)",
	   st.st_mode & 0777);
}

/* rootless overlay form: user.overlay.opaque, both ways */
static void test_userxattr_opaque(void)
{
	_cleanup_free_ char *root = newdir("userxattr");
	char p[PATH_MAX], v[8] = "";
	struct tb t;
	berth_error err;
	struct berth_archive_apply_opts o = { .overlay_userxattr = true,
					      .ignore_chown_errors = true };
	struct berth_archive_diff_opts d = { .whiteout = BERTH_ARCHIVE_WHITEOUT_OVERLAY,
					     .overlay_userxattr = true };
	_cleanup_close_ int rfd = -1, out = -1;
	char tar[PATH_MAX];

	tb_open(&t, "userxattr", 0);
	tb_add(&t, "d/", AE_IFDIR, 0755, NULL, NULL, false);
	tb_file(&t, "d/.wh..wh..opq", "");
	tb_file(&t, "d/f", "x");
	tb_close(&t);
	is_int(apply(root, t.path, &o, &err), 0, "opaque marker with overlay_userxattr (%s)",
	       err.msg);
	snprintf(p, sizeof(p), "%s/d", root);
	getxattr(p, "user.overlay.opaque", v, sizeof(v) - 1);
	is_str(v, "y", "user.overlay.opaque=y set");
	ok(!exists(root, "d/.wh..wh..opq"), "marker not stored as a file");

	snprintf(tar, sizeof(tar), "%s/userxattr-diff.%d.tar", W, counter++);
	rfd = open(root, O_RDONLY | O_DIRECTORY);
	out = open(tar, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	berth_error_clear(&err);
	is_int(berth_archive_diff(rfd, out, &d, NULL, &err), 0, "diff (%s)", err.msg);
	{
		struct archive *a = archive_read_new();
		struct archive_entry *e;
		char names[256] = "";
		archive_read_support_format_tar(a);
		archive_read_open_filename(a, tar, 10240);
		while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
			strncat(names, archive_entry_pathname(e), sizeof(names) - strlen(names) - 2);
			strcat(names, " ");
		}
		archive_read_free(a);
		is_str(names, "d/ d/.wh..wh..opq d/f ", "diff emits the opaque marker after the dir");
	}
}

/* 600 levels with a 64-fd limit: removal keeps one fd, not one per level */
static void test_remove_deep(void)
{
	_cleanup_free_ char *d = newdir("deep");
	_cleanup_close_ int top = open(d, O_RDONLY | O_DIRECTORY);
	int fd = dup(top);
	struct rlimit old, low;
	berth_error err;
	int r;

	mkdirat(fd, "t", 0755);
	for (int i = 0; i < 600 && fd >= 0; i++) {
		int n = openat(fd, i ? "d" : "t", O_RDONLY | O_DIRECTORY);
		close(fd);
		fd = n;
		mkdirat(fd, "d", 0755);
		if (i % 100 == 0) {
			int f = openat(fd, "file", O_WRONLY | O_CREAT, 0644);
			close(f);
		}
	}
	close(fd);
	getrlimit(RLIMIT_NOFILE, &old);
	low = old;
	low.rlim_cur = 64;
	setrlimit(RLIMIT_NOFILE, &low);
	r = berth_archive_remove_tree_at(top, "t", &err);
	setrlimit(RLIMIT_NOFILE, &old);
	is_int(r, 0, "600-level tree removed under a 64-fd limit");
	ok(!exists(d, "t"), "deep tree gone");
}

static void test_diff_refuses_wh_names(void)
{
	_cleanup_free_ char *d = newdir("whname");
	_cleanup_close_ int fd = -1, out = -1;
	berth_error err;
	struct berth_archive_diff_opts o = { .whiteout = BERTH_ARCHIVE_WHITEOUT_OVERLAY };

	put(d, ".wh.sbin", "", 0644);
	fd = open(d, O_RDONLY | O_DIRECTORY);
	out = open("/dev/null", O_WRONLY);
	berth_error_clear(&err);
	ok(berth_archive_diff(fd, out, &o, NULL, &err) < 0 &&
		   err.code == BERTH_STOR_ERR_UNSAFE_ARCHIVE,
	   "overlay diff refuses a real .wh. file (%s)", err.msg);
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(W, sizeof(W), "%s/test-archive.XXXXXX", tmp ? tmp : "/tmp");
	if (!mkdtemp(W)) {
		perror("mkdtemp");
		return 1;
	}
	test_clean_path();
	test_xattr_allowlist();
	test_basic_apply();
	test_replace();
	test_preexisting_symlink(false);
	test_preexisting_symlink(true);
	test_whiteouts_delete();
	test_hostile_corpus();
	test_limits();
	test_compressed();
	test_roundtrip();
	test_changes_and_naive_diff();
	test_remove_tree();
	test_diff_refuses_wh_names();
	test_opath_root();
	test_remove_deep();
	test_userxattr_opaque();
	test_default_acl_modes();
	rm_rf(W);
	return done_testing();
}
