/* SPDX-License-Identifier: Apache-2.0 */
/* cni-convert VERSION [DEFAULT-VERSION] < result.json: parse a CNI result of any version and
 * print it in VERSION as a plugin would (pretty, as Go's MarshalIndent).  On error print the
 * error JSON and exit 1.  Used to compare our conversions with the reference plugins' output. */
#include <stdio.h>
#include <stdlib.h>

#include "berth/cleanup.h"
#include "berth/cni.h"
#include "berth/file.h"
#include "berth/json.h"

int main(int argc, char **argv)
{
	_cleanup_free_ char *in = NULL, *out = NULL;
	_cleanup_json_ json_t *j = NULL, *o = NULL;
	_cleanup_cni_result_ struct berth_cni_result *r = NULL;
	berth_error err = {0};
	size_t len;

	if (argc < 2) {
		fprintf(stderr, "usage: %s VERSION [DEFAULT-VERSION] < result.json\n", argv[0]);
		return 2;
	}
	if (berth_read_fd(0, 1 << 24, &in, &len, &err) < 0 ||
	    berth_json_parse(in, len, &j, &err) < 0 ||
	    berth_cni_result_from_json(j, argc > 2 ? argv[2] : NULL, &r, &err) < 0 ||
	    berth_cni_result_to_json(r, argv[1], &o, &err) < 0) {
		o = berth_cni_error_json(&err, NULL);
		out = o ? berth_json_dump_pretty(o) : NULL;
		if (out)
			puts(out);
		return 1;
	}
	out = berth_json_dump_pretty(o);
	if (!out)
		return 1;
	fputs(out, stdout);
	return 0;
}
