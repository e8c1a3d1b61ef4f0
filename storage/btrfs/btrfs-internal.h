/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Internals of the btrfs driver (storage/btrfs). */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "berth/error.h"
#include "berth/fulltree.h"

/* The btrfs operations on trees, for the fulltree store (driver.c). */
extern const struct berth_ft_ops berth_btrfs_ops;

/* A set of inode numbers (open addressing; 0 is never an inode number). */
struct btrfs_inoset {
	uint64_t *slots;
	size_t cap, n;
};
int btrfs_inoset_add(struct btrfs_inoset *s, uint64_t ino); /* 1 added, 0 there, -ENOMEM */
bool btrfs_inoset_has(const struct btrfs_inoset *s, uint64_t ino);
void btrfs_inoset_free(struct btrfs_inoset *s);

/* What changed in a subvolume since a transaction: the inodes whose item was written after
 * it (transid > since), and the parent directories recorded for inodes on the way. */
struct btrfs_scan {
	struct btrfs_inoset changed;
	uint64_t nbytes;   /* sum of the changed inodes' allocated bytes */
	uint64_t searches; /* TREE_SEARCH calls made, for tests and STATUS */
	/* ino -> parent dir inos seen in INODE_REF/INODE_EXTREF items (pairs, unsorted) */
	uint64_t *refs;
	size_t nrefs, caprefs;
};
/* fd: any fd on the filesystem; tree: the subvolume id.  Only leaves written after `since`
 * are read (TREE_SEARCH's min_transid): the cost follows what changed, not the tree size. */
int btrfs_scan_changed(int fd, uint64_t tree, uint64_t since, struct btrfs_scan *ret,
		       berth_error *err);
void btrfs_scan_free(struct btrfs_scan *s);
/* The directories that hold a changed inode, up to the subvolume's root directory, added to
 * dirs (with the changed inodes themselves). */
int btrfs_scan_ancestors(int fd, uint64_t tree, struct btrfs_scan *s, struct btrfs_inoset *dirs,
			 berth_error *err);

/* Quotas: 1 enabled, 0 not (no quota tree), -errno. */
int btrfs_quota_enabled(int fd);
/* The level-0 qgroup of subvolume id: referenced and exclusive bytes (as of the last commit). */
int btrfs_qgroup_info(int fd, uint64_t id, uint64_t *ret_rfer, uint64_t *ret_excl,
		      berth_error *err);
