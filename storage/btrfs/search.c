/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reading btrfs trees with BTRFS_IOC_TREE_SEARCH_V2: the inodes a snapshot changed since it was
 * taken (the DIFF/CHANGES fast path), their parent directories, and qgroup numbers.
 *
 * Every item in a btrfs tree lives in a leaf stamped with the transaction that last wrote it;
 * a snapshot shares its parent's leaves until it writes one.  TREE_SEARCH with min_transid
 * skips every node and leaf older than that, so a search for "after the snapshot" reads only
 * the leaves the child wrote.  A leaf rewritten for one inode still holds its neighbours, so
 * each INODE_ITEM's own transid decides whether that inode changed.  Writes, chmod/chown,
 * xattrs, links, renames (ctime) and deletions (the directory's mtime) all rewrite the inode
 * item of what they touch.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <endian.h>
#include <linux/btrfs.h>
#include <linux/btrfs_tree.h>

#include "berth/cleanup.h"
#include "btrfs-internal.h"

static size_t ino_hash(uint64_t v, size_t cap)
{
	v ^= v >> 33;
	v *= 0xff51afd7ed558ccdULL;
	v ^= v >> 33;
	return (size_t)v & (cap - 1);
}

int btrfs_inoset_add(struct btrfs_inoset *s, uint64_t ino)
{
	size_t i;

	if (!ino)
		return 0;
	if ((s->n + 1) * 2 > s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 256;
		uint64_t *ns = calloc(ncap, sizeof(*ns));

		if (!ns)
			return -ENOMEM;
		for (size_t k = 0; k < s->cap; k++)
			if (s->slots[k]) {
				size_t j = ino_hash(s->slots[k], ncap);

				while (ns[j])
					j = (j + 1) & (ncap - 1);
				ns[j] = s->slots[k];
			}
		free(s->slots);
		s->slots = ns;
		s->cap = ncap;
	}
	for (i = ino_hash(ino, s->cap); s->slots[i]; i = (i + 1) & (s->cap - 1))
		if (s->slots[i] == ino)
			return 0;
	s->slots[i] = ino;
	s->n++;
	return 1;
}

bool btrfs_inoset_has(const struct btrfs_inoset *s, uint64_t ino)
{
	if (!s->cap || !ino)
		return false;
	for (size_t i = ino_hash(ino, s->cap); s->slots[i]; i = (i + 1) & (s->cap - 1))
		if (s->slots[i] == ino)
			return true;
	return false;
}

void btrfs_inoset_free(struct btrfs_inoset *s)
{
	free(s->slots);
	s->slots = NULL;
	s->cap = s->n = 0;
}

void btrfs_scan_free(struct btrfs_scan *s)
{
	btrfs_inoset_free(&s->changed);
	free(s->refs);
	s->refs = NULL;
	s->nrefs = s->caprefs = 0;
}

#define SEARCH_BUF (256 * 1024)

struct search {
	struct btrfs_ioctl_search_args_v2 *args;
	size_t off;	/* into args->buf */
	uint32_t left;	/* items left in this batch */
	bool done;
	uint64_t *count; /* ioctl calls */
};

static int search_start(struct search *se, uint64_t tree, uint64_t min_oid, uint64_t max_oid,
			uint32_t min_type, uint32_t max_type, uint64_t min_off, uint64_t max_off,
			uint64_t min_transid, uint64_t *count)
{
	memset(se, 0, sizeof(*se));
	se->args = calloc(1, sizeof(*se->args) + SEARCH_BUF);
	if (!se->args)
		return -ENOMEM;
	se->args->key.tree_id = tree;
	se->args->key.min_objectid = min_oid;
	se->args->key.max_objectid = max_oid;
	se->args->key.min_type = min_type;
	se->args->key.max_type = max_type;
	se->args->key.min_offset = min_off;
	se->args->key.max_offset = max_off;
	se->args->key.min_transid = min_transid;
	se->args->key.max_transid = (uint64_t)-1;
	se->count = count;
	return 0;
}

static void search_end(struct search *se)
{
	free(se->args);
	se->args = NULL;
}

/* The next item: 1 with *hdr and *data set, 0 at the end, -errno. */
static int search_next(int fd, struct search *se, struct btrfs_ioctl_search_header *hdr,
		       const void **data)
{
	struct btrfs_ioctl_search_key *k = &se->args->key;

	while (se->left == 0) {
		if (se->done)
			return 0;
		k->nr_items = (uint32_t)-1;
		se->args->buf_size = SEARCH_BUF;
		if (se->count)
			(*se->count)++;
		if (ioctl(fd, BTRFS_IOC_TREE_SEARCH_V2, se->args) < 0)
			return -errno;
		if (k->nr_items == 0) {
			se->done = true;
			return 0;
		}
		se->left = k->nr_items;
		se->off = 0;
	}
	memcpy(hdr, se->args->buf + se->off, sizeof(*hdr));
	*data = se->args->buf + se->off + sizeof(*hdr);
	se->off += sizeof(*hdr) + hdr->len;
	se->left--;
	if (se->left == 0) {
		/* continue right after the last key returned */
		k->min_objectid = hdr->objectid;
		k->min_type = hdr->type;
		k->min_offset = hdr->offset;
		if (k->min_offset < (uint64_t)-1) {
			k->min_offset++;
		} else if (k->min_type < 255) {
			k->min_type++;
			k->min_offset = 0;
		} else if (k->min_objectid < k->max_objectid) {
			k->min_objectid++;
			k->min_type = 0;
			k->min_offset = 0;
		} else {
			se->done = true;
		}
		/* the compound key: past (max_objectid, max_type, max_offset) means done */
		if (k->min_objectid > k->max_objectid ||
		    (k->min_objectid == k->max_objectid && k->min_type > k->max_type))
			se->done = true;
	}
	return 1;
}

static int add_ref(struct btrfs_scan *s, uint64_t ino, uint64_t parent)
{
	if (s->nrefs + 2 > s->caprefs) {
		size_t ncap = s->caprefs ? s->caprefs * 2 : 512;
		uint64_t *n = realloc(s->refs, ncap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		s->refs = n;
		s->caprefs = ncap;
	}
	s->refs[s->nrefs++] = ino;
	s->refs[s->nrefs++] = parent;
	return 0;
}

/* Parent directories named by one INODE_REF (key offset) or INODE_EXTREF item. */
static int record_refs(struct btrfs_scan *s, const struct btrfs_ioctl_search_header *h,
		       const void *data)
{
	if (h->type == BTRFS_INODE_REF_KEY)
		return add_ref(s, h->objectid, h->offset);
	if (h->type == BTRFS_INODE_EXTREF_KEY) {
		const uint8_t *p = data, *end = p + h->len;

		while (p + sizeof(struct btrfs_inode_extref) <= end) {
			struct btrfs_inode_extref x;
			int r;

			memcpy(&x, p, sizeof(x));
			r = add_ref(s, h->objectid, le64toh(x.parent_objectid));
			if (r < 0)
				return r;
			p += sizeof(x) + le16toh(x.name_len);
		}
	}
	return 0;
}

int btrfs_scan_changed(int fd, uint64_t tree, uint64_t since, struct btrfs_scan *ret,
		       berth_error *err)
{
	struct btrfs_ioctl_search_header h = { 0 };
	struct search se;
	const void *data;
	int r;

	memset(ret, 0, sizeof(*ret));
	r = search_start(&se, tree, BTRFS_FIRST_FREE_OBJECTID, BTRFS_LAST_FREE_OBJECTID, 0, 255, 0,
			 (uint64_t)-1, since + 1, &ret->searches);
	if (r < 0)
		return berth_error_set(err, BERTH_ERR_INTERNAL, ENOMEM, "out of memory");
	while ((r = search_next(fd, &se, &h, &data)) > 0) {
		if (h.type == BTRFS_INODE_ITEM_KEY && h.len >= sizeof(struct btrfs_inode_item)) {
			struct btrfs_inode_item it;

			memcpy(&it, data, sizeof(it));
			if (le64toh(it.transid) > since) {
				r = btrfs_inoset_add(&ret->changed, h.objectid);
				if (r < 0)
					break;
				ret->nbytes += le64toh(it.nbytes);
			}
		} else if ((r = record_refs(ret, &h, data)) < 0) {
			break;
		}
	}
	search_end(&se);
	if (r < 0) {
		btrfs_scan_free(ret);
		return berth_error_set(err, BERTH_ERR_IO, -r, "btrfs tree search (tree %llu): %s",
				       (unsigned long long)tree, strerror(-r));
	}
	return 0;
}

/* Parents of ino: from the refs the scan saw, else one search of its refs. */
static int parents_of(int fd, uint64_t tree, struct btrfs_scan *s, uint64_t ino, uint64_t **ret,
		      size_t *ret_n)
{
	size_t n = 0;

	for (size_t i = 0; i < s->nrefs; i += 2)
		if (s->refs[i] == ino)
			n++;
	if (n == 0) {
		struct btrfs_ioctl_search_header h = { 0 };
		struct search se;
		const void *data;
		int r;

		r = search_start(&se, tree, ino, ino, BTRFS_INODE_REF_KEY, BTRFS_INODE_EXTREF_KEY, 0,
				 (uint64_t)-1, 0, &s->searches);
		if (r < 0)
			return r;
		while ((r = search_next(fd, &se, &h, &data)) > 0)
			if (h.objectid == ino && (r = record_refs(s, &h, data)) < 0)
				break;
		search_end(&se);
		if (r < 0)
			return r;
	}
	*ret = malloc((s->nrefs / 2 + 1) * sizeof(uint64_t));
	if (!*ret)
		return -ENOMEM;
	n = 0;
	for (size_t i = 0; i < s->nrefs; i += 2)
		if (s->refs[i] == ino)
			(*ret)[n++] = s->refs[i + 1];
	*ret_n = n;
	return 0;
}

int btrfs_scan_ancestors(int fd, uint64_t tree, struct btrfs_scan *s, struct btrfs_inoset *dirs,
			 berth_error *err)
{
	_cleanup_free_ uint64_t *stack = NULL;
	size_t n = 0, cap = 0;
	int r = 0;

	/* every changed inode, then walk up from each; an inode already in dirs was walked */
	for (size_t i = 0; i < s->changed.cap && r >= 0; i++) {
		uint64_t ino = s->changed.slots[i];

		if (!ino || (r = btrfs_inoset_add(dirs, ino)) < 0)
			continue;
		if (n == cap) {
			uint64_t *ns;

			cap = cap ? cap * 2 : 256;
			ns = realloc(stack, cap * sizeof(*ns));
			if (!ns) {
				r = -ENOMEM;
				break;
			}
			stack = ns;
		}
		stack[n++] = ino;
	}
	while (r >= 0 && n > 0) {
		_cleanup_free_ uint64_t *par = NULL;
		uint64_t ino = stack[--n];
		size_t np = 0;

		if (ino == BTRFS_FIRST_FREE_OBJECTID) /* the subvolume's root directory */
			continue;
		r = parents_of(fd, tree, s, ino, &par, &np);
		for (size_t k = 0; r >= 0 && k < np; k++) {
			r = btrfs_inoset_add(dirs, par[k]);
			if (r <= 0)
				continue;
			if (n == cap) {
				uint64_t *ns;

				cap = cap ? cap * 2 : 256;
				ns = realloc(stack, cap * sizeof(*ns));
				if (!ns) {
					r = -ENOMEM;
					break;
				}
				stack = ns;
			}
			stack[n++] = par[k];
		}
	}
	if (r < 0)
		return berth_error_set(err, BERTH_ERR_IO, -r, "btrfs tree search: %s",
				       strerror(-r));
	return 0;
}

int btrfs_quota_enabled(int fd)
{
	struct btrfs_ioctl_search_header h = { 0 };
	struct btrfs_qgroup_status_item st;
	struct search se;
	const void *data;
	int r;

	if (search_start(&se, BTRFS_QUOTA_TREE_OBJECTID, 0, 0, BTRFS_QGROUP_STATUS_KEY,
			 BTRFS_QGROUP_STATUS_KEY, 0, (uint64_t)-1, 0, NULL) < 0)
		return -ENOMEM;
	r = search_next(fd, &se, &h, &data);
	if (r > 0 && h.type == BTRFS_QGROUP_STATUS_KEY && h.len >= 24) {
		memset(&st, 0, sizeof(st));
		memcpy(&st, data, h.len < sizeof(st) ? h.len : sizeof(st));
		r = (le64toh(st.flags) & BTRFS_QGROUP_STATUS_FLAG_ON) ? 1 : 0;
	} else if (r >= 0 || r == -ENOENT) {
		r = 0; /* no quota tree: quotas were never enabled, or disabled */
	}
	search_end(&se);
	return r;
}

int btrfs_qgroup_info(int fd, uint64_t id, uint64_t *ret_rfer, uint64_t *ret_excl,
		      berth_error *err)
{
	struct btrfs_ioctl_search_header h = { 0 };
	struct btrfs_qgroup_info_item qi;
	struct search se;
	const void *data;
	int r;

	if (search_start(&se, BTRFS_QUOTA_TREE_OBJECTID, 0, 0, BTRFS_QGROUP_INFO_KEY,
			 BTRFS_QGROUP_INFO_KEY, id, id, 0, NULL) < 0)
		return berth_error_set(err, BERTH_ERR_INTERNAL, ENOMEM, "out of memory");
	r = search_next(fd, &se, &h, &data);
	if (r > 0 && h.type == BTRFS_QGROUP_INFO_KEY && h.offset == id && h.len >= sizeof(qi))
		memcpy(&qi, data, sizeof(qi)); /* data points into the search buffer */
	else if (r > 0)
		r = 0;
	search_end(&se);
	if (r < 0)
		return berth_error_set(err, BERTH_ERR_IO, -r, "qgroup 0/%llu: %s",
				       (unsigned long long)id, strerror(-r));
	if (r == 0)
		return berth_error_set(err, BERTH_STOR_ERR_NOT_SUPPORTED, ENOENT,
				       "no qgroup 0/%llu", (unsigned long long)id);
	*ret_rfer = le64toh(qi.rfer);
	*ret_excl = le64toh(qi.excl);
	return 0;
}
