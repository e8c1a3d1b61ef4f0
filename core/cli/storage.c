/* SPDX-License-Identifier: Apache-2.0 */
/* `berth storage`: images and container root filesystems on the selected storage driver. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "berth/cleanup.h"
#include "berth/json.h"
#include "berth/store.h"
#include "cli-internal.h"

const char cli_storage_usage[] =
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
	/* every driver of the priority list: taken, failed (and how) or not tried (and why) */
	json_array_foreach(json_object_get(info, "probes"), i, v) {
		if (json_is_true(json_object_get(v, "ok")))
			printf("probe:    %-13s taken: %s\n", js(v, "driver"), js(v, "reason"));
		else if (json_is_true(json_object_get(v, "skipped")))
			printf("probe:    %-13s %s\n", js(v, "driver"), js(v, "reason"));
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

static int s_info(struct cli *c, struct berth_store *s, char **pos, int npos, berth_error *err)
{
	_cleanup_json_ json_t *res = NULL;
	int r = berth_store_info(s, &res, err);

	if (r < 0)
		return r;
	if (c->json)
		cli_print_json(res);
	else
		print_info(res);
	return 0;
}

static int s_import(struct cli *c, struct berth_store *s, char **pos, int npos, berth_error *err)
{
	_cleanup_json_ json_t *res = NULL;
	struct stat st;
	int r;

	if (stat(pos[0], &st) == 0 && S_ISDIR(st.st_mode)) {
		r = berth_store_import_oci(s, pos[0], c->ref, c->name, &res, err);
	} else {
		if (!c->name) {
			fprintf(stderr, "berth storage import: tarballs need --name\n");
			return 2;
		}
		r = berth_store_import_tars(s, c->name, pos, (size_t)npos, &res, err);
	}
	if (r < 0)
		return r;
	if (c->json)
		cli_print_json(res);
	else
		printf("%s: %zu layers\n", js(res, "image"),
		       json_array_size(json_object_get(res, "layers")));
	return 0;
}

static int s_create(struct cli *c, struct berth_store *s, char **pos, int npos, berth_error *err)
{
	_cleanup_json_ json_t *res = NULL;
	int r = berth_store_create(s, pos[0], c->name, &res, err);

	if (r < 0)
		return r;
	if (c->json)
		cli_print_json(res);
	else
		printf("%s\n", js(res, "id"));
	return 0;
}

static int s_mount(struct cli *c, struct berth_store *s, char **pos, int npos, berth_error *err)
{
	_cleanup_json_ json_t *res = NULL;
	int r = berth_store_mount(s, pos[0], c->ro, &res, err);

	if (r < 0)
		return r;
	if (c->json)
		cli_print_json(res);
	else
		printf("%s\n", js(res, "path"));
	return 0;
}

static int s_unmount(struct cli *c, struct berth_store *s, char **pos, int npos, berth_error *err)
{
	_cleanup_json_ json_t *res = NULL;
	int r = berth_store_unmount(s, pos[0], c->force, &res, err);

	if (r < 0)
		return r;
	if (c->json)
		cli_print_json(res);
	return 0;
}

static int s_rm(struct cli *c, struct berth_store *s, char **pos, int npos, berth_error *err)
{
	for (int i = 0; i < npos; i++) {
		int r = berth_store_remove(s, pos[i], c->force, err);
		if (r < 0)
			return r;
	}
	return 0;
}

static int s_rmi(struct cli *c, struct berth_store *s, char **pos, int npos, berth_error *err)
{
	for (int i = 0; i < npos; i++) {
		int r = berth_store_remove_image(s, pos[i], err);
		if (r < 0)
			return r;
	}
	return 0;
}

static int s_gc(struct cli *c, struct berth_store *s, char **pos, int npos, berth_error *err)
{
	_cleanup_json_ json_t *res = NULL;
	size_t i;
	json_t *v;
	int r = berth_store_gc(s, &res, err);

	if (r < 0)
		return r;
	if (c->json) {
		cli_print_json(res);
	} else {
		json_array_foreach(json_object_get(res, "removed"), i, v)
			printf("removed %s\n", json_string_value(v));
		json_array_foreach(json_object_get(res, "errors"), i, v)
			fprintf(stderr, "berth storage gc: %s\n", json_string_value(v));
	}
	return json_array_size(json_object_get(res, "errors")) ? 1 : 0;
}

static int s_ls(struct cli *c, struct berth_store *s, char **pos, int npos, berth_error *err)
{
	_cleanup_json_ json_t *res = NULL;
	int r = berth_store_list(s, &res, err);

	if (r < 0)
		return r;
	if (c->json)
		cli_print_json(res);
	else
		print_ls(res);
	return 0;
}

static int s_diff(struct cli *c, struct berth_store *s, char **pos, int npos, berth_error *err)
{
	_cleanup_json_ json_t *res = NULL;
	_cleanup_close_ int fd = -1;

	if (c->output) {
		fd = open(c->output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0) {
			fprintf(stderr, "berth storage diff: %s: %m\n", c->output);
			return 1;
		}
	} else if (isatty(STDOUT_FILENO)) {
		fprintf(stderr, "berth storage diff: not writing a tar to a terminal (-o FILE)\n");
		return 2;
	}
	return berth_store_diff(s, pos[0], c->output ? fd : STDOUT_FILENO, &res, err);
}

static int s_commit(struct cli *c, struct berth_store *s, char **pos, int npos, berth_error *err)
{
	_cleanup_json_ json_t *res = NULL;
	int r = berth_store_commit(s, pos[0], pos[1], &res, err);

	if (r < 0)
		return r;
	if (c->json)
		cli_print_json(res);
	else
		printf("%s: layer %s\n", js(res, "image"), js(res, "layer"));
	return 0;
}

static int s_inspect(struct cli *c, struct berth_store *s, char **pos, int npos, berth_error *err)
{
	_cleanup_json_ json_t *res = NULL;
	int r = berth_store_inspect(s, pos[0], &res, err);

	if (r == -ENOENT && !err->msg[0])
		return berth_error_set(err, BERTH_ERR_NOT_FOUND, ENOENT,
				       "no container rootfs \"%s\"", pos[0]);
	if (r < 0)
		return r;
	cli_print_json(res);
	return 0;
}

/* A handler returns 0, a positive exit code (a usage error it printed), or -errno with *err. */
static const struct storage_command {
	const char *name;
	int min_args;
	int (*run)(struct cli *c, struct berth_store *s, char **pos, int npos, berth_error *err);
} storage_commands[] = {
	{ "info", 0, s_info },       { "import", 1, s_import }, { "create", 1, s_create },
	{ "mount", 1, s_mount },     { "unmount", 1, s_unmount }, { "umount", 1, s_unmount },
	{ "rm", 1, s_rm },           { "rmi", 1, s_rmi },       { "gc", 0, s_gc },
	{ "ls", 0, s_ls },           { "diff", 1, s_diff },     { "commit", 2, s_commit },
	{ "inspect", 1, s_inspect }, { NULL, 0, NULL },
};

int cli_storage(struct cli *c, int argc, char **argv)
{
	_cleanup_store_ struct berth_store *s = NULL;
	const struct storage_command *cmd;
	berth_error err = { 0 };
	char **pos;
	int npos, oi, r;

	if (getenv("BERTH_JSON"))
		c->json = true;
	r = cli_parse(c, argc, argv, &oi);
	if (r)
		return r == CLI_HELP ? 0 : r;
	if (oi >= argc) {
		fputs(cli_storage_usage, stderr);
		return 2;
	}
	pos = argv + oi + 1;
	npos = argc - oi - 1;
	if (STREQ(argv[oi], "help")) {
		fputs(cli_storage_usage, stdout);
		return 0;
	}
	for (cmd = storage_commands; cmd->name && !STREQ(cmd->name, argv[oi]); cmd++)
		;
	if (!cmd->name) {
		fprintf(stderr, "berth storage: unknown command \"%s\"\n", argv[oi]);
		fputs(cli_storage_usage, stderr);
		return 2;
	}
	if (npos < cmd->min_args) {
		fputs(cli_storage_usage, stderr);
		return 2;
	}
	r = berth_store_open(c->storage_config, &s, &err);
	if (r >= 0) {
		s->progress = true;
		r = cmd->run(c, s, pos, npos, &err);
	}
	if (r < 0) {
		berth_error_prefix(&err, "storage %s", cmd->name);
		return cli_fail(c, &err);
	}
	return r;
}

int cli_storage_inspect(const char *container, json_t **ret, berth_error *err)
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
