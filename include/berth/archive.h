/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Layer archives: apply a tar stream to a layer root, export a tree (or the changes of a tree
 * against its parent) as an uncompressed tar.
 *
 * libarchive parses and writes the tar format (plain, gzip, zstd, xz ... auto-detected on apply);
 * the entries are put on disk by our own writer, which resolves every name inside the root
 * (openat2 RESOLVE_IN_ROOT, or an O_NOFOLLOW *at walk where openat2 is missing), never follows a
 * symlink while writing, and refuses `..`, absolute and NUL names, hardlinks that leave the root
 * or point at directories, and whiteouts of `.`/`..`.  A breakout attempt fails with
 * BERTH_STOR_ERR_UNSAFE_ARCHIVE (15) naming the entry; a malformed or truncated stream with
 * BERTH_ERR_DECODE (6); write errors with BERTH_ERR_IO (5), ENOSPC/EDQUOT with
 * BERTH_STOR_ERR_NO_SPACE (14).  On failure the root is left partly written: the caller removes
 * the layer (it was flagged incomplete before apply).
 *
 * Order of metadata for every entry: create without special bits, chown (no follow), xattrs,
 * mode including setuid/setgid/sticky, times; directory modes and times are set at the end.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "berth/error.h"
#include "berth/fs.h"
#include "berth/storage-proto.h"

/* How OCI whiteouts (`.wh.NAME`, `.wh..wh..opq`) are written (apply) or read (diff). */
enum berth_archive_whiteout {
	/* apply: `.wh.NAME` -> 0/0 char device NAME, `.wh..wh..opq` -> opaque xattr on the dir.
	 * diff: the reverse; the overlay xattrs themselves are not exported. */
	BERTH_ARCHIVE_WHITEOUT_OVERLAY = 0,
	/* apply only: remove NAME (or, for opaque, the dir's entries that this layer did not
	 * write) from the target tree, e.g. a snapshot of the parent layer. */
	BERTH_ARCHIVE_WHITEOUT_DELETE,
	/* apply: store `.wh.*` as the plain files they are; diff: export the tree as it is. */
	BERTH_ARCHIVE_WHITEOUT_KEEP,
};

/* Defaults used for limits left at 0. */
#define BERTH_ARCHIVE_DEFAULT_MAX_ENTRIES 10000000ULL
#define BERTH_ARCHIVE_DEFAULT_MAX_TOTAL (1ULL << 40) /* 1 TiB of file data */
#define BERTH_ARCHIVE_DEFAULT_MAX_PATH 4096
#define BERTH_ARCHIVE_DEFAULT_MAX_XATTRS 1024		/* per entry */
#define BERTH_ARCHIVE_DEFAULT_MAX_XATTR_BYTES (1U << 20) /* per entry, names + values */

struct berth_archive_apply_opts {
	enum berth_archive_whiteout whiteout;
	/* Overlay whiteout form for rootless overlay: user.overlay.opaque instead of trusted.*. */
	bool overlay_userxattr;
	/* Refuse block and char devices (0/0 whiteouts in overlay form excepted) with code 15. */
	bool refuse_devices;
	/* Carry on when chown fails with EPERM/EINVAL (unprivileged, unmapped ids). */
	bool ignore_chown_errors;
	/* Skip chown entirely (files stay owned by the caller). */
	bool no_chown;
	/* syncfs() the root at the end. */
	bool sync;
	uint64_t max_entries;	 /* 0 = default */
	uint64_t max_total_size; /* bytes of regular file data; 0 = default */
	uint32_t max_path;	 /* bytes of an entry name; 0 = default */
};

struct berth_archive_apply_stats {
	uint64_t size;	  /* bytes of file data written: the layer size */
	uint64_t entries; /* tar entries processed */
	uint64_t whiteouts;
};

/*
 * Apply the tar stream read from tarfd (compression detected) to the directory rootfd.
 * opts may be NULL (overlay whiteouts, defaults).  Returns 0 and fills *ret_stats (may be NULL).
 */
int berth_archive_apply(int rootfd, int tarfd, const struct berth_archive_apply_opts *opts,
			struct berth_archive_apply_stats *ret_stats, berth_error *err);
/* Same with a path for the root and the tar ("-" is not special). */
int berth_archive_apply_path(const char *root, const char *tar,
			     const struct berth_archive_apply_opts *opts,
			     struct berth_archive_apply_stats *ret_stats, berth_error *err);

/* A change of a tree against its parent; kinds numbered as Docker's Changes(). */
enum berth_archive_change_kind {
	BERTH_ARCHIVE_CHANGE_MODIFY = 0,
	BERTH_ARCHIVE_CHANGE_ADD = 1,
	BERTH_ARCHIVE_CHANGE_DELETE = 2,
};

struct berth_archive_change {
	char *path; /* relative to the root, no leading "/" or "./" */
	enum berth_archive_change_kind kind;
};

struct berth_archive_changes {
	struct berth_archive_change *v; /* sorted by path (strcmp, "/" sorting first) */
	size_t n;
};

enum berth_archive_changes_mode {
	/* tree is a complete filesystem (a mounted layer); compare it with parent recursively:
	 * type, mode, uid, gid, rdev, size and mtime (non-dirs), symlink target, xattrs. */
	BERTH_ARCHIVE_CHANGES_FULL = 0,
	/* tree is an overlay upper dir: what is in it changed (ADD if absent from parent, else
	 * MODIFY), 0/0 char devices are DELETEs, an opaque dir deletes what parent has under it. */
	BERTH_ARCHIVE_CHANGES_OVERLAY_UPPER,
};

/*
 * Compare tree with parent (parentfd < 0: an empty parent, everything is ADD).  Ancestors of a
 * change are included as MODIFY so a diff carries their metadata.  Free with
 * berth_archive_changes_free().
 */
int berth_archive_changes(int treefd, int parentfd, enum berth_archive_changes_mode mode,
			  bool overlay_userxattr, struct berth_archive_changes *ret,
			  berth_error *err);
/*
 * FULL comparison with a hint: for an entry present in both trees with the same file type,
 * unchanged(ctx, tree_st, parent_st) returning true means the caller knows the entry (and, for
 * a directory, everything below it) is unchanged: it is neither compared nor walked.  A driver
 * that knows which inodes changed since the tree was snapshotted from parent (btrfs transaction
 * ids) skips the unchanged subtrees this way; without the hint the result is the same.
 */
typedef bool (*berth_archive_unchanged_fn)(void *ctx, const struct stat *tree_st,
					   const struct stat *parent_st);
int berth_archive_changes_hinted(int treefd, int parentfd, berth_archive_unchanged_fn unchanged,
				 void *ctx, struct berth_archive_changes *ret, berth_error *err);
void berth_archive_changes_free(struct berth_archive_changes *c);
/* Sum of the sizes of the regular files that changes ADD or MODIFY in tree (DIFF_SIZE). */
int berth_archive_changes_size(int treefd, const struct berth_archive_changes *c,
			       uint64_t *ret_size, berth_error *err);

struct berth_archive_diff_opts {
	/* OVERLAY: tree is an overlay upper dir; convert its whiteouts to OCI form.
	 * KEEP: export as it is (DELETE is treated as KEEP). */
	enum berth_archive_whiteout whiteout;
	bool overlay_userxattr;
	/* Restrict the export to these changes of tree (naive diff); NULL = the whole tree.
	 * DELETE changes become `.wh.NAME` entries. */
	const struct berth_archive_changes *changes;
};

/*
 * Write tree (rootfd) as an uncompressed PAX tar to outfd: sorted by name, numeric uid/gid,
 * xattrs (SCHILY.xattr), hardlinks detected by inode, devices, fifos, symlinks.
 * Returns 0 and the number of bytes written in *ret_size (may be NULL).
 */
int berth_archive_diff(int rootfd, int outfd, const struct berth_archive_diff_opts *opts,
		       uint64_t *ret_size, berth_error *err);

/* Remove path (relative to dirfd) and everything under it without following symlinks;
 * a missing path is fine.  Used by whiteouts and by layer removal: berth_rm_rf_at(). */
static inline int berth_archive_remove_tree_at(int dirfd, const char *path, berth_error *err)
{
	return berth_rm_rf_at(dirfd, path, err);
}
