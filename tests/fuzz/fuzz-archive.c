/* SPDX-License-Identifier: Apache-2.0 */
/* Layer apply on arbitrary bytes: no crash, and nothing appears outside the layer root (a
 * sentinel directory beside it must stay empty).  Seeds: the hostile corpus. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "berth/archive.h"
#include "berth/cleanup.h"

static char base[64];
static int basefd = -1;

static int count_entries(const char *name)
{
	_cleanup_closedir_ DIR *d = NULL;
	int fd = openat(basefd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int n = 0;

	if (fd < 0 || !(d = fdopendir(fd)))
		return -1;
	for (struct dirent *de; (de = readdir(d));)
		n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
	return n;
}

static void cleanup(void)
{
	if (basefd >= 0) {
		berth_archive_remove_tree_at(basefd, "root", NULL);
		berth_archive_remove_tree_at(basefd, "outside", NULL);
		rmdir(base);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct berth_archive_apply_opts o = {
		.max_total_size = 16 << 20, .max_entries = 10000, .refuse_devices = true,
		.ignore_chown_errors = true,
		.whiteout = size ? (enum berth_archive_whiteout)(data[0] % 3) : 0,
	};
	_cleanup_close_ int tar = memfd_create("tar", MFD_CLOEXEC);
	_cleanup_close_ int root = -1;
	berth_error err;

	if (basefd < 0) {
		snprintf(base, sizeof(base), "/tmp/fuzz-archive.XXXXXX");
		if (!mkdtemp(base))
			abort();
		basefd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		atexit(cleanup);
		if (mkdirat(basefd, "outside", 0755) < 0)
			abort();
	}
	if (tar < 0 || (size && write(tar, data, size) != (ssize_t)size))
		abort();
	lseek(tar, 0, SEEK_SET);
	berth_archive_remove_tree_at(basefd, "root", NULL);
	if (mkdirat(basefd, "root", 0755) < 0)
		abort();
	root = openat(basefd, "root", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	berth_archive_apply(root, tar, &o, NULL, &err);
	if (count_entries("outside") != 0 || count_entries(".") != 2)
		__builtin_trap(); /* something escaped the root */
	return 0;
}
