/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "berth/error.h"
#include "berth/ip.h"

/*
 * nftables through libmnl + libnftnl.
 *
 * berth owns two tables and never touches any other: `inet berth` (NAT, port mapping,
 * forward filter) and `bridge berth` (MAC spoof check, same-bridge isolation).  The name is
 * "berth" unless BERTH_NFT_TABLE says otherwise (tests use that to run side by side).  Tables,
 * chains, sets and rules are created once, in one transaction, by the first call that needs
 * them; after that every plugin call only adds or removes set/map elements, in one batch, so
 * its cost does not depend on how many containers exist and it is all or nothing.
 *
 * Every element carries its owner as an element comment "berth <kind> <network> <id> <ifname>"
 * and each attachment's elements are also recorded in a state file
 * ($BERTH_NFT_STATE_DIR, default /run/berth/nft, then /<table>/<kind>/<hash>.json), from which
 * DEL works without the netns and berth_nft_reapply_all() rebuilds everything after someone
 * ran `nft flush ruleset`.
 */

/* Who an element belongs to (a CNI attachment). */
struct berth_nft_owner {
	const char *network;
	const char *container_id;
	const char *ifname;
};

/* ---- low level: one batch, built separately from sending (unit tests check bytes) ---- */

struct berth_nft_batch;

/* One element of one of our sets: raw key bytes in register layout (each field padded to 4). */
struct berth_nft_elem {
	int family;          /* NFPROTO_INET or NFPROTO_BRIDGE: which of our tables */
	const char *set;     /* set name */
	uint8_t key[64];
	uint8_t key_len;
	uint8_t key_end[64]; /* interval sets: last key of the range */
	uint8_t key_end_len;
	uint8_t data[64];    /* maps */
	uint8_t data_len;
};

int berth_nft_batch_new(struct berth_nft_batch **ret);
void berth_nft_batch_free(struct berth_nft_batch *b);
static inline void berth_nft_batch_freep(struct berth_nft_batch **b)
{
	berth_nft_batch_free(*b);
}
#define _cleanup_nft_batch_ __attribute__((cleanup(berth_nft_batch_freep)))

/* The table name in use ($BERTH_NFT_TABLE or "berth"). */
const char *berth_nft_table(void);

/* Append the messages that create our table of `family` with all its chains, sets and rules.
 * The table message carries NLM_F_EXCL, so the batch fails with -EEXIST when it exists. */
int berth_nft_batch_setup(struct berth_nft_batch *b, int family, berth_error *err);
/* Append one message per set that adds (NLM_F_EXCL) or destroys the given elements.  `comment`
 * (may be NULL) becomes each element's comment. */
int berth_nft_batch_elems(struct berth_nft_batch *b, bool add, const struct berth_nft_elem *e,
			  size_t n, const char *comment, berth_error *err);
/* Append a message deleting our whole table of `family` (reapply and tests only). */
int berth_nft_batch_del_table(struct berth_nft_batch *b, int family, berth_error *err);
/* Close the batch (BATCH_END).  After this the buffer is final. */
int berth_nft_batch_finish(struct berth_nft_batch *b);
/* The finished batch bytes, for inspection. */
const void *berth_nft_batch_data(const struct berth_nft_batch *b, size_t *ret_len);
size_t berth_nft_batch_messages(const struct berth_nft_batch *b);
/* Send a finished batch and wait for every ACK.  A kernel error becomes *err with the failing
 * message described and the extended ACK text appended.  Returns -errno of the first error. */
int berth_nft_batch_send(struct berth_nft_batch *b, berth_error *err);
/* Send an unfinished batch without committing it: the kernel checks every message and aborts
 * the transaction (as `nft -c`).  0 when every message would apply, else the first error. */
int berth_nft_batch_check(struct berth_nft_batch *b, berth_error *err);

/* Does element e exist in the kernel?  1 yes, 0 no; *ret_comment (may be NULL) gets its
 * comment (caller frees). */
int berth_nft_elem_get(const struct berth_nft_elem *e, char **ret_comment, berth_error *err);

/* ---- the schema (net/nft/schema.c) ---- */

/* The kinds of per-attachment state, each with the sets its elements go into. */
struct berth_nft_kind {
	const char *name;     /* "masq", "portmap", "firewall", "macspoof" */
	const char *sets[12]; /* NULL-terminated */
};
extern const struct berth_nft_kind berth_nft_kinds[]; /* terminated by { NULL } */

/* An element's key (data false) or map data (true) of our set `set` as text, field by field
 * as the schema declares them ("10.0.0.2 . tcp . 8080"); hex for a set it does not know. */
void berth_nft_elem_format(int family, const char *set, const uint8_t *b, size_t len, bool data,
			   char *out, size_t outsz);

/* 1 when table `name` of `family` exists (anyone's: a read-only lookup, e.g. firewalld's
 * `inet firewalld`), 0 when not. */
int berth_nft_table_exists(int family, const char *name, berth_error *err);

/* ---- per-attachment element sets (the layer every plugin uses) ---- */

/* Replace the elements `kind` ("portmap", "masq", "macspoof", "firewall") records for owner
 * with e[0..n): one batch that removes what the state file lists and adds e, creating our
 * tables on first use; then the state file is written.  -EEXIST when a key is taken by
 * another owner (err names it). */
int berth_nft_attach_set(const char *kind, const struct berth_nft_owner *o,
			 const struct berth_nft_elem *e, size_t n, berth_error *err);
/* Same; on -EEXIST *ret_conflict is the index of the element whose key another owner holds
 * and *ret_owner that owner's comment ("berth KIND NETWORK ID IFNAME"; caller frees). */
int berth_nft_attach_set_ex(const char *kind, const struct berth_nft_owner *o,
			    const struct berth_nft_elem *e, size_t n, size_t *ret_conflict,
			    char **ret_owner, berth_error *err);
/* The elements recorded for owner (from the state file); *ret NULL and n 0 when none. */
int berth_nft_attach_load(const char *kind, const struct berth_nft_owner *o,
			  struct berth_nft_elem **ret, size_t *ret_n, berth_error *err);
/* Remove what the state file lists (idempotent: missing file, table or element is fine).
 * Without a state file and with `sweep` (ADD would have added elements), remove, best effort,
 * the elements whose owner comment names o (state lost or kept in another directory). */
int berth_nft_attach_del(const char *kind, const struct berth_nft_owner *o, bool sweep,
			 berth_error *err);
/* Every element recorded for owner is present: 0, or -ENOENT naming the missing one. */
int berth_nft_attach_check(const char *kind, const struct berth_nft_owner *o, berth_error *err);
/* GC for one network and kind: remove elements and state of attachments not in valid. */
struct berth_cni_attachment;
int berth_nft_attach_gc(const char *kind, const char *network,
			const struct berth_cni_attachment *valid, size_t n_valid, berth_error *err);

/* After `nft flush ruleset` (or a firewall reload): delete our tables (only ours), recreate
 * them and add every element recorded in the state dir, in one transaction. Returns the
 * number of elements applied. */
int berth_nft_reapply_all(berth_error *err);

/* The GC verb of a plugin whose state is one nft kind: reads cni.dev/valid-attachments from
 * the call's config and runs berth_nft_attach_gc for the call's network. */
struct berth_cni_call;
int berth_nft_gc_call(const char *kind, const struct berth_cni_call *call, berth_error *err);
/* STATUS of a plugin that keeps its state in berth's tables (inet: portmap, firewall, ipMasq;
 * bridge: macspoofchk): nf_tables answers, and the table and its sets exist or the batch that
 * creates them passes the kernel's checks (not committed: STATUS changes nothing).  Code 50
 * (not ready) naming the cause otherwise. */
int berth_nft_status(bool inet, bool bridge, berth_error *err);
/* `PLUGIN --reapply` from a plugin's main(): berth_nft_reapply_all, {"reapplied":N} on stdout,
 * the error on stderr; returns the exit code. */
int berth_nft_reapply_main(const char *prog);

/* ---- bridge plugin API ---- */

/* ipMasqBackend: NULL, "" or "nftables" are fine; "iptables" is mapped to nftables (berth has
 * no iptables code; the rule semantics are the same); anything else is code 7. */
int berth_nft_masq_backend_ok(const char *backend, berth_error *err);
/* ipMasq: masquerade traffic from each address unless it leaves through `ifname` (the bridge, or
 * the VLAN interface that carries the container's subnet) or is multicast. */
int berth_nft_masq_add(const struct berth_nft_owner *o, const struct berth_ipnet *addrs, size_t n,
		       const char *ifname, berth_error *err);
/* ptp's ipMasq: masquerade traffic from each address unless it goes to that address's own
 * subnet (addrs carry the IPAM prefix) or is multicast, as the reference's rules do. */
int berth_nft_masq_add_subnets(const struct berth_nft_owner *o, const struct berth_ipnet *addrs,
			       size_t n, berth_error *err);
int berth_nft_masq_del(const struct berth_nft_owner *o, bool sweep, berth_error *err);
int berth_nft_masq_check(const struct berth_nft_owner *o, berth_error *err);
/* macspoofchk: frames entering the bridge from host_ifname must carry source MAC mac. */
int berth_nft_macspoof_add(const struct berth_nft_owner *o, const char *host_ifname,
			   const uint8_t mac[6], berth_error *err);
int berth_nft_macspoof_del(const struct berth_nft_owner *o, bool sweep, berth_error *err);
int berth_nft_macspoof_check(const struct berth_nft_owner *o, berth_error *err);
/* GC for a network: masq and macspoof elements of attachments not in valid. */
int berth_nft_bridge_gc(const char *network, const struct berth_cni_attachment *valid,
			size_t n_valid, berth_error *err);

/* Delete conntrack entries of `proto` (IPPROTO_UDP) whose original destination port is one of
 * ports, in the current netns (family AF_INET or AF_INET6).  Missing ctnetlink is not an error. */
int berth_conntrack_flush_ports(int family, uint8_t proto, const uint16_t *ports, size_t n,
				berth_error *err);

/* ---- portmap conditionsV4/V6: a documented subset of nft match syntax ----
 * Tokens (the list's strings, joined by spaces) form a sequence of matches:
 *   ip saddr|daddr [==|!=] ADDR[/LEN]     (conditionsV4)   ip6 saddr|daddr ... (conditionsV6)
 *   iifname|meta iifname [==|!=] NAME     (a trailing * matches a prefix)
 *   meta mark|mark [==|!=] NUMBER
 * Each distinct list gets its own pair of DNAT maps ("pm4_ip_<id>", "pm4_any_<id>") and two
 * rules per nat chain carrying the matches, created once and shared by every container whose
 * config has that list: per-container state stays map elements. */
#define BERTH_NFT_MAX_CONDS 16
struct berth_nft_cond {
	int kind; /* 1 saddr, 2 daddr, 3 iifname, 4 mark */
	bool neg;
	uint8_t val[16], mask[16];
	uint8_t len;
};
struct berth_nft_conds {
	int family; /* 4 or 6 */
	size_t n;
	struct berth_nft_cond c[BERTH_NFT_MAX_CONDS];
	char text[512]; /* normalised, what the id hashes */
	char id[9];
};
/* key names the config key in errors ("conditionsV4"). */
int berth_nft_conds_parse(const char *const *tokens, size_t n, int family, const char *key,
			  struct berth_nft_conds *ret, berth_error *err);
/* Create the maps and rules of c unless they exist; record them for berth_nft_reapply_all. */
int berth_nft_conds_ensure(const struct berth_nft_conds *c, berth_error *err);
/* "<base>_<id>" for base "pm4_ip", "pm4_any", "pm6_ip", "pm6_any" (interned, never freed). */
const char *berth_nft_conds_set(const struct berth_nft_conds *c, const char *base);

/* ---- key builders (register layout), shared by plugins and tests ---- */
size_t berth_nft_put_ip(uint8_t *buf, const struct berth_ip *ip);
size_t berth_nft_put_u8(uint8_t *buf, uint8_t v);    /* 1 byte, padded to 4 */
size_t berth_nft_put_port(uint8_t *buf, uint16_t v); /* network order, padded to 4 */
size_t berth_nft_put_ifname(uint8_t *buf, const char *name); /* 16 bytes */
/* An element of an inet set keyed by ip, or by ip . ifname when ifname is not NULL. */
void berth_nft_elem_ip(struct berth_nft_elem *x, const char *set, const struct berth_ip *ip,
		       const char *ifname);
/* First and last address of the prefix that n is in. */
void berth_nft_prefix_range(const struct berth_ipnet *n, struct berth_ip *first,
			    struct berth_ip *last);
