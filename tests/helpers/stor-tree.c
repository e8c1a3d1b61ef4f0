// SPDX-License-Identifier: Apache-2.0
/*
 * Helper of the storage conformance suite, so that the suite needs only a POSIX shell (the
 * devicemapper VM has busybox and dash, no jq, setfattr or GNU tar):
 *   stor-tree fill DIR          populate DIR with every kind of entry a layer can hold
 *   stor-tree change DIR        make the changes of a second layer (deletes, opaque dir, ...)
 *   stor-tree manifest DIR      canonical listing: type, mode, owner, size, content hash,
 *                               link target, rdev, xattrs, hardlink group (names of one
 *                               inode inside DIR), mtime
 *   stor-tree request CONFIG ARGS   print CONFIG (a JSON object file) with "args": ARGS
 *   stor-tree get KEY[.KEY|.N]  read JSON on stdin, print a value (strings raw)
 *   stor-tree evil-tar FILE     a tar whose entry climbs out with ../
 *   stor-tree getxattr PATH NAME    print the value (exit 1 when absent)
 *   stor-tree big FILE MIB      a file of MIB MiB of pseudo-random bytes
 *   stor-tree mount-specs DIR   mount the specs of a MOUNTS result (JSON on stdin) on DIR, the
 *                               way containerd applies a snapshotter's mounts: ro/rw/bind/rbind
 *                               become flags, the rest the data string; a read-only bind is
 *                               remounted read-only
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <jansson.h>

#define DIE(...)                                                                                   \
	do {                                                                                       \
		fprintf(stderr, "stor-tree: " __VA_ARGS__);                                       \
		fprintf(stderr, " (%s)\n", strerror(errno));                                       \
		exit(2);                                                                           \
	} while (0)

/* A short-lived test tool: its few unfreed JSON objects are not worth failing a
 * `make SANITIZE=1` run over. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "detect_leaks=0";
}

static char base[4096];

static const char *P(const char *rel)
{
	static char buf[2][8192];
	static int i;
	i ^= 1;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", base, rel);
	return buf[i];
}

static void put(const char *rel, const char *data, mode_t mode, uid_t u, gid_t g)
{
	int fd = open(P(rel), O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, data, strlen(data)) != (ssize_t)strlen(data))
		DIE("write %s", rel);
	close(fd);
	if (lchown(P(rel), u, g) < 0 || chmod(P(rel), mode) < 0)
		DIE("chown/chmod %s", rel);
}

static void big(const char *path, int mib)
{
	static char buf[1 << 16];
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		DIE("open %s", path);
	for (int n = 0; n < mib * 16; n++) {
		for (size_t i = 0; i < sizeof(buf); i += 8) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			memcpy(buf + i, &x, 8);
		}
		if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
			DIE("write %s", path);
	}
	close(fd);
}

static void set_mtime(const char *rel, long t)
{
	struct timeval tv[2] = { { t, 0 }, { t, 0 } };
	if (lutimes(P(rel), tv) < 0)
		DIE("lutimes %s", rel);
}

static void xattr(const char *rel, const char *name, const void *v, size_t len)
{
	if (lsetxattr(P(rel), name, v, len, 0) < 0)
		DIE("setxattr %s %s", rel, name);
}

static void fill(void)
{
	/* security.capability v2: cap_net_bind_service (bit 10) permitted + effective */
	static const unsigned char cap[20] = { 0x00, 0x00, 0x00, 0x02, 0x00, 0x04, 0x00, 0x00 };
	unsigned char capv[20];
	memcpy(capv, cap, sizeof(capv));
	capv[0] = 0x01; /* VFS_CAP_FLAGS_EFFECTIVE */

	if (mkdir(P("etc"), 0755) < 0 || mkdir(P("etc/sub"), 0700) < 0 || mkdir(P("tmp"), 01777) < 0 ||
	    mkdir(P("home"), 0755) < 0 || mkdir(P("home/user"), 0750) < 0 ||
	    mkdir(P("opq"), 0755) < 0 || mkdir(P("opq/inner"), 0755) < 0 || mkdir(P("bin"), 0755) < 0)
		DIE("mkdir");
	put("etc/passwd", "root:x:0:0::/root:/bin/sh\n", 0644, 0, 0);
	put("etc/shadow", "root:*:1::::::\n", 0640, 0, 42);
	put("etc/sub/secret", "s3cret\n", 0600, 1000, 1000);
	put("home/user/file", "user data\n", 0644, 1000, 100);
	put("bin/suid", "#!/bin/sh\n", 04755, 0, 0);
	put("bin/sgid", "#!/bin/sh\n", 02755, 0, 50);
	put("bin/ping", "ELF-ish\n", 0755, 0, 0);
	xattr("bin/ping", "security.capability", capv, sizeof(capv));
	put("opq/a", "a\n", 0644, 0, 0);
	put("opq/inner/b", "b\n", 0644, 0, 0);
	put("gone", "to be deleted\n", 0644, 0, 0);
	put("changeme", "v1\n", 0644, 0, 0);
	put("empty", "", 0644, 0, 0);
	if (link(P("etc/passwd"), P("etc/passwd-hardlink")) < 0 ||
	    link(P("etc/passwd"), P("home/user/passwd-link")) < 0)
		DIE("link");
	if (symlink("../etc/passwd", P("bin/rel-link")) < 0 ||
	    symlink("/etc/passwd", P("bin/abs-link")) < 0 || symlink("nowhere", P("dangling")) < 0 ||
	    lchown(P("dangling"), 7, 8) < 0)
		DIE("symlink");
	if (mknod(P("null"), S_IFCHR | 0666, makedev(1, 3)) < 0 ||
	    mknod(P("blk"), S_IFBLK | 0660, makedev(7, 0)) < 0 ||
	    mknod(P("fifo"), S_IFIFO | 0644, 0) < 0)
		DIE("mknod");
	xattr("etc", "user.dir", "dirval", 6);
	xattr("etc/passwd", "user.one", "1", 1);
	xattr("etc/passwd", "user.bin", "\x00\x01\xff", 3);
	xattr("home/user/file", "trusted.berth", "t", 1);
	big(P("big"), 1);
	char longname[300];
	memset(longname, 'n', 255);
	longname[255] = '\0';
	put(longname, "long\n", 0644, 0, 0);
	set_mtime("etc/passwd", 1000000000);
	set_mtime("bin/abs-link", 1100000000);
}

static void change(void)
{
	/* what a container does on top of the fill() layer */
	if (unlink(P("gone")) < 0 || unlink(P("opq/a")) < 0 || unlink(P("opq/inner/b")) < 0 ||
	    rmdir(P("opq/inner")) < 0 || rmdir(P("opq")) < 0)
		DIE("delete");
	if (mkdir(P("opq"), 0711) < 0)
		DIE("mkdir opq");
	put("opq/fresh", "fresh\n", 0644, 0, 0);
	put("changeme", "v2 longer\n", 0600, 5, 5);
	if (chown(P("home/user/file"), 2000, 2000) < 0 || chmod(P("etc/sub"), 0755) < 0)
		DIE("chown");
	xattr("etc/shadow", "user.added", "x", 1);
	if (unlink(P("dangling")) < 0 || symlink("elsewhere", P("dangling")) < 0)
		DIE("relink");
	if (mkdir(P("newdir"), 0755) < 0 || mkdir(P("newdir/deep"), 0700) < 0)
		DIE("mkdir newdir");
	put("newdir/deep/file", "deep\n", 0644, 3, 3);
	if (link(P("newdir/deep/file"), P("newdir/hl")) < 0)
		DIE("link");
	if (unlink(P("fifo")) < 0 || mknod(P("fifo"), S_IFCHR | 0600, makedev(5, 1)) < 0)
		DIE("replace fifo");
}

/* FNV-1a 64 over the content: enough to see any difference. */
static uint64_t hash_file(int dirfd, const char *name)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	char buf[65536];
	ssize_t n;
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW);
	if (fd < 0)
		DIE("open %s", name);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i < n; i++)
			h = (h ^ (unsigned char)buf[i]) * 0x100000001b3ULL;
	close(fd);
	return h;
}

struct ino_seen {
	dev_t dev;
	ino_t ino;
	char *first;
	unsigned count; /* names of this inode inside the tree */
};
static struct ino_seen *seen;
static size_t nseen;

static struct ino_seen *ino_find(const struct stat *st)
{
	for (size_t j = 0; j < nseen; j++)
		if (seen[j].dev == st->st_dev && seen[j].ino == st->st_ino)
			return &seen[j];
	return NULL;
}

/* Hardlink groups are the tree's own: how many names each inode has inside the tree, not its
 * st_nlink (overlay reports a lower inode's links from its own layer, a bind mount links from
 * outside). */
static void count_links(const char *dir)
{
	char path[8192];
	DIR *d = opendir(dir);
	struct dirent *de;

	if (!d)
		DIE("opendir %s", dir);
	while ((de = readdir(d))) {
		struct stat st;
		struct ino_seen *e;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (lstat(path, &st) < 0)
			DIE("lstat %s", path);
		if (S_ISDIR(st.st_mode)) {
			count_links(path);
			continue;
		}
		if (!S_ISREG(st.st_mode) || st.st_nlink < 2)
			continue;
		if (!(e = ino_find(&st))) {
			seen = realloc(seen, (nseen + 1) * sizeof(*seen));
			e = &seen[nseen++];
			*e = (struct ino_seen){ st.st_dev, st.st_ino, NULL, 0 };
		}
		e->count++;
	}
	closedir(d);
}

static int cmpstr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* static buffers here and in manifest(): manifest recurses once per directory level, and 100 KiB
 * frames overflow the stack of a deep tree under ASan */
static void xattrs(const char *path, char *out, size_t outlen)
{
	static char names[65536];
	ssize_t n = llistxattr(path, names, sizeof(names));
	char *v[256];
	size_t k = 0, len = 0;

	out[0] = '\0';
	for (ssize_t i = 0; i < n && k < 256; i += (ssize_t)strlen(names + i) + 1)
		v[k++] = names + i;
	if (k)
		qsort(v, k, sizeof(char *), cmpstr);
	for (size_t i = 0; i < k; i++) {
		static unsigned char val[4096];
		ssize_t vl = lgetxattr(path, v[i], val, sizeof(val));
		/* overlay's own bookkeeping is not layer content */
		if (!strncmp(v[i], "trusted.overlay.", 16) || !strncmp(v[i], "user.overlay.", 13) ||
		    !strcmp(v[i], "security.selinux"))
			continue;
		len += (size_t)snprintf(out + len, outlen - len, " x:%s=", v[i]);
		for (ssize_t j = 0; j < vl && len + 3 < outlen; j++)
			len += (size_t)snprintf(out + len, outlen - len, "%02x", val[j]);
	}
}

static void manifest(const char *dir, const char *rel)
{
	char path[8192], **names = NULL;
	size_t n = 0, cap = 0;
	DIR *d = opendir(dir);
	struct dirent *de;

	if (!d)
		DIE("opendir %s", dir);
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (n == cap)
			names = realloc(names, (cap = cap ? cap * 2 : 64) * sizeof(char *));
		names[n++] = strdup(de->d_name);
	}
	if (n)
		qsort(names, n, sizeof(char *), cmpstr);
	for (size_t i = 0; i < n; i++) {
		struct stat st;
		static char xa[16384], extra[8192]; /* done with before the recursion */
		char r[8192];

		extra[0] = '\0';

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		snprintf(r, sizeof(r), "%s/%s", rel, names[i]);
		if (lstat(path, &st) < 0)
			DIE("lstat %s", path);
		xattrs(path, xa, sizeof(xa));
		if (S_ISREG(st.st_mode)) {
			const char *grp = "";
			struct ino_seen *e = st.st_nlink > 1 ? ino_find(&st) : NULL;
			if (e && e->count > 1) {
				if (!e->first)
					e->first = strdup(r);
				grp = e->first;
			}
			int dfd = open(dir, O_RDONLY | O_DIRECTORY);
			snprintf(extra, sizeof(extra), "size=%lld fnv=%016" PRIx64 " links=%s mtime=%lld",
				 (long long)st.st_size, hash_file(dfd, names[i]), grp,
				 (long long)st.st_mtime);
			close(dfd);
		} else if (S_ISLNK(st.st_mode)) {
			static char t[4096];
			ssize_t tl = readlink(path, t, sizeof(t) - 1);
			t[tl < 0 ? 0 : tl] = '\0';
			snprintf(extra, sizeof(extra), "-> %s mtime=%lld", t, (long long)st.st_mtime);
		} else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
			snprintf(extra, sizeof(extra), "rdev=%u,%u mtime=%lld", major(st.st_rdev),
				 minor(st.st_rdev), (long long)st.st_mtime);
		}
		printf("%s %c %04o %u:%u %s%s\n", r,
		       S_ISDIR(st.st_mode)   ? 'd'
		       : S_ISREG(st.st_mode) ? 'f'
		       : S_ISLNK(st.st_mode) ? 'l'
		       : S_ISCHR(st.st_mode) ? 'c'
		       : S_ISBLK(st.st_mode) ? 'b'
		       : S_ISFIFO(st.st_mode) ? 'p'
					      : 's',
		       (unsigned)(st.st_mode & 07777), st.st_uid, st.st_gid, extra, xa);
		if (S_ISDIR(st.st_mode))
			manifest(path, r);
		free(names[i]);
	}
	free(names);
	closedir(d);
}

static int get(const char *key)
{
	json_error_t je;
	json_t *j = json_loadf(stdin, JSON_DISABLE_EOF_CHECK, &je), *v = j;
	char *k = strdup(key), *save = NULL;

	if (!j)
		return 1;
	for (char *t = strtok_r(k, ".", &save); t && v; t = strtok_r(NULL, ".", &save)) {
		char *end;
		long idx = strtol(t, &end, 10);
		if (json_is_array(v) && !*end)
			v = json_array_get(v, (size_t)idx);
		else
			v = json_object_get(v, t);
	}
	free(k);
	if (!v) {
		json_decref(j);
		return 1;
	}
	if (json_is_string(v)) {
		puts(json_string_value(v));
	} else {
		char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		puts(s);
		free(s);
	}
	json_decref(j);
	return 0;
}

static int request(const char *config, const char *args)
{
	json_error_t je;
	json_t *c = json_load_file(config, 0, &je), *a = json_loads(args, 0, &je);
	char *s;

	if (!c || !a) {
		fprintf(stderr, "stor-tree request: bad JSON: %s\n", je.text);
		return 2;
	}
	json_object_set_new(c, "args", a);
	if (!json_object_get(c, "protocolVersion"))
		json_object_set_new(c, "protocolVersion", json_string("1.0.0"));
	s = json_dumps(c, JSON_COMPACT);
	puts(s);
	free(s);
	json_decref(c);
	return 0;
}

/* A ustar entry "../escaped" with content, then the end blocks. */
static void evil_tar(const char *path, const char *name)
{
	unsigned char h[512] = { 0 };
	char body[512] = "owned\n";
	unsigned sum = 0;
	FILE *f = fopen(path, "w");

	if (!f)
		DIE("open %s", path);
	snprintf((char *)h, 100, "%s", name);
	snprintf((char *)h + 100, 8, "%07o", 0644);
	snprintf((char *)h + 108, 8, "%07o", 0);
	snprintf((char *)h + 116, 8, "%07o", 0);
	snprintf((char *)h + 124, 12, "%011o", 6);
	snprintf((char *)h + 136, 12, "%011o", 0);
	memset(h + 148, ' ', 8);
	h[156] = '0';
	memcpy(h + 257, "ustar\0" "00", 8);
	for (int i = 0; i < 512; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum);
	h[155] = ' ';
	fwrite(h, 1, 512, f);
	fwrite(body, 1, 512, f);
	memset(h, 0, 512);
	fwrite(h, 1, 512, f);
	fwrite(h, 1, 512, f);
	fclose(f);
}

/* containerd's compactLowerdirOption: chdir to the common directory of the lowerdirs (the
 * dirname of their longest common prefix) and make them relative.  *ret_cwd gets the old cwd. */
static int compact_lowerdir(char *data, char *ret_cwd)
{
	char *lo = strstr(data, "lowerdir="), *end, *dirs[1024], common[4096], out[8192];
	size_t n = 0, cl, o = 0;

	if (!lo || (lo != data && lo[-1] != ','))
		return 0;
	lo += 9;
	end = strchr(lo, ',');
	{
		char list[8192];
		snprintf(list, sizeof(list), "%.*s", end ? (int)(end - lo) : (int)strlen(lo), lo);
		for (char *save = NULL, *t = strtok_r(list, ":", &save); t && n < 1024;
		     t = strtok_r(NULL, ":", &save))
			dirs[n++] = strdup(t);
	}
	if (n < 2)
		goto keep;
	snprintf(common, sizeof(common), "%s", dirs[0]);
	for (size_t i = 1; i < n; i++) {
		size_t k = 0;
		while (common[k] && common[k] == dirs[i][k])
			k++;
		common[k] = '\0';
	}
	if (!strrchr(common, '/'))
		goto keep;
	*strrchr(common, '/') = '\0'; /* path.Dir */
	if (!common[0])
		goto keep;
	cl = strlen(common) + 1;
	if (!getcwd(ret_cwd, 4096) || chdir(common) < 0)
		goto keep;
	o = (size_t)snprintf(out, sizeof(out), "%.*slowerdir=", (int)(lo - 9 - data), data);
	for (size_t i = 0; i < n; i++)
		o += (size_t)snprintf(out + o, sizeof(out) - o, "%s%s", i ? ":" : "", dirs[i] + cl);
	if (end)
		o += (size_t)snprintf(out + o, sizeof(out) - o, "%s", end);
	snprintf(data, 8192, "%s", out);
keep:
	for (size_t i = 0; i < n; i++)
		free(dirs[i]);
	return 0;
}

static int mount_specs(const char *target)
{
	json_error_t je;
	json_t *res = json_loadf(stdin, 0, &je), *mounts, *m;
	size_t i;

	mounts = json_object_get(res, "mounts");
	if (!json_is_array(mounts) || json_array_size(mounts) == 0) {
		fprintf(stderr, "stor-tree: no \"mounts\" array on stdin\n");
		return 2;
	}
	json_array_foreach(mounts, i, m) {
		const char *type = json_string_value(json_object_get(m, "type"));
		const char *src = json_string_value(json_object_get(m, "source"));
		json_t *opts = json_object_get(m, "options"), *o;
		char data[8192] = "";
		unsigned long flags = 0;
		size_t k, dl = 0;

		if (!type || !src || !json_is_array(opts)) {
			fprintf(stderr, "stor-tree: mount %zu lacks type, source or options\n", i);
			return 2;
		}
		json_array_foreach(opts, k, o) {
			const char *v = json_string_value(o);
			if (!v)
				return 2;
			if (!strcmp(v, "ro"))
				flags |= MS_RDONLY;
			else if (!strcmp(v, "rw"))
				flags &= ~(unsigned long)MS_RDONLY;
			else if (!strcmp(v, "bind"))
				flags |= MS_BIND;
			else if (!strcmp(v, "rbind"))
				flags |= MS_BIND | MS_REC;
			else
				dl += (size_t)snprintf(data + dl, sizeof(data) - dl, "%s%s", dl ? "," : "", v);
		}
		if (dl >= sizeof(data))
			return 2;
		/* containerd (mount/mount_linux.go): overlay options near a page long are mounted
		 * from the lowerdirs' common directory with relative names */
		char cwd[4096] = "";
		if (!strcmp(type, "overlay") && dl >= 4096 - 512 && compact_lowerdir(data, cwd) < 0)
			return 2;
		int mr = mount(src, target, !strcmp(type, "bind") ? NULL : type, flags,
			       dl ? data : NULL);
		if (cwd[0] && chdir(cwd) < 0)
			DIE("chdir back");
		if (mr < 0)
			DIE("mount %s (%s) on %s", src, type, target);
		if ((flags & (MS_BIND | MS_RDONLY)) == (MS_BIND | MS_RDONLY) &&
		    mount("", target, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) < 0)
			DIE("remount %s read-only", target);
	}
	json_decref(res);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		goto usage;
	if (!strcmp(argv[1], "fill") && argc == 3) {
		snprintf(base, sizeof(base), "%s", argv[2]);
		fill();
		return 0;
	}
	if (!strcmp(argv[1], "change") && argc == 3) {
		snprintf(base, sizeof(base), "%s", argv[2]);
		change();
		return 0;
	}
	if (!strcmp(argv[1], "manifest") && argc == 3) {
		count_links(argv[2]);
		manifest(argv[2], "");
		return 0;
	}
	if (!strcmp(argv[1], "with-option") && argc == 5) {
		json_error_t je;
		json_t *c = json_load_file(argv[2], 0, &je), *v = json_loads(argv[4], JSON_DECODE_ANY, &je);
		json_t *o;
		if (!c || !v)
			return 2;
		o = json_object_get(c, "options");
		if (!o)
			json_object_set_new(c, "options", o = json_object());
		json_object_set_new(o, argv[3], v);
		json_dumpf(c, stdout, JSON_COMPACT);
		return 0;
	}
	if (!strcmp(argv[1], "with") && argc == 5) { /* top-level key */
		json_error_t je;
		json_t *c = json_load_file(argv[2], 0, &je), *v = json_loads(argv[4], JSON_DECODE_ANY, &je);
		if (!c || !v)
			return 2;
		json_object_set_new(c, argv[3], v);
		json_dumpf(c, stdout, JSON_COMPACT);
		return 0;
	}
	if (!strcmp(argv[1], "get") && argc == 3)
		return get(argv[2]);
	if (!strcmp(argv[1], "request") && argc == 4)
		return request(argv[2], argv[3]);
	if (!strcmp(argv[1], "evil-tar") && argc >= 3) {
		evil_tar(argv[2], argc > 3 ? argv[3] : "../escaped");
		return 0;
	}
	if (!strcmp(argv[1], "big") && argc == 4) {
		big(argv[2], atoi(argv[3]));
		return 0;
	}
	if (!strcmp(argv[1], "mount-specs") && argc == 3)
		return mount_specs(argv[2]);
	if (!strcmp(argv[1], "getxattr") && argc == 4) {
		char v[4096];
		ssize_t n = lgetxattr(argv[2], argv[3], v, sizeof(v) - 1);
		if (n < 0)
			return 1;
		v[n] = '\0';
		puts(v);
		return 0;
	}
usage:
	fprintf(stderr, "usage: stor-tree fill|change|manifest DIR | request CONFIG ARGS | get KEY |"
			" evil-tar FILE [NAME] | big FILE MIB | getxattr PATH NAME | mount-specs DIR\n");
	return 2;
}
