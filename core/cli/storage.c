/* SPDX-License-Identifier: Apache-2.0 */
/* `berth storage`: images and container root filesystems on the selected storage driver. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "berth/cleanup.h"
#include "berth/json.h"
#include "berth/log.h"
#include "berth/store.h"
#include "storage.h"

static const char usage[] =
	"usage: berth storage [--config FILE] [--json] COMMAND ...\n"
	"\n"
	"  info                          config, the driver picked and why, its status\n"
	"  import [--name N] [--ref R] OCI_LAYOUT_DIR\n"
	"  import --name N TAR...        layers bottom first (tar, tar.gz, tar.zst)\n"
	"  create IMAGE [--name ID]      a container rootfs (writable layer) on IMAGE\n"
	"  mount ID [--ro]               print the mounted rootfs path\n"
	"  unmount ID [--force]\n"
	"  rm ID [--force]               remove a container rootfs (--force: unmount first)\n"
	"  rmi IMAGE                     remove an image and its unused layers\n"
	"  ls                            images, containers, layers\n"
	"  gc                            remove layers no image or container uses\n"
	"  diff ID [-o FILE]             the writable layer as a tar (stdout if not a terminal)\n"
	"  commit ID IMAGE               the writable layer as a new layer of a new image\n"
	"  inspect ID                    layer chain, digests, sizes, the mount\n"
	"\n"
	"config: --config, $BERTH_STORAGE_CONFIG, " BERTH_SYSCONFDIR "/berth/storage.json, or the\n"
	"default (driver auto, root " BERTH_STORE_DEFAULT_ROOT ").\n";

static void print_json(json_t *j)
{
	_cleanup_free_ char *s = berth_json_dump_pretty(j);
	if (s)
		printf("%s\n", s);
}

static int fail(const char *what, berth_error *err)
{
	fprintf(stderr, "berth storage %s: %s%s%s\n", what, err->msg, err->details[0] ? ": " : "",
		err->details);
	return 1;
}

static const char *js(json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));
	return v ? v : "";
}

static void print_info(json_t *info)
{
	size_t i;
	json_t *v;

	printf("config:   %s\n", js(info, "config"));
	printf("driver:   %s (%s)\n", js(info, "driver"), js(info, "driverPath"));
	printf("why:      %s\n", js(info, "reason"));
	printf("root:     %s\nrunRoot:  %s\n", js(info, "root"), js(info, "runRoot"));
	json_array_foreach(json_object_get(info, "probes"), i, v) {
		if (json_is_true(json_object_get(v, "ok")))
			printf("probe:    %-13s works here\n", js(v, "driver"));
		else
			printf("probe:    %-13s no (code %lld: %s)\n", js(v, "driver"),
			       (long long)json_integer_value(json_object_get(v, "code")),
			       js(v, "msg"));
	}
	json_array_foreach(json_object_get(json_object_get(info, "status"), "pairs"), i, v)
		printf("status:   %s: %s\n", json_string_value(json_array_get(v, 0)),
		       json_string_value(json_array_get(v, 1)));
}

static void print_ls(json_t *ls)
{
	size_t i;
	json_t *v;

	printf("driver %s\nIMAGE                            LAYERS  TOP\n", js(ls, "driver"));
	json_array_foreach(json_object_get(ls, "images"), i, v)
		printf("%-32s %6zu  %.12s\n", js(v, "name"), json_array_size(json_object_get(v, "layers")),
		       js(v, "top"));
	printf("\nCONTAINER        IMAGE                            LAYER\n");
	json_array_foreach(json_object_get(ls, "containers"), i, v)
		printf("%-16s %-32s %s\n", js(v, "id"), js(v, "image"), js(v, "layer"));
	printf("\n%zu layers in the driver\n", json_array_size(json_object_get(ls, "layers")));
}

int berth_cli_storage(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' }, { "json", no_argument, NULL, 'j' },
		{ "name", required_argument, NULL, 'n' },   { "ref", required_argument, NULL, 'r' },
		{ "ro", no_argument, NULL, 'R' },	    { "force", no_argument, NULL, 'f' },
		{ "output", required_argument, NULL, 'o' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	_cleanup_store_ struct berth_store *s = NULL;
	_cleanup_json_ json_t *res = NULL;
	const char *config = NULL, *name = NULL, *ref = NULL, *output = NULL, *cmd;
	bool json = false, ro = false, force = false;
	berth_error err = { 0 };
	char **pos;
	int npos, c, r;

	berth_log_init("berth");
	if (getenv("BERTH_JSON"))
		json = true;
	optind = 0; /* GNU getopt: reinitialise, main() may have parsed before */
	/* options anywhere on the line (GNU getopt permutes the operands to the end) */
	while ((c = getopt_long(argc, argv, "c:jn:r:fo:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': config = optarg; break;
		case 'j': json = true; break;
		case 'n': name = optarg; break;
		case 'r': ref = optarg; break;
		case 'R': ro = true; break;
		case 'f': force = true; break;
		case 'o': output = optarg; break;
		case 'h': fputs(usage, stdout); return 0;
		default: fputs(usage, stderr); return 2;
		}
	}
	if (optind >= argc) {
		fputs(usage, stderr);
		return 2;
	}
	cmd = argv[optind++];
	pos = argv + optind;
	npos = argc - optind;

#define NEED(n)                                                                                    \
	do {                                                                                       \
		if (npos < (n)) {                                                                  \
			fputs(usage, stderr);                                                      \
			return 2;                                                                  \
		}                                                                                  \
	} while (0)

	if (STREQ(cmd, "help")) {
		fputs(usage, stdout);
		return 0;
	}
	r = berth_store_open(config, &s, &err);
	if (r < 0)
		return fail(cmd, &err);
	s->progress = true;

	if (STREQ(cmd, "info")) {
		r = berth_store_info(s, &res, &err);
		if (r < 0)
			return fail(cmd, &err);
		if (json)
			print_json(res);
		else
			print_info(res);
		return 0;
	}
	if (STREQ(cmd, "import")) {
		struct stat st;
		NEED(1);
		if (stat(pos[0], &st) == 0 && S_ISDIR(st.st_mode)) {
			r = berth_store_import_oci(s, pos[0], ref, name, &res, &err);
		} else {
			if (!name) {
				fprintf(stderr, "berth storage import: tarballs need --name\n");
				return 2;
			}
			r = berth_store_import_tars(s, name, pos, (size_t)npos, &res, &err);
		}
		if (r < 0)
			return fail(cmd, &err);
		if (json)
			print_json(res);
		else
			printf("%s: %zu layers\n", js(res, "image"),
			       json_array_size(json_object_get(res, "layers")));
		return 0;
	}
	if (STREQ(cmd, "create")) {
		NEED(1);
		r = berth_store_create(s, pos[0], name, &res, &err);
		if (r < 0)
			return fail(cmd, &err);
		if (json)
			print_json(res);
		else
			printf("%s\n", js(res, "id"));
		return 0;
	}
	if (STREQ(cmd, "mount")) {
		NEED(1);
		r = berth_store_mount(s, pos[0], ro, &res, &err);
		if (r < 0)
			return fail(cmd, &err);
		if (json)
			print_json(res);
		else
			printf("%s\n", js(res, "path"));
		return 0;
	}
	if (STREQ(cmd, "unmount") || STREQ(cmd, "umount")) {
		NEED(1);
		r = berth_store_unmount(s, pos[0], force, &res, &err);
		if (r < 0)
			return fail(cmd, &err);
		if (json)
			print_json(res);
		return 0;
	}
	if (STREQ(cmd, "rm")) {
		NEED(1);
		for (int i = 0; i < npos; i++)
			if (berth_store_remove(s, pos[i], force, &err) < 0)
				return fail(cmd, &err);
		return 0;
	}
	if (STREQ(cmd, "rmi")) {
		NEED(1);
		for (int i = 0; i < npos; i++)
			if (berth_store_remove_image(s, pos[i], &err) < 0)
				return fail(cmd, &err);
		return 0;
	}
	if (STREQ(cmd, "gc")) {
		size_t i;
		json_t *v;
		r = berth_store_gc(s, &res, &err);
		if (r < 0)
			return fail(cmd, &err);
		if (json) {
			print_json(res);
		} else {
			json_array_foreach(json_object_get(res, "removed"), i, v)
				printf("removed %s\n", json_string_value(v));
			json_array_foreach(json_object_get(res, "errors"), i, v)
				fprintf(stderr, "berth storage gc: %s\n", json_string_value(v));
		}
		return json_array_size(json_object_get(res, "errors")) ? 1 : 0;
	}
	if (STREQ(cmd, "ls")) {
		r = berth_store_list(s, &res, &err);
		if (r < 0)
			return fail(cmd, &err);
		if (json)
			print_json(res);
		else
			print_ls(res);
		return 0;
	}
	if (STREQ(cmd, "diff")) {
		_cleanup_close_ int fd = -1;
		NEED(1);
		if (output) {
			fd = open(output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
			if (fd < 0) {
				fprintf(stderr, "berth storage diff: %s: %m\n", output);
				return 1;
			}
		} else if (isatty(STDOUT_FILENO)) {
			fprintf(stderr, "berth storage diff: not writing a tar to a terminal (-o FILE)\n");
			return 2;
		}
		r = berth_store_diff(s, pos[0], output ? fd : STDOUT_FILENO, &res, &err);
		if (r < 0)
			return fail(cmd, &err);
		return 0;
	}
	if (STREQ(cmd, "commit")) {
		NEED(2);
		r = berth_store_commit(s, pos[0], pos[1], &res, &err);
		if (r < 0)
			return fail(cmd, &err);
		if (json)
			print_json(res);
		else
			printf("%s: layer %s\n", js(res, "image"), js(res, "layer"));
		return 0;
	}
	if (STREQ(cmd, "inspect")) {
		NEED(1);
		r = berth_store_inspect(s, pos[0], &res, &err);
		if (r < 0) {
			if (r == -ENOENT && !err.msg[0])
				berth_error_set(&err, BERTH_CNI_ERR_UNKNOWN_CONTAINER, ENOENT,
						"no container rootfs \"%s\"", pos[0]);
			return fail(cmd, &err);
		}
		print_json(res);
		return 0;
	}
	fprintf(stderr, "berth storage: unknown command \"%s\"\n", cmd);
	fputs(usage, stderr);
	return 2;
}

int berth_cli_storage_inspect(const char *container, json_t **ret, berth_error *err)
{
	_cleanup_store_ struct berth_store *s = NULL;
	struct berth_stor_config *cfg = NULL;
	char path[PATH_MAX];
	int r;

	*ret = NULL;
	/* Only look when this container has a rootfs record: inspect must not INIT a driver on
	 * a host that never used storage. */
	r = berth_stor_config_load(NULL, &cfg, err);
	if (r < 0)
		return r;
	snprintf(path, sizeof(path), "%s/core/containers/%s.json", cfg->root, container);
	berth_stor_config_free(cfg);
	if (!berth_stor_id_valid(container) || access(path, F_OK) < 0)
		return 0;
	r = berth_store_open(NULL, &s, err);
	if (r < 0)
		return r;
	return berth_store_inspect(s, container, ret, err);
}
