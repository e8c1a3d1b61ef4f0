// SPDX-License-Identifier: Apache-2.0
/*
 * Test and bench front end of the layer archive code.
 *   berth-archive-tool apply [-w overlay|delete|keep] [-D] [-n] [-u] ROOT TAR|-
 *   berth-archive-tool diff [-w overlay|keep] [-p PARENT [-U]] ROOT OUT|-
 *   berth-archive-tool changes [-U] ROOT PARENT|-
 * -D refuses devices, -n forces the *at walk instead of openat2, -u ignores chown errors,
 * -p exports only the changes against PARENT (-U: ROOT is an overlay upper dir).
 * On failure prints "error CODE: MSG" to stderr and exits with the protocol code.
 */
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "berth/archive.h"
#include "berth/cleanup.h"
#include "berth/error.h"
#include "berth/log.h"

static int usage(void)
{
	fprintf(stderr, "usage: berth-archive-tool apply|diff|changes [options] ROOT ARG\n");
	return 2;
}

static int fail(const berth_error *err)
{
	fprintf(stderr, "error %d: %s\n", err->code, err->msg);
	return err->code ? err->code : 1;
}

static enum berth_archive_whiteout parse_wh(const char *s)
{
	if (STREQ(s, "delete"))
		return BERTH_ARCHIVE_WHITEOUT_DELETE;
	if (STREQ(s, "keep"))
		return BERTH_ARCHIVE_WHITEOUT_KEEP;
	return BERTH_ARCHIVE_WHITEOUT_OVERLAY;
}

static const char *kind_name(enum berth_archive_change_kind k)
{
	return k == BERTH_ARCHIVE_CHANGE_ADD ? "A" : k == BERTH_ARCHIVE_CHANGE_DELETE ? "D" : "C";
}

int main(int argc, char **argv)
{
	struct berth_archive_apply_opts ao = { 0 };
	struct berth_archive_diff_opts dopts = { 0 };
	struct berth_archive_changes ch = { 0 };
	const char *cmd, *parent = NULL;
	bool upper = false;
	berth_error err = { 0 };
	int c, r;

	berth_log_init("berth-archive-tool");
	if (argc < 2)
		return usage();
	cmd = argv[1];
	optind = 2;
	while ((c = getopt(argc, argv, "w:Dnup:U")) != -1) {
		switch (c) {
		case 'w':
			ao.whiteout = dopts.whiteout = parse_wh(optarg);
			break;
		case 'D':
			ao.refuse_devices = true;
			break;
		case 'n':
			setenv("BERTH_ARCHIVE_NO_OPENAT2", "1", 1);
			break;
		case 'u':
			ao.ignore_chown_errors = true;
			break;
		case 'p':
			parent = optarg;
			break;
		case 'U':
			upper = true;
			break;
		default:
			return usage();
		}
	}
	if (argc - optind != 2)
		return usage();

	if (STREQ(cmd, "apply")) {
		struct berth_archive_apply_stats st;
		_cleanup_close_ int rootfd = open(argv[optind], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		_cleanup_close_ int tarfd = -1;

		if (rootfd < 0) {
			perror(argv[optind]);
			return 5;
		}
		tarfd = STREQ(argv[optind + 1], "-") ? dup(0)
						     : open(argv[optind + 1], O_RDONLY | O_CLOEXEC);
		if (tarfd < 0) {
			perror(argv[optind + 1]);
			return 5;
		}
		r = berth_archive_apply(rootfd, tarfd, &ao, &st, &err);
		if (r < 0)
			return fail(&err);
		printf("{\"size\":%" PRIu64 ",\"entries\":%" PRIu64 ",\"whiteouts\":%" PRIu64 "}\n",
		       st.size, st.entries, st.whiteouts);
		return 0;
	}
	if (STREQ(cmd, "diff") || STREQ(cmd, "changes")) {
		_cleanup_close_ int rootfd = open(argv[optind], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		_cleanup_close_ int pfd = -1, outfd = -1;
		bool is_diff = STREQ(cmd, "diff");
		uint64_t size = 0;

		if (rootfd < 0) {
			perror(argv[optind]);
			return 5;
		}
		if (!is_diff && !STREQ(argv[optind + 1], "-"))
			parent = argv[optind + 1];
		if (parent) {
			pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (pfd < 0) {
				perror(parent);
				return 5;
			}
		}
		if (parent || !is_diff) {
			r = berth_archive_changes(rootfd, pfd,
						  upper ? BERTH_ARCHIVE_CHANGES_OVERLAY_UPPER
							: BERTH_ARCHIVE_CHANGES_FULL,
						  false, &ch, &err);
			if (r < 0)
				return fail(&err);
		}
		if (!is_diff) {
			for (size_t i = 0; i < ch.n; i++)
				printf("%s /%s\n", kind_name(ch.v[i].kind), ch.v[i].path);
			r = berth_archive_changes_size(rootfd, &ch, &size, &err);
			berth_archive_changes_free(&ch);
			if (r < 0)
				return fail(&err);
			fprintf(stderr, "size %" PRIu64 "\n", size);
			return 0;
		}
		outfd = STREQ(argv[optind + 1], "-")
				? dup(1)
				: open(argv[optind + 1], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (outfd < 0) {
			perror(argv[optind + 1]);
			return 5;
		}
		if (parent)
			dopts.changes = &ch;
		r = berth_archive_diff(rootfd, outfd, &dopts, &size, &err);
		berth_archive_changes_free(&ch);
		if (r < 0)
			return fail(&err);
		fprintf(stderr, "size %" PRIu64 "\n", size);
		return 0;
	}
	return usage();
}
