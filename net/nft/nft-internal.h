/* SPDX-License-Identifier: Apache-2.0 */
/* Shared between the files of net/nft/; not a public contract.  Who calls whom, bottom up:
 * batch.c (messages, sending, dumps) <- schema.c (the sets) <- expr.c (rule expressions) <-
 * ruleset.c (tables, chains, rules) <- state.c (state files) <- cond.c (portmap conditions)
 * <- attach.c (per-attachment elements, GC, reapply) <- bridge.c (masq, MAC spoof check). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/netlink.h>
#include <libnftnl/rule.h>

#include "berth/error.h"
#include "berth/nft.h"

/* the reference portmap's default markMasqBit (13), also netavark's masquerade mark */
#define BERTH_NFT_HAIRPIN_MARK 0x2000
#define IP4_SADDR 12
#define IP4_DADDR 16
#define IP6_SADDR 8
#define IP6_DADDR 24

/* ---- batch.c ---- */

struct berth_nft_batch {
	char *buf;
	size_t len, cap;
	uint32_t seq_base, seq;
	char **desc; /* per message, index = seq - seq_base */
	size_t n_desc;
	bool finished;
	bool has_destroy;
	bool deletes; /* removes something: closing the socket after it waits (close_socket) */
};

/* Start a message at the end of the buffer; returns its header, or NULL on ENOMEM. */
struct nlmsghdr *berth_nft_msg_begin(struct berth_nft_batch *b, const char *desc);
void berth_nft_msg_end(struct berth_nft_batch *b, struct nlmsghdr *nlh);
/* Open the batch (BATCH_BEGIN) unless it is open. */
int berth_nft_batch_begin(struct berth_nft_batch *b);
const char *berth_nft_family_name(int family);
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

/* ---- schema.c ---- */

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
/* The set's id within its table's setup transaction (for lookups in the same batch). */
uint32_t berth_nft_set_id(int family, const char *name);
/* A process-lifetime copy of a set name (elements keep pointers to names). */
const char *berth_nft_intern(const char *name);

/* ---- expr.c ---- */
void berth_nft_expr_meta(struct nftnl_rule *r, uint32_t key, uint32_t dreg);
void berth_nft_expr_cmp(struct nftnl_rule *r, uint32_t sreg, uint32_t op, const void *data,
			size_t len);
void berth_nft_expr_nfproto(struct nftnl_rule *r, uint8_t proto);
void berth_nft_expr_payload(struct nftnl_rule *r, uint32_t base, uint32_t off, uint32_t len,
			    uint32_t dreg);
void berth_nft_expr_bitwise(struct nftnl_rule *r, uint32_t reg, const void *mask, size_t len);
void berth_nft_expr_lookup(struct nftnl_rule *r, int family, const char *set, uint32_t sreg,
			   int dreg, bool inv);
void berth_nft_expr_verdict(struct nftnl_rule *r, int verdict);
void berth_nft_expr_counter(struct nftnl_rule *r);
void berth_nft_expr_masq(struct nftnl_rule *r);
void berth_nft_expr_dnat(struct nftnl_rule *r, int nfproto, uint32_t reg_addr,
			 uint32_t reg_proto);
void berth_nft_expr_fib_daddr_local(struct nftnl_rule *r);
void berth_nft_expr_ct_bits(struct nftnl_rule *r, uint32_t key, uint32_t bits);

/* ---- ruleset.c ---- */
int berth_nft_add_set_named(struct berth_nft_batch *b, int family, const struct set_def *d,
			    const char *name);
/* Add rule r (consumed) to chain, appended or inserted at the head. */
int berth_nft_add_rule_at(struct berth_nft_batch *b, struct nftnl_rule *r, int family,
			  const char *chain, const char *what, bool append);
int berth_nft_add_rule(struct berth_nft_batch *b, struct nftnl_rule *r, int family,
		       const char *chain, const char *what);
/* Create whichever of our tables the elements need and that does not exist yet. */
int berth_nft_ensure_tables(const struct berth_nft_elem *e, size_t n, berth_error *err);
/* Create our table of each needed family if missing (EEXIST is success). */
int berth_nft_ensure_table(int family, berth_error *err);
/* 1 when our set `name` exists, 0 when it (or the table) does not. */
int berth_nft_set_exists(int family, const char *name, berth_error *err);

/* ---- state.c ---- */
/* Directory of the state files of kind ("portmap", "conditions" ...). */
int berth_nft_kind_dir(const char *kind, char *buf, size_t len);
/* The state file of owner's elements of kind. */
int berth_nft_state_path(const char *kind, const struct berth_nft_owner *o, char *buf,
			 size_t len);
/* The state dir lock (shared for element changes, exclusive for structure changes). */
int berth_nft_lock_state(bool exclusive, int *ret_fd, berth_error *err);

/* ---- cond.c ---- */
/* Append the maps and rules of a conditions list (see berth_nft_conds_parse). */
int berth_nft_batch_conds(struct berth_nft_batch *b, const struct berth_nft_conds *c,
			  berth_error *err);
