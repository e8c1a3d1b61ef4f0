/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stddef.h>

#include "berth/error.h"
#include "berth/ip.h"
#include "berth/nl.h"

/* Policy routing rules (RTM_NEWRULE/DELRULE): "from SRC [to DST] lookup TABLE". */

struct berth_rule {
	int family;             /* AF_INET or AF_INET6 */
	struct berth_ipnet src; /* family 0 = any source */
	struct berth_ipnet dst; /* family 0 = any destination */
	int table;              /* 0 = unset */
	int priority;           /* -1 = let the kernel choose (just above the first existing) */
	int action;             /* FR_ACT_*, 0 = FR_ACT_TO_TBL */
	int protocol;           /* RTPROT_*, 0 = none */
};

/* A rule with every optional field unset. */
void berth_rule_init(struct berth_rule *r, int family);
/* -EEXIST when an identical rule exists. */
int berth_rule_add(struct berth_nl *nl, const struct berth_rule *r, berth_error *err);
/* Delete the first rule matching every field that is set; -ENOENT when none does. */
int berth_rule_del(struct berth_nl *nl, const struct berth_rule *r, berth_error *err);
/* Every rule of family (0 = both), the kernel's defaults included; caller frees *ret. */
int berth_rule_list(struct berth_nl *nl, int family, struct berth_rule **ret, size_t *ret_n,
		    berth_error *err);
