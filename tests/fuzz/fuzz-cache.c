/* SPDX-License-Identifier: Apache-2.0 */
/* libcni result cache entries (cniCacheV1, possibly written by another tool): read back from a
 * file through berth_cache_read; a corrupt entry must be an error, never a crash. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "berth/cleanup.h"
#include "berth/cache.h"
#include "berth/file.h"

static char dir[64];

static void cleanup(void)
{
	char path[192];

	snprintf(path, sizeof(path), "%s/results/net-ctr-eth0", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/results", dir);
	rmdir(path);
	rmdir(dir);
}

static void setup(void)
{
	char path[128];

	snprintf(dir, sizeof(dir), "/tmp/berth-fuzz-cache.%d", (int)getpid());
	snprintf(path, sizeof(path), "%s/results", dir);
	mkdir(dir, 0700);
	mkdir(path, 0700);
	atexit(cleanup);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct berth_core core = {.cache_dir = dir};
	struct berth_cache_entry e;
	berth_error err = {0};
	char path[192];
	int fd;

	if (!dir[0])
		setup();
	snprintf(path, sizeof(path), "%s/results/net-ctr-eth0", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || berth_write_all(fd, data, size) < 0)
		abort();
	close(fd);
	memset(&e, 0, sizeof(e));
	if (berth_cache_read(&core, "net", "ctr", "eth0", &e, &err) < 0) {
		if (!err.msg[0])
			__builtin_trap();
		return 0;
	}
	berth_cache_entry_free(&e);
	return 0;
}
