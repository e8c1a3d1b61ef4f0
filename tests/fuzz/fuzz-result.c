/* SPDX-License-Identifier: Apache-2.0 */
/* Result / prevResult JSON of every version: parse with each default version, render in every
 * version, and check that rendering is a fixed point (render(parse(render(r, v)), v) equals
 * render(r, v)) and that a copy renders the same. */
#include <stdlib.h>
#include <string.h>

#include "berth/cleanup.h"
#include "berth/cni.h"
#include "berth/json.h"

static char *render(const struct berth_cni_result *r, const char *v)
{
	_cleanup_json_ json_t *j = NULL;
	berth_error err = {0};

	if (berth_cni_result_to_json(r, v, &j, &err) < 0)
		return NULL;
	return berth_json_dump(j);
}

static void check_version(const struct berth_cni_result *r, const struct berth_cni_result *copy,
			  const char *v)
{
	_cleanup_free_ char *a = render(r, v), *c = render(copy, v), *b = NULL;
	_cleanup_json_ json_t *j = NULL;
	_cleanup_cni_result_ struct berth_cni_result *r2 = NULL;
	berth_error err = {0};

	if (!a) {
		if (c)
			__builtin_trap(); /* copy renders where the original does not */
		return;
	}
	if (!c || strcmp(a, c) != 0)
		__builtin_trap();
	j = json_loads(a, 0, NULL);
	if (!j || berth_cni_result_from_json(j, NULL, &r2, &err) < 0)
		__builtin_trap(); /* our own output must parse */
	b = render(r2, v);
	if (!b || strcmp(a, b) != 0)
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	static const char *const defaults[] = {NULL, "0.2.0", "0.4.0", "1.1.0"};
	_cleanup_json_ json_t *j = json_loadb((const char *)data, size, 0, NULL);

	if (!j)
		return 0;
	for (size_t d = 0; d < sizeof(defaults) / sizeof(defaults[0]); d++) {
		_cleanup_cni_result_ struct berth_cni_result *r = NULL, *copy = NULL;
		berth_error err = {0};

		if (berth_cni_result_from_json(j, defaults[d], &r, &err) < 0) {
			if (!err.msg[0] || !err.code)
				__builtin_trap(); /* every rejection names its reason */
			continue;
		}
		copy = berth_cni_result_copy(r);
		if (!copy)
			__builtin_trap();
		for (const char *const *v = berth_cni_all_versions; *v; v++)
			check_version(r, copy, *v);
	}
	return 0;
}
