/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Internals of the vfs driver (storage/vfs). */

#include <stdbool.h>
#include <stdint.h>

#include "berth/error.h"
#include "berth/fulltree.h"

/* The vfs operations on trees, for the fulltree store (driver.c). */
extern const struct berth_ft_ops berth_vfs_ops;

enum vfs_reflink {
	VFS_REFLINK_AUTO = 0, /* FICLONE where the filesystem can, plain copies elsewhere */
	VFS_REFLINK_NEVER,    /* plain copies (benchmarks; filesystems with broken clones) */
	VFS_REFLINK_ALWAYS,   /* fail rather than copy */
};

#define VFS_MAX_THREADS 4

struct vfs_copy_opts {
	enum vfs_reflink reflink;
	bool ignore_chown_errors;
	int threads; /* threads copying files: 1 the walker alone, N the walker and N-1 more, 0 one
		      * per CPU (the walker included), at most VFS_MAX_THREADS */
	/* called after every entry copied (crash injection) */
	void (*fault)(void *ctx, const char *what);
	void *fault_ctx;
};

struct vfs_copy_stats {
	uint64_t entries, files, hardlinks;
	uint64_t bytes_copied, bytes_reflinked;
};

/* Copy the tree under directory fd src into the empty directory fd dst (its own metadata
 * included).  On failure dst is left partly written (the caller removes it). */
int vfs_copy_tree(int src, int dst, const struct vfs_copy_opts *o, struct vfs_copy_stats *st,
		  berth_error *err);
