/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "berth/error.h"
#include "berth/nl.h"

/*
 * Traffic control for the bandwidth plugin: a token bucket (tbf) as a link's root qdisc, the
 * ingress qdisc, a match-all u32 filter whose mirred action redirects what a link receives to
 * another link (an ifb), and ifb links.  Requests are built with libnl-route's qdisc, classifier
 * and action objects and sent on a berth_nl socket (extended-ack text in errors); dumps are
 * parsed from the raw messages.  Functions return 0 or -errno with err filled.
 */

/* A tbf as the kernel holds it. */
struct berth_tbf {
	uint64_t rate;   /* bytes per second */
	uint32_t buffer; /* bucket size as transmit time, in psched ticks */
	uint32_t limit;  /* bytes that may wait in the queue */
};

/* The reference plugin's arithmetic: rate and burst in bits (per second), 25 ms of queue.
 * -EINVAL (code 7) when rate is under 8 bit/s or burst under 8 bits, -ERANGE when the burst
 * does not fit the kernel's 32-bit fields. */
int berth_tbf_from_bits(uint64_t rate_bits, uint64_t burst_bits, struct berth_tbf *ret,
			berth_error *err);
/* The burst in bytes a tbf's buffer stands for (the inverse of the above, for display). */
uint64_t berth_tbf_burst_bytes(const struct berth_tbf *t);

#define BERTH_TC_ROOT_HANDLE 0x00010000u    /* 1: */
#define BERTH_TC_INGRESS_HANDLE 0xffff0000u /* ffff: */

struct berth_qdisc {
	int ifindex;
	uint32_t handle, parent; /* parent TC_H_ROOT (0xffffffff) or TC_H_INGRESS (0xfffffff1) */
	char kind[16];
	bool has_tbf;
	struct berth_tbf tbf; /* kind "tbf" */
};

/* Qdiscs of ifindex (0 = every link); caller frees *ret. */
int berth_qdisc_list(struct berth_nl *nl, int ifindex, struct berth_qdisc **ret, size_t *ret_n,
		     berth_error *err);
/* The qdisc of ifindex at parent (TC_H_ROOT: the root, the kernel's default included, whose
 * handle is 0; TC_H_INGRESS): one request, not a dump of every link's.  -ENOENT when none. */
int berth_qdisc_get(struct berth_nl *nl, int ifindex, uint32_t parent, struct berth_qdisc *ret,
		    berth_error *err);
/* The root qdisc of ifindex as a tbf with handle 1:; -EEXIST when the link already has a root
 * qdisc of its own (not the kernel's default). */
int berth_qdisc_add_tbf(struct berth_nl *nl, int ifindex, const struct berth_tbf *t,
			berth_error *err);
/* The ingress qdisc (ffff:); -EEXIST when there is one. */
int berth_qdisc_add_ingress(struct berth_nl *nl, int ifindex, berth_error *err);
/* On ifindex's ingress qdisc: a u32 filter of priority 1 for every protocol that matches
 * every packet and redirects it to the egress of to_ifindex (mirred, stolen). */
int berth_qdisc_add_redirect(struct berth_nl *nl, int ifindex, int to_ifindex, berth_error *err);
/* Delete the qdisc of ifindex at parent (TC_H_ROOT or TC_H_INGRESS); -ENOENT when the link
 * has none there of its own. */
int berth_qdisc_del(struct berth_nl *nl, int ifindex, uint32_t parent, berth_error *err);

/* A filter on an ingress qdisc; for u32 (berth_qdisc_add_redirect's kind) its selector and
 * its first mirred action. */
struct berth_tc_redirect {
	char kind[16];
	uint32_t prio;
	uint16_t protocol;    /* host order, ETH_P_ALL = 3 */
	bool match_all;       /* a selector with no key that can fail */
	int n_actions;        /* actions of any kind on the filter */
	bool has_mirred;      /* a mirred action is among them */
	bool other_actions;   /* an action that is not that same mirred redirect */
	int to_ifindex;       /* the first mirred action's target (0 once that link is gone) */
	int mirred_eaction;   /* TCA_EGRESS_REDIR ... */
	int mirred_policy;    /* TC_ACT_STOLEN ... */
};
/* The filters on ifindex's ingress qdisc (u32 hash tables left out); caller frees *ret. */
int berth_qdisc_list_redirects(struct berth_nl *nl, int ifindex, struct berth_tc_redirect **ret,
			       size_t *ret_n, berth_error *err);

/* Create an ifb link, up, with txqueuelen 0 (as the reference plugin makes it) and the owner
 * record `alias` (NULL = none) in IFLA_IFALIAS; -EEXIST when the name is taken. */
int berth_qdisc_ifb_add(struct berth_nl *nl, const char *name, int mtu, const char *alias,
			berth_error *err);
/* The reference plugin's ifb name for (network, container): "bwp" and the start of the hex
 * SHA-512 of network+container_id, 15 characters. */
void berth_qdisc_ifb_name(const char *network, const char *container_id, char buf[IF_NAMESIZE]);

/* Can this kernel do what bandwidth needs (ifb, tbf, ingress, u32, mirred)?  Tried for real
 * in a throwaway network namespace of a child process; 0 or the first failure. */
int berth_qdisc_probe(berth_error *err);
