/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Helpers shared by archive-apply.c and archive-diff.c; not part of the public API. */

#include <locale.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "berth/error.h"
#include "berth/fs.h"

#define ARCHIVE_OVL_OPAQUE_TRUSTED "trusted.overlay.opaque"
#define ARCHIVE_OVL_OPAQUE_USER "user.overlay.opaque"
#define ARCHIVE_WH_PREFIX ".wh."
#define ARCHIVE_WH_PREFIX_LEN 4
#define ARCHIVE_WH_OPAQUE ".wh..wh..opq"
#define ARCHIVE_WH_META_PREFIX ".wh..wh."

/* Is this xattr carried between tar and disk?  user.*, security.capability, trusted.* and the
 * POSIX ACLs; never the overlay-private trusted.overlay.* / user.overlay.*, security.selinux
 * (the runtime relabels) or security.ima. */
bool berth_archive_xattr_allowed(const char *name);

/* Normalise a tar entry name in place: strip leading "./" and trailing "/", collapse "//" and
 * "." components.  Returns 0, -EPERM for absolute names or a ".." component, -ENAMETOOLONG
 * beyond max.  The root itself becomes "". */
int berth_archive_clean_path(char *path, size_t max);

/* Open directory `path` (relative, clean) below rootfd with in-root semantics: symlinks are
 * resolved as if rootfd were "/", ".." never leaves it.  openat2(RESOLVE_IN_ROOT |
 * RESOLVE_NO_MAGICLINKS) when the kernel has it, else a component walk with O_NOFOLLOW.
 * Returns an O_RDONLY|O_DIRECTORY fd or -errno. */
int berth_archive_open_dir_in_root(int rootfd, const char *path);
/* Force the *at walk (tests of the fallback); also set by BERTH_ARCHIVE_NO_OPENAT2=1. */
void berth_archive_set_force_walk(bool on);

/* FNV-1a */
static inline uint32_t berth_archive_hash(const char *s, size_t n)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	return h;
}

/* A set of strings (open addressing, grows). */
struct berth_strset {
	char **slots;
	size_t cap, n;
};
int berth_strset_add(struct berth_strset *s, const char *str, size_t len);
bool berth_strset_has(const struct berth_strset *s, const char *str, size_t len);
void berth_strset_clear(struct berth_strset *s);

/* The archive code's names for berth_list_dir_at() and berth_names_free() (berth/fs.h). */
static inline int berth_archive_list_dir(int dirfd, char ***ret_names, size_t *ret_n)
{
	return berth_list_dir_at(dirfd, ret_names, ret_n);
}
static inline void berth_archive_names_free(char **names, size_t n)
{
	berth_names_free(names, n);
}

/*
 * Names are bytes; libarchive converts them between the locale's charset and the UTF-8 of PAX
 * records.  Under the C locale every non-ASCII name fails that conversion (GNU tar then warns
 * about hdrcharset=BINARY, and libarchive 3.6 even crashes writing a UTF-8 name), so apply and
 * diff switch this thread to C.UTF-8 for their duration: UTF-8 names pass through unchanged.
 */
static inline locale_t berth_archive_locale_utf8(void)
{
	locale_t loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);

	if (loc == (locale_t)0)
		return (locale_t)0;
	return uselocale(loc) == (locale_t)0 ? (freelocale(loc), (locale_t)0) : loc;
}

static inline void berth_archive_locale_restore(locale_t *loc)
{
	if (*loc) {
		uselocale(LC_GLOBAL_LOCALE);
		freelocale(*loc);
	}
}
