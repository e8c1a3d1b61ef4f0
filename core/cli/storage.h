/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <jansson.h>

#include "berth/error.h"

/* `berth storage ...`: argv[0] is "storage".  Returns the exit code. */
int berth_cli_storage(int argc, char **argv);
/* The storage side of `berth inspect CONTAINER`: 0 with *ret NULL when the container has no
 * storage on this host. */
int berth_cli_storage_inspect(const char *container, json_t **ret, berth_error *err);
