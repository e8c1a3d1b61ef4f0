/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include "cli.h"

int cli_inspect(struct cli *c, int argc, char **argv)
{
	fprintf(stderr, "berth inspect: not yet\n");
	return 2;
}
