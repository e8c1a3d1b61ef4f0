/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "berth/error.h"

/* Read a whole file (at most max bytes, else -EFBIG); *ret is NUL-terminated, caller frees.
 * dirfd may be AT_FDCWD. I/O errors are BERTH_ERR_IO. */
int berth_read_file_at(int dirfd, const char *path, size_t max, char **ret, size_t *ret_len,
		       berth_error *err);
int berth_read_file(const char *path, size_t max, char **ret, size_t *ret_len, berth_error *err);
/* Read all of fd until EOF (max bytes). */
int berth_read_fd(int fd, size_t max, char **ret, size_t *ret_len, berth_error *err);

/* Write via a temp file in the same directory, fsync if `sync`, rename into place. */
int berth_write_file_atomic_at(int dirfd, const char *path, const void *data, size_t len,
			       mode_t mode, bool sync, berth_error *err);
int berth_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode, bool sync,
			    berth_error *err);
/* Write all of buf to fd, retrying on EINTR and short writes; -errno on failure. */
int berth_write_all(int fd, const void *buf, size_t len);

/* mkdir -p; existing directories are fine. */
int berth_mkdir_p(const char *path, mode_t mode, berth_error *err);

/* Open (creating, mode 0600) and flock path; *ret_fd holds the lock until closed. */
int berth_lock_path(const char *path, bool exclusive, int *ret_fd, berth_error *err);

/* Write a short string to a /proc/sys style file (no temp file), e.g. sysctls. */
int berth_write_string_file(const char *path, const char *value, berth_error *err);

/* true for a name usable as a single path component: non-empty, not . or .., no '/', no NUL. */
bool berth_path_component_ok(const char *name);
