/* SPDX-License-Identifier: Apache-2.0 */
/* OCI image layout parsing as `berth storage import` does it (berth_store_oci_plan(): index.json
 * -> manifest -> config, digests checked), without applying any layer.  The input is three
 * documents separated by a line "--": index.json, the manifest blob, the config blob.  So that
 * the fuzzer gets past the digest checks, "@M" in the index becomes the manifest's sha256 hex
 * and "@C" in the manifest the config's.  An index starting with a space asks for the ref
 * "latest" instead of the first manifest. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "berth/cleanup.h"
#include "berth/json.h"
#include "../../core/store/store-internal.h"

static char dir[64];

static void hex_of(const char *p, size_t n, char *hex)
{
	struct berth_sha256 h;

	berth_sha256_init(&h);
	berth_sha256_update(&h, p, n);
	berth_sha256_hex(&h, hex);
}

/* Write p[0..n) to path with every `mark` (2 bytes) replaced by hex (64 bytes). */
static void write_subst(const char *path, const char *p, size_t n, const char *mark,
			const char *hex, char **ret, size_t *ret_n)
{
	char *out = malloc(n * 32 + 1);
	size_t o = 0;
	int fd;

	if (!out)
		abort();
	for (size_t i = 0; i < n; i++) {
		if (mark && hex && i + 1 < n && p[i] == mark[0] && p[i + 1] == mark[1]) {
			memcpy(out + o, hex, 64);
			o += 64;
			i++;
		} else {
			out[o++] = p[i];
		}
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || (o && write(fd, out, o) != (ssize_t)o))
		abort();
	close(fd);
	if (ret) {
		*ret = out;
		*ret_n = o;
	} else {
		free(out);
	}
}

static void cleanup(void)
{
	char path[128];

	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	if (dir[0])
		(void)!system(path);
}

/* the next document: up to "\n--\n" or the end */
static const char *next_doc(const char **p, const char *end, size_t *len)
{
	const char *start = *p, *sep = memmem(start, (size_t)(end - start), "\n--\n", 4);

	*len = sep ? (size_t)(sep - start) : (size_t)(end - start);
	*p = sep ? sep + 4 : end;
	return start;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size, *idx, *man, *cfg;
	char path[PATH_MAX], chex[65], mhex[65], *mtext = NULL;
	size_t ni, nm, nc, mlen = 0;
	json_t *plan = NULL;
	berth_error err;

	if (size > 200000)
		return 0;
	if (!dir[0]) {
		/* a tmpfs when there is one: every run writes three files */
		snprintf(dir, sizeof(dir), "%s/fuzz-oci.XXXXXX",
			 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
		if (!mkdtemp(dir))
			abort();
		atexit(cleanup);
		snprintf(path, sizeof(path), "%s/blobs", dir);
		mkdir(path, 0700);
		snprintf(path, sizeof(path), "%s/blobs/sha256", dir);
		mkdir(path, 0700);
		snprintf(path, sizeof(path), "%s/oci-layout", dir);
		write_subst(path, "{\"imageLayoutVersion\":\"1.0.0\"}", 30, NULL, NULL, NULL, NULL);
	}
	idx = next_doc(&p, end, &ni);
	man = next_doc(&p, end, &nm);
	cfg = next_doc(&p, end, &nc);

	hex_of(cfg, nc, chex);
	snprintf(path, sizeof(path), "%s/blobs/sha256/%s", dir, chex);
	write_subst(path, cfg, nc, NULL, NULL, NULL, NULL);
	snprintf(path, sizeof(path), "%s/blobs/sha256/m", dir);
	write_subst(path, man, nm, "@C", chex, &mtext, &mlen);
	hex_of(mtext, mlen, mhex);
	free(mtext);
	{
		char to[PATH_MAX];
		snprintf(to, sizeof(to), "%s/blobs/sha256/%s", dir, mhex);
		rename(path, to);
	}
	snprintf(path, sizeof(path), "%s/index.json", dir);
	write_subst(path, idx, ni, "@M", mhex, NULL, NULL);

	err.msg[0] = '\0';
	int r = berth_store_oci_plan(dir, ni && idx[0] == ' ' ? "latest" : NULL, &plan, &err);
	if (getenv("FUZZ_SHOW_OUTPUT")) {
		char *s = plan ? json_dumps(plan, JSON_COMPACT) : NULL;
		fprintf(stderr, "plan: %d %s %s\n", r, s ? s : "", r < 0 ? err.msg : "");
		free(s);
	}
	if (r == 0) {
		/* what import relies on: every layer has a blob path inside the layout and two
		 * well-formed hex digests */
		json_t *l;
		size_t i;
		json_array_foreach(json_object_get(plan, "layers"), i, l) {
			const char *b = json_string_value(json_object_get(l, "blob"));
			if (!b || strncmp(b, dir, strlen(dir)) != 0 || strstr(b, "/../") ||
			    strlen(json_string_value(json_object_get(l, "blobHex"))) != 64 ||
			    strlen(json_string_value(json_object_get(l, "diffHex"))) != 64)
				__builtin_trap();
		}
		json_decref(plan);
	}
	/* the blobs of this input go; the layout stays */
	snprintf(path, sizeof(path), "%s/blobs/sha256", dir);
	{
		_cleanup_closedir_ DIR *d = opendir(path);
		for (struct dirent *de; d && (de = readdir(d));)
			if (de->d_name[0] != '.')
				unlinkat(dirfd(d), de->d_name, 0);
	}
	return 0;
}
