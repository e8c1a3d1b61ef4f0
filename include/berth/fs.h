/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Filesystem helpers: directory listing, recursive removal, mount point tests, size strings
 * (common/fs.c; its top comment says why there are two of some). */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "berth/error.h"

/* Sorted listing of a directory fd (the fd is not consumed), without "." and "..". */
int berth_list_dir_at(int dirfd, char ***ret_names, size_t *ret_n);
void berth_names_free(char **names, size_t n);

/* Remove path (relative to dirfd) and everything under it without following any symlink, in
 * the path or below it; a missing path (or one through a symlink) is fine.  Absolute paths and
 * ".." are refused (code 7).  A mount point below stops it: -EBUSY, code 5. */
int berth_rm_rf_at(int dirfd, const char *path, berth_error *err);
/* Best effort: remove path and what is below it on the same filesystem; what is mounted below
 * is left alone (and so are the directories that hold it). */
void berth_rm_rf_one_fs(const char *path);

/* Is something mounted on path (statx STATX_ATTR_MOUNT_ROOT: any mount, bind mounts too)? */
bool berth_is_mountpoint(const char *path);
/* Does another filesystem start at path (st_dev differs from its parent's, or path is "/")?
 * Misses a bind mount from the same filesystem. */
bool berth_is_mountpoint_by_dev(const char *path);

/* "10G", "512M", "64k", "64KiB", "1048576", "100B" (bytes; K/M/G/T are binary, then optional
 * "B" or "iB", any case).  -EINVAL for anything else, -ERANGE past 2^64. */
int berth_parse_size(const char *s, uint64_t *ret);
