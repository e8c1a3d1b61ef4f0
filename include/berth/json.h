/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "berth/error.h"

/*
 * jansson stays in the parsing and printing layer.  Getters fill *ret only when the key is
 * present; a missing optional key leaves *ret untouched and returns 0; a missing required key
 * or a value of the wrong type is BERTH_ERR_INVALID_CONFIG with the key named (`what` is the
 * path prefix used in messages, e.g. "ipam.ranges[0][1]"; may be NULL).
 */

static inline void berth_json_decrefp(json_t **j)
{
	if (*j)
		json_decref(*j);
}
#define _cleanup_json_ __attribute__((cleanup(berth_json_decrefp)))

/* Parse a buffer; syntax errors are BERTH_ERR_DECODE with line and column. */
int berth_json_parse(const char *buf, size_t len, json_t **ret, berth_error *err);
/* Read and parse a whole file (code 5 on I/O error, 6 on bad JSON). */
int berth_json_load_file(const char *path, json_t **ret, berth_error *err);
/* Compact serialisation with keys in insertion order; caller frees. NULL on ENOMEM. */
char *berth_json_dump(const json_t *j);
/* Pretty (indent 4), as the reference plugins print results. */
char *berth_json_dump_pretty(const json_t *j);

/* obj[key], else the first member whose name equals key ignoring case (Go's encoding/json
 * rule, which the reference plugins decode with); NULL when there is none. */
json_t *berth_json_object_get_ci(json_t *obj, const char *key);
int berth_json_get_object(json_t *obj, const char *what, const char *key, bool required,
			  json_t **ret, berth_error *err);
int berth_json_get_array(json_t *obj, const char *what, const char *key, bool required,
			 json_t **ret, berth_error *err);
/* Empty strings count as present. */
int berth_json_get_string(json_t *obj, const char *what, const char *key, bool required,
			  const char **ret, berth_error *err);
/* Accepts true/false and the strings "true"/"false" (as libcni does for conflists). */
int berth_json_get_bool(json_t *obj, const char *what, const char *key, bool required, bool *ret,
			berth_error *err);
/* Integer in [min, max]; a float with an integral value is accepted. */
int berth_json_get_int(json_t *obj, const char *what, const char *key, bool required,
		       int64_t min, int64_t max, int64_t *ret, berth_error *err);

/* Set key to a new string only when value is non-NULL and non-empty (Go omitempty). */
int berth_json_set_str_nonempty(json_t *obj, const char *key, const char *value);
