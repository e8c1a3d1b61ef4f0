/* SPDX-License-Identifier: Apache-2.0 */
/* Shared between the net/nft*.c files; not a public contract. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/netlink.h>

#include "berth/error.h"
#include "berth/nft.h"

struct set_def {
	const char *name;
	uint8_t key_type[4];
	uint8_t key_len[4]; /* unpadded field lengths */
	size_t n_key;
	uint8_t data_type[2];
	uint32_t data_len; /* padded; 0 = plain set */
	size_t n_data;
	bool interval;
};

const struct set_def *berth_nft_set_def(int family, const char *name);
void berth_nft_set_defs(int family, const struct set_def **ret, size_t *ret_n);
size_t berth_nft_set_key_len(const struct set_def *d);

/* One request on a fresh socket; cb gets every reply before the ACK/DONE.  Returns the
 * kernel's -errno (err untouched) or an I/O error (err set). */
int berth_nft_request(struct nlmsghdr *nlh, int (*cb)(const struct nlmsghdr *, void *), void *data,
		      berth_error *err);
/* Every element of one of our sets (a missing table or set lists nothing). */
int berth_nft_elems_dump(int family, const char *set,
			 int (*fn)(const struct berth_nft_elem *e, const char *comment, void *data),
			 void *data, berth_error *err);
/* Add elements, each with its own comment, grouped into one message per set. */
int berth_nft_batch_elems_c(struct berth_nft_batch *b, const struct berth_nft_elem *e, size_t n,
			    const char *const *comments, berth_error *err);
/* A process-lifetime copy of a set name (elements keep pointers to names). */
const char *berth_nft_intern(const char *name);
/* Append the maps and rules of a conditions list (see berth_nft_conds_parse). */
int berth_nft_batch_conds(struct berth_nft_batch *b, const struct berth_nft_conds *c,
			  berth_error *err);
/* 1 when our set `name` exists, 0 when it (or the table) does not. */
int berth_nft_set_exists(int family, const char *name, berth_error *err);
/* The state dir lock (shared for element changes, exclusive for structure changes). */
int berth_nft_lock_state(bool exclusive, int *ret_fd, berth_error *err);
/* Create our table of each needed family if missing (EEXIST is success). */
int berth_nft_ensure_table(int family, berth_error *err);
/* Directory of the state files of kind ("portmap", "conditions" ...). */
int berth_nft_kind_dir(const char *kind, char *buf, size_t len);
