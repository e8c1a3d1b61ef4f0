// SPDX-License-Identifier: Apache-2.0
/*
 * host-local's on-disk store, file-compatible with the reference plugin
 * (plugins/ipam/host-local/backend/disk/backend.go): one file per address named by the address
 * and holding "containerID\r\nifname", last_reserved_ip.<set>, and "lock" (flock, exclusive).
 *
 * The reference finds an owner's addresses by reading every file in the directory on each ADD,
 * DEL and CHECK.  We keep .berth/index instead: one line per address file
 * ("<ip> <containerID> <ifname>"), headed by the directory's device, inode, mtime and ctime as
 * they were after our last change.  Creating or removing a file in the directory changes its
 * mtime and ctime, so a mismatch means another tool (the reference, an admin) touched it and
 * the index is rebuilt from the files.  Since Linux 6.13 ext4/xfs/btrfs/tmpfs use fine-grained
 * timestamps once a timestamp has been read, so a change right after ours is never missed;
 * on older kernels a change within the same clock tick could be (docs/host-local.md).
 * The index lives in a subdirectory so that writing it does not touch the data directory's
 * own timestamps.  Everything happens under the lock.  An address file appears with its
 * content (O_TMPFILE + linkat); the index (checksummed) and last_reserved_ip are rewritten in
 * place, because a new inode per write costs more than the rest of the call on some disks, and
 * truncated to what they now hold.  Nothing in the data directory names a container that holds
 * no address: administrators look for leaked addresses with `grep -r ID <dataDir>`.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <netinet/in.h>

#include "berth/fault.h"
#include "berth/cleanup.h"
#include "berth/file.h"
#include "berth/ipam.h"

#define INDEX_DIR ".berth"
#define INDEX_FILE "index"
#define INDEX_MAGIC "berth-ipam-index 2"
#define SPARE_DIR INDEX_DIR "/spare"
#define SPARE_MAX 4096 /* recycled address files kept for reuse */
#define SPARE_KEEP 64  /* what GC trims the pool to */
#define LAST_PREFIX "last_reserved_ip."
#define IP_FILE_MAX 4096
#define INDEX_MAX (256u << 20)

struct entry {
	struct berth_ipam_entry pub;
	char *owned; /* allocation backing pub's strings when not in the index buffer */
};

struct berth_ipam_store {
	int dirfd, lockfd;
	char *dir;
	char *buf; /* the index file as read; entries point into it */
	struct entry *e;
	size_t n, cap;
	bool dirty;   /* directory or index changed: rewrite the index on close */
	bool rebuilt;
	struct berth_ip *taken; /* sorted addresses of all entries, built on demand */
	size_t n_taken;
	bool taken_valid;
	int sparefd;        /* .berth/spare, opened on demand */
	unsigned spares;    /* spare files s0 .. s<spares-1> */
};

char *berth_ipam_ip_name(const struct berth_ip *ip, char *buf)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	const uint8_t *a = ip->addr;
	int e0 = -1, e1 = -1;
	char *p = buf;

	if (ip->family == AF_INET6 && memcmp(a, mapped, 12) == 0)
		a += 12;
	else if (ip->family == AF_INET6)
		goto v6;
	sprintf(buf, "%u.%u.%u.%u", a[0], a[1], a[2], a[3]);
	return buf;
v6:
	/* Go's net.IP.String(): the longest run (first on a tie) of two or more zero words
	 * becomes "::"; unlike inet_ntop, never an embedded dotted quad. */
	for (int i = 0; i < 16; i += 2) {
		int j = i;

		while (j < 16 && a[j] == 0 && a[j + 1] == 0)
			j += 2;
		if (j > i && j - i > e1 - e0) {
			e0 = i;
			e1 = j;
			i = j;
		}
	}
	if (e1 - e0 <= 2)
		e0 = e1 = -1;
	for (int i = 0; i < 16; i += 2) {
		if (i == e0) {
			*p++ = ':';
			*p++ = ':';
			i = e1;
			if (i >= 16)
				break;
		} else if (i > 0) {
			*p++ = ':';
		}
		p += sprintf(p, "%x", (a[i] << 8) | a[i + 1]);
	}
	*p = '\0';
	return buf;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static bool has_space(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (is_space(s[i]) || s[i] == '\0')
			return true;
	return false;
}

static int grow(struct berth_ipam_store *s)
{
	if (s->n == s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 64;
		struct entry *ne = realloc(s->e, ncap * sizeof(*ne));

		if (!ne)
			return -ENOMEM;
		s->e = ne;
		s->cap = ncap;
	}
	return 0;
}

/* Append an entry with copied strings (id NULL = content not understood). */
static int add_entry(struct berth_ipam_store *s, const char *name, const char *id, size_t id_len,
		     const char *ifname, size_t if_len)
{
	size_t nl = strlen(name);
	struct entry *e;
	char *m;

	if (grow(s) < 0)
		return -ENOMEM;
	m = malloc(nl + id_len + if_len + 3);
	if (!m)
		return -ENOMEM;
	e = &s->e[s->n++];
	memset(e, 0, sizeof(*e));
	e->owned = m;
	e->pub.name = memcpy(m, name, nl + 1);
	if (id) {
		e->pub.id = m + nl + 1;
		memcpy(e->pub.id, id, id_len);
		e->pub.id[id_len] = '\0';
		if (ifname) {
			e->pub.ifname = e->pub.id + id_len + 1;
			memcpy(e->pub.ifname, ifname, if_len);
			e->pub.ifname[if_len] = '\0';
		}
	}
	s->taken_valid = false;
	return 0;
}

static void remove_entry(struct berth_ipam_store *s, size_t i)
{
	free(s->e[i].owned);
	s->e[i] = s->e[--s->n];
	s->taken_valid = false;
}

/* The owner recorded in an address file, as the reference compares it: whitespace-trimmed
 * "id\r\nifname", or "id" alone from plugins before 0.7. */
static int add_from_content(struct berth_ipam_store *s, const char *name, const char *buf,
			    size_t len)
{
	const char *crlf;

	while (len && is_space(*buf))
		buf++, len--;
	while (len && is_space(buf[len - 1]))
		len--;
	crlf = len ? memmem(buf, len, "\r\n", 2) : NULL;
	if (crlf) {
		size_t il = (size_t)(crlf - buf), fl = len - il - 2;

		if (il && fl && !has_space(buf, il) && !has_space(crlf + 2, fl))
			return add_entry(s, name, buf, il, crlf + 2, fl);
	} else if (len && !has_space(buf, len)) {
		return add_entry(s, name, buf, len, NULL, 0);
	}
	return add_entry(s, name, NULL, 0, NULL, 0);
}

static bool name_is_ip(const char *name)
{
	struct berth_ip ip;

	return name[0] != '.' && berth_ip_parse(name, &ip) == 0;
}

static void clear_entries(struct berth_ipam_store *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->e[i].owned);
	s->n = 0;
	s->taken_valid = false;
}

/* Read every address file: the only full scan, done when the index is missing or stale. */
static int rebuild(struct berth_ipam_store *s, berth_error *err)
{
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;
	int fd;

	clear_entries(s);
	fd = openat(s->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return berth_error_errno(err, BERTH_CNI_ERR_IO, "read directory %s", s->dir);
	}
	while ((errno = 0, de = readdir(d))) {
		char buf[IP_FILE_MAX];
		_cleanup_close_ int f = -1;
		ssize_t n;

		if (de->d_type != DT_REG && de->d_type != DT_UNKNOWN)
			continue;
		if (!name_is_ip(de->d_name))
			continue;
		f = openat(s->dirfd, de->d_name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
		if (f < 0) {
			if (errno == ENOENT || errno == ELOOP)
				continue;
			return berth_error_errno(err, BERTH_CNI_ERR_IO, "open %s/%s", s->dir,
						 de->d_name);
		}
		n = read(f, buf, sizeof(buf));
		if (n < 0) {
			if (errno == EISDIR)
				continue;
			return berth_error_errno(err, BERTH_CNI_ERR_IO, "read %s/%s", s->dir,
						 de->d_name);
		}
		if (add_from_content(s, de->d_name, buf, (size_t)n) < 0)
			return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	}
	if (errno)
		return berth_error_errno(err, BERTH_CNI_ERR_IO, "read directory %s", s->dir);
	s->rebuilt = true;
	s->dirty = true;
	/* Spares are s0, s1, ... ; anything past the first gap is ignored. */
	s->spares = 0;
	while (s->spares < SPARE_MAX) {
		char nm[32];

		snprintf(nm, sizeof(nm), SPARE_DIR "/s%u", s->spares);
		if (faccessat(s->dirfd, nm, F_OK, AT_SYMLINK_NOFOLLOW) < 0)
			break;
		s->spares++;
	}
	return 0;
}

static void stamp(const struct stat *st, char *buf, size_t len)
{
	snprintf(buf, len, "%s %ju %ju %jd.%09ld %jd.%09ld", INDEX_MAGIC, (uintmax_t)st->st_dev,
		 (uintmax_t)st->st_ino, (intmax_t)st->st_mtim.tv_sec, st->st_mtim.tv_nsec,
		 (intmax_t)st->st_ctim.tv_sec, st->st_ctim.tv_nsec);
}

static uint64_t fnv1a(const char *p, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* Load the index when it describes the directory as it is now; 1 loaded, 0 missing/stale.
 * Header: "<stamp> <count> <spares> <body length> <fnv1a-64 of the body>\n". */
static int load_index(struct berth_ipam_store *s, const struct stat *st)
{
	_cleanup_close_ int fd = -1;
	char want[160];
	size_t len = 0, wl, count, blen;
	unsigned long long c, bl, sum, nsp;
	char *p, *end, *nl;
	int used = 0;

	fd = openat(s->dirfd, INDEX_DIR "/" INDEX_FILE, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return 0;
	if (berth_read_fd(fd, INDEX_MAX, &s->buf, &len, NULL) < 0)
		return 0;
	stamp(st, want, sizeof(want));
	wl = strlen(want);
	if (len < wl + 2 || memcmp(s->buf, want, wl) != 0 || s->buf[wl] != ' ')
		return 0;
	p = s->buf + wl + 1;
	nl = memchr(p, '\n', len - wl - 1);
	if (!nl)
		return 0;
	*nl = '\0';
	if (sscanf(p, "%llu %llu %llu %llx%n", &c, &nsp, &bl, &sum, &used) != 4 || p[used] != '\0' ||
	    nsp > SPARE_MAX)
		return 0;
	s->spares = (unsigned)nsp;
	count = (size_t)c;
	blen = (size_t)bl;
	p = nl + 1;
	if (blen > (size_t)(s->buf + len - p) || fnv1a(p, blen) != sum)
		return 0; /* torn by a crash mid-write */
	end = p + blen;
	for (; p < end; p = nl + 1) {
		struct entry *e;
		char *sp;

		nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			goto bad;
		*nl = '\0';
		if (grow(s) < 0)
			goto bad;
		/* Names are unlinked relative to the data directory: never a path. */
		if (*p == '.' || *p == ' ' || memchr(p, '/', (size_t)(nl - p)))
			goto bad;
		e = &s->e[s->n];
		memset(e, 0, sizeof(*e));
		e->pub.name = p;
		if ((sp = strchr(p, ' '))) {
			*sp = '\0';
			e->pub.id = sp + 1;
			if ((sp = strchr(sp + 1, ' '))) {
				*sp = '\0';
				e->pub.ifname = sp + 1;
			}
		}
		s->n++;
	}
	if (s->n != count)
		goto bad;
	return 1;
bad:
	s->n = 0;
	return 0;
}

/* Overwrite fd's content with buf; shrink the file to it when asked (the index and
 * last_reserved_ip: old lines past the end would still name containers that are gone). */
static int overwrite(int fd, const char *buf, size_t len, bool shrink)
{
	size_t off = 0;
	struct stat st;

	while (off < len) {
		ssize_t n = pwrite(fd, buf + off, len - off, (off_t)off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		off += (size_t)n;
	}
	if (shrink && fstat(fd, &st) == 0 && (size_t)st.st_size > len && ftruncate(fd, (off_t)len) < 0)
		return -errno;
	return 0;
}

static struct berth_ipam_store *store_new(void)
{
	struct berth_ipam_store *s = calloc(1, sizeof(*s));

	if (s)
		s->dirfd = s->lockfd = s->sparefd = -1;
	return s;
}

static void clear_top_spare(struct berth_ipam_store *s);

int berth_ipam_store_open(const char *dir, bool create, struct berth_ipam_store **ret,
			  berth_error *err)
{
	_cleanup_(berth_ipam_store_closep) struct berth_ipam_store *s = NULL;
	struct stat st;
	int r;

	s = store_new();
	if (!s)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	s->dir = strdup(dir);
	if (!s->dir)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	s->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dirfd < 0 && errno == ENOENT && create) {
		r = berth_mkdir_p(dir, 0755, err);
		if (r < 0)
			return r;
		s->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (s->dirfd < 0) {
		if (errno == ENOENT && !create)
			return -ENOENT;
		return berth_error_errno(err, BERTH_CNI_ERR_IO, "open data directory %s", dir);
	}
	/* The reference opens it O_RDONLY|O_CREAT too; an existing one keeps its mode. */
	s->lockfd = openat(s->dirfd, "lock", O_RDONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (s->lockfd < 0)
		return berth_error_errno(err, BERTH_CNI_ERR_IO, "open %s/lock", dir);
	while (flock(s->lockfd, LOCK_EX) < 0)
		if (errno != EINTR)
			return berth_error_errno(err, BERTH_CNI_ERR_IO, "lock %s/lock", dir);
	if (fstat(s->dirfd, &st) < 0)
		return berth_error_errno(err, BERTH_CNI_ERR_IO, "stat %s", dir);
	if (!load_index(s, &st)) {
		free(s->buf);
		s->buf = NULL;
		r = rebuild(s, err);
		if (r < 0)
			return r;
		clear_top_spare(s);
	}
	*ret = TAKE_PTR(s);
	return 0;
}

bool berth_ipam_store_rebuilt(const struct berth_ipam_store *s)
{
	return s->rebuilt;
}

/* The index is rewritten in place rather than renamed: creating a file costs an inode
 * allocation per call, milliseconds on some filesystems, and nothing reads it unlocked.  It is
 * truncated to the new content, so no line of a released address stays past its end.  A crash
 * mid-write leaves a body whose checksum does not match, which is rebuilt like a stale one (and
 * the rebuild rewrites the file whole). */
static int write_index(struct berth_ipam_store *s)
{
	_cleanup_free_ char *out = NULL;
	_cleanup_close_ int bfd = -1, fd = -1;
	size_t len = 0, cap, hl;
	struct stat st;
	char hdr[200];
	int n;

	bfd = openat(s->dirfd, INDEX_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (bfd < 0 && errno == ENOENT) {
		if (mkdirat(s->dirfd, INDEX_DIR, 0700) < 0 && errno != EEXIST)
			return -errno;
		bfd = openat(s->dirfd, INDEX_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	}
	if (bfd < 0)
		return -errno;
	fd = openat(bfd, INDEX_FILE, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	/* After every change to the data directory (including the mkdir above). */
	if (fstat(s->dirfd, &st) < 0)
		return -errno;
	stamp(&st, hdr, sizeof(hdr));
	hl = strlen(hdr) + 64;
	cap = hl;
	for (size_t i = 0; i < s->n; i++)
		cap += strlen(s->e[i].pub.name) + 4 + (s->e[i].pub.id ? strlen(s->e[i].pub.id) : 0) +
		       (s->e[i].pub.ifname ? strlen(s->e[i].pub.ifname) : 0);
	out = malloc(cap);
	if (!out)
		return -ENOMEM;
	/* body first, after room for the header */
	len = hl;
	for (size_t i = 0; i < s->n; i++) {
		const struct berth_ipam_entry *e = &s->e[i].pub;

		n = snprintf(out + len, cap - len, "%s%s%s%s%s\n", e->name, e->id ? " " : "",
			     e->id ? e->id : "", e->ifname ? " " : "", e->ifname ? e->ifname : "");
		len += (size_t)n;
	}
	{
		char h[256];
		size_t blen = len - hl;
		int k = snprintf(h, sizeof(h), "%s %zu %u %zu %016llx\n", hdr, s->n, s->spares,
				 blen, (unsigned long long)fnv1a(out + hl, blen));

		if (k < 0 || (size_t)k > hl)
			return -EOVERFLOW;
		memcpy(out + hl - (size_t)k, h, (size_t)k);
		return overwrite(fd, out + hl - (size_t)k, (size_t)k + blen, true);
	}
}

void berth_ipam_store_close(struct berth_ipam_store *s)
{
	if (!s)
		return;
	if (s->dirty && s->dirfd >= 0 && s->lockfd >= 0 && write_index(s) < 0) {
		/* Harmless: the stale stamp makes the next caller rebuild.  Make sure of it. */
		unlinkat(s->dirfd, INDEX_DIR "/" INDEX_FILE, 0);
	}
	clear_entries(s);
	free(s->e);
	free(s->buf);
	free(s->taken);
	if (s->lockfd >= 0)
		close(s->lockfd); /* releases the flock */
	if (s->sparefd >= 0)
		close(s->sparefd);
	if (s->dirfd >= 0)
		close(s->dirfd);
	free(s->dir);
	free(s);
}

/*
 * Recycled address files.  Freeing a file's data block costs milliseconds on some disks
 * (ext4 with discard: 2.4 ms per unlink against 14 us for an empty file), allocating an inode
 * and a block about as much.  So DEL blanks a released file and renames it into .berth/spare;
 * ADD fills a spare with the new owner and renames it into place with RENAME_NOREPLACE, which
 * fails like the reference's O_EXCL create when the address is taken.  Spares are blank (the
 * reference trims contents, so they never match an owner) and their names are not addresses.
 * GC trims the pool; a rebuild recounts it.  Only the top spare can hold a container ID: the
 * one ADD filled when its rename then failed (blanked at once) or when it was killed between
 * the two; DEL, GC and a rebuild blank it (clear_top_spare).
 */
static int spare_dir(struct berth_ipam_store *s)
{
	if (s->sparefd >= 0)
		return s->sparefd;
	s->sparefd = openat(s->dirfd, SPARE_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (s->sparefd < 0 && errno == ENOENT) {
		if (mkdirat(s->dirfd, INDEX_DIR, 0700) < 0 && errno != EEXIST)
			return -1;
		if (mkdirat(s->dirfd, SPARE_DIR, 0700) < 0 && errno != EEXIST)
			return -1;
		s->sparefd = openat(s->dirfd, SPARE_DIR,
				    O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	}
	return s->sparefd;
}

static const char blanks[512] = { [0 ... 511] = ' ' };

/* Blank a spare's content (same length: no block is freed).  0 or -errno. */
static int blank_fd(int fd)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || (size_t)st.st_size > sizeof(blanks))
		return ftruncate(fd, 0) < 0 ? -errno : 0;
	return st.st_size ? overwrite(fd, blanks, (size_t)st.st_size, false) : 0;
}

/* The top spare, if ADD left content in it (see above): blank it. */
static void clear_top_spare(struct berth_ipam_store *s)
{
	char sp[32], buf[sizeof(blanks)];
	_cleanup_close_ int fd = -1;
	ssize_t n;

	if (s->spares == 0 || spare_dir(s) < 0)
		return;
	snprintf(sp, sizeof(sp), "s%u", s->spares - 1);
	fd = openat(s->sparefd, sp, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return;
	n = read(fd, buf, sizeof(buf));
	for (ssize_t i = 0; i < n; i++)
		if (buf[i] != ' ') {
			blank_fd(fd);
			return;
		}
	if (n == (ssize_t)sizeof(buf)) /* longer than any content we write: not ours to keep */
		blank_fd(fd);
}

/* Remove an address file: into the pool when there is room, else unlink.  0 or -errno. */
static int discard_file(struct berth_ipam_store *s, const char *name)
{
	struct stat st;
	char sp[32];
	int fd;

	if (s->spares >= SPARE_MAX || spare_dir(s) < 0)
		goto unlink;
	fd = openat(s->dirfd, name, O_WRONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		goto unlink;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1 ||
	    (size_t)st.st_size > sizeof(blanks) ||
	    (st.st_size && overwrite(fd, blanks, (size_t)st.st_size, false) < 0)) {
		close(fd);
		goto unlink;
	}
	close(fd);
	while (s->spares < SPARE_MAX) {
		snprintf(sp, sizeof(sp), "s%u", s->spares);
		if (renameat2(s->dirfd, name, s->sparefd, sp, RENAME_NOREPLACE) == 0) {
			s->spares++;
			return 0;
		}
		if (errno == ENOENT)
			return 0;
		if (errno != EEXIST)
			break;
		s->spares++; /* a spare the count missed (crash during GC): keep it */
	}
unlink:
	if (unlinkat(s->dirfd, name, 0) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

/* Put data under name from a spare: 0, -EEXIST when name exists, -EAGAIN when no spare could
 * be used (create a new file instead). */
static int take_spare(struct berth_ipam_store *s, const char *name, const char *data, size_t len)
{
	char sp[32];
	int fd, r;

	while (s->spares > 0 && spare_dir(s) >= 0) {
		snprintf(sp, sizeof(sp), "s%u", s->spares - 1);
		fd = openat(s->sparefd, sp, O_WRONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
		if (fd < 0) {
			s->spares--; /* gone (someone cleaned up): try the next */
			continue;
		}
		r = overwrite(fd, data, len, true);
		if (r < 0) {
			blank_fd(fd);
			close(fd);
			return -EAGAIN;
		}
		BERTH_FAULT_POINT("host-local-spare-filled");
		if (renameat2(s->sparefd, sp, s->dirfd, name, RENAME_NOREPLACE) == 0) {
			close(fd);
			s->spares--;
			return 0;
		}
		/* Taken: the spare goes back to the pool blank, naming no one. */
		r = errno == EEXIST ? -EEXIST : -EAGAIN;
		blank_fd(fd);
		close(fd);
		return r;
	}
	return -EAGAIN;
}

/* GC: shrink the pool to SPARE_KEEP, and blank the top spare. */
static void trim_spares(struct berth_ipam_store *s)
{
	char sp[32];

	clear_top_spare(s);
	if (s->spares <= SPARE_KEEP || spare_dir(s) < 0)
		return;
	while (s->spares > SPARE_KEEP) {
		snprintf(sp, sizeof(sp), "s%u", s->spares - 1);
		unlinkat(s->sparefd, sp, 0);
		s->spares--;
		s->dirty = true;
	}
}

/* Create name holding data, failing with -EEXIST when it exists; the file never exists
 * without its content. */
static int create_file_excl(int dirfd, const char *name, const char *data, size_t len)
{
	_cleanup_close_ int fd = -1;
	char path[64], tmp[96];
	int r;

	fd = openat(dirfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
	if (fd >= 0) {
		r = berth_write_all(fd, data, len);
		if (r < 0)
			return r;
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		if (linkat(AT_FDCWD, path, dirfd, name, AT_SYMLINK_FOLLOW) == 0)
			return 0;
		if (errno != ENOENT) /* ENOENT: no /proc, take the portable way */
			return -errno;
		close(TAKE_FD(fd));
	} else if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) {
		return -errno;
	}
	snprintf(tmp, sizeof(tmp), ".%s.tmp.%d", name, (int)getpid());
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	r = berth_write_all(fd, data, len);
	if (r == 0 && linkat(dirfd, tmp, dirfd, name, 0) < 0)
		r = -errno;
	unlinkat(dirfd, tmp, 0);
	return r;
}

int berth_ipam_store_reserve(struct berth_ipam_store *s, const char *id, const char *ifname,
			     const struct berth_ip *ip, berth_error *err)
{
	char name[BERTH_IP_STRLEN], content[512];
	int n, r;

	/* The index separates fields by spaces; the skeleton's checks already exclude them. */
	if (!*id || !*ifname || has_space(id, strlen(id)) || has_space(ifname, strlen(ifname)))
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_ENV, EINVAL,
				       "container ID and ifname must not be empty or contain "
				       "whitespace");
	berth_ipam_ip_name(ip, name);
	n = snprintf(content, sizeof(content), "%s\r\n%s", id, ifname);
	if (n < 0 || (size_t)n >= sizeof(content))
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_ENV, ENAMETOOLONG,
				       "container ID too long");
	r = take_spare(s, name, content, (size_t)n);
	if (r == -EAGAIN)
		r = create_file_excl(s->dirfd, name, content, (size_t)n);
	if (r == -EEXIST) {
		/* A file the index did not know (an outside change within one timestamp tick on
		 * an old kernel): record its real owner so DEL and GC find it. */
		if (!berth_ipam_store_taken(s, ip)) {
			char buf[IP_FILE_MAX];
			_cleanup_close_ int fd = openat(s->dirfd, name,
							O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
			ssize_t len = fd >= 0 ? read(fd, buf, sizeof(buf)) : -1;

			if (add_from_content(s, name, buf, len > 0 ? (size_t)len : 0) == 0)
				s->dirty = true;
		}
		return 0;
	}
	if (r < 0) {
		errno = -r;
		return berth_error_errno(err, BERTH_CNI_ERR_IO, "reserve %s in %s", name, s->dir);
	}
	BERTH_FAULT_POINT("host-local-after-reserve");
	s->dirty = true;
	if (add_entry(s, name, id, strlen(id), ifname, strlen(ifname)) < 0) {
		unlinkat(s->dirfd, name, 0);
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	}
	return 1;
}

int berth_ipam_store_release_ip(struct berth_ipam_store *s, const char *name, berth_error *err)
{
	int r = discard_file(s, name);

	s->dirty = true;
	if (r < 0) {
		errno = -r;
		return berth_error_errno(err, BERTH_CNI_ERR_IO, "release %s/%s", s->dir, name);
	}
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->e[i].pub.name, name) == 0) {
			remove_entry(s, i);
			break;
		}
	return 0;
}

static bool owner_is(const struct berth_ipam_entry *e, const char *id, const char *ifname,
		     bool legacy)
{
	if (!e->id || strcmp(e->id, id) != 0)
		return false;
	return legacy ? !e->ifname : e->ifname && strcmp(e->ifname, ifname) == 0;
}

int berth_ipam_store_release_owner(struct berth_ipam_store *s, const char *id, const char *ifname,
				   berth_error *err)
{
	int released = 0;

	/* a DEL after an ADD that was killed with the spare filled: the spare names this owner */
	clear_top_spare(s);

	/* Exact owner first; only when there is none, files of plugins that wrote the ID alone. */
	for (int legacy = 0; legacy < 2 && released == 0; legacy++)
		for (size_t i = 0; i < s->n;) {
			if (!owner_is(&s->e[i].pub, id, ifname, legacy)) {
				i++;
				continue;
			}
			int r = discard_file(s, s->e[i].pub.name);

			s->dirty = true;
			if (r < 0) {
				errno = -r;
				return berth_error_errno(err, BERTH_CNI_ERR_IO, "release %s/%s",
							 s->dir, s->e[i].pub.name);
			}
			remove_entry(s, i);
			released++;
		}
	return released;
}

int berth_ipam_store_find_owner(struct berth_ipam_store *s, const char *id, const char *ifname,
				struct berth_ip **ret)
{
	struct berth_ip *v = NULL;
	int n = 0;

	for (size_t i = 0; i < s->n; i++) {
		const struct berth_ipam_entry *e = &s->e[i].pub;
		struct berth_ip ip;

		if (!owner_is(e, id, ifname, false) && !owner_is(e, id, ifname, true))
			continue;
		if (berth_ip_parse(e->name, &ip) < 0)
			continue;
		if (ret) {
			struct berth_ip *nv = realloc(v, (size_t)(n + 1) * sizeof(*v));

			if (!nv) {
				free(v);
				return -ENOMEM;
			}
			v = nv;
			v[n] = ip;
		}
		n++;
	}
	if (ret)
		*ret = v;
	return n;
}

static int ip_cmpv(const void *a, const void *b)
{
	return berth_ip_cmp(a, b);
}

bool berth_ipam_store_taken(struct berth_ipam_store *s, const struct berth_ip *ip)
{
	if (!s->taken_valid) {
		struct berth_ip *v = realloc(s->taken, (s->n + 1) * sizeof(*v));

		if (!v)
			return true; /* fall back to trying the file */
		s->taken = v;
		s->n_taken = 0;
		for (size_t i = 0; i < s->n; i++)
			if (berth_ip_parse(s->e[i].pub.name, &v[s->n_taken]) == 0)
				s->n_taken++;
		qsort(v, s->n_taken, sizeof(*v), ip_cmpv);
		s->taken_valid = true;
	}
	return bsearch(ip, s->taken, s->n_taken, sizeof(*ip), ip_cmpv) != NULL;
}

size_t berth_ipam_store_count(const struct berth_ipam_store *s)
{
	return s->n;
}

const struct berth_ipam_entry *berth_ipam_store_entry(const struct berth_ipam_store *s, size_t i)
{
	return i < s->n ? &s->e[i].pub : NULL;
}

int berth_ipam_store_last_reserved(struct berth_ipam_store *s, size_t set, struct berth_ip *ret)
{
	char name[64], buf[128];
	_cleanup_close_ int fd = -1;
	ssize_t n;
	char *p, *e;

	snprintf(name, sizeof(name), LAST_PREFIX "%zu", set);
	fd = openat(s->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return -ENOENT;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return -ENOENT;
	buf[n] = '\0';
	for (p = buf; is_space(*p); p++)
		;
	for (e = p + strlen(p); e > p && is_space(e[-1]); e--)
		;
	*e = '\0';
	if (berth_ip_parse(p, ret) < 0)
		return -ENOENT;
	return 0;
}

/* Written in place as the reference does (it is a round-robin hint, read under the lock):
 * no inode allocation per call. */
int berth_ipam_store_set_last_reserved(struct berth_ipam_store *s, size_t set,
				       const struct berth_ip *ip, berth_error *err)
{
	char name[64], val[BERTH_IP_STRLEN];
	_cleanup_close_ int fd = -1;
	int r;

	snprintf(name, sizeof(name), LAST_PREFIX "%zu", set);
	berth_ipam_ip_name(ip, val);
	s->dirty = true;
	fd = openat(s->dirfd, name, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return berth_error_errno(err, BERTH_CNI_ERR_IO, "open %s/%s", s->dir, name);
	r = overwrite(fd, val, strlen(val), true);
	if (r < 0) {
		errno = -r;
		return berth_error_errno(err, BERTH_CNI_ERR_IO, "write %s/%s", s->dir, name);
	}
	return 0;
}

void berth_ipam_store_trim(struct berth_ipam_store *s)
{
	trim_spares(s);
}

unsigned berth_ipam_store_spares(const struct berth_ipam_store *s)
{
	return s->spares;
}
