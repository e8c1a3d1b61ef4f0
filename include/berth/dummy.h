/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include "berth/error.h"
#include "berth/nl.h"

/* dummy links (drivers/net/dummy.c): a link with no lower device that drops what it is sent. */

/* Create the dummy link `name` in nl's netns; -EEXIST when the name is taken, -EOPNOTSUPP
 * (kernel text "Unknown device type") when the kernel has no dummy support. */
int berth_dummy_add(struct berth_nl *nl, const char *name, berth_error *err);
/* Can this kernel create a dummy link?  Tried for real in a throwaway netns of a child
 * process, so nothing of the caller's is touched. */
int berth_dummy_probe(berth_error *err);
