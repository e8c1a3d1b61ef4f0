/* SPDX-License-Identifier: Apache-2.0 */
/* Importing layers: OCI image layouts (every digest verified) and plain tarballs. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "berth/cleanup.h"
#include "berth/fault.h"
#include "berth/file.h"
#include "berth/json.h"
#include "berth/log.h"
#include "berth/storage.h"
#include "berth/store.h"
#include "storage-int.h"

/* The file goes to the driver through a pipe, so the bytes are hashed on the way (one read)
 * and the progress is ours to show. */
struct pump {
	int in, out;
	const char *label;
	bool progress;
	uint64_t total, done;
	struct berth_sha256 h;
	int err;
};

static void *pump_run(void *arg)
{
	struct pump *p = arg;
	static char buf[1 << 17];
	struct timespec last = { 0 }, now;
	ssize_t n;

	while ((n = read(p->in, buf, sizeof(buf))) > 0) {
		berth_sha256_update(&p->h, buf, (size_t)n);
		if (berth_write_all(p->out, buf, (size_t)n) < 0) {
			p->err = errno ? errno : EPIPE;
			break;
		}
		p->done += (uint64_t)n;
		if (p->progress) {
			clock_gettime(CLOCK_MONOTONIC, &now);
			if (now.tv_sec != last.tv_sec || p->done == p->total) {
				fprintf(stderr, "\r  %s  %6.1f / %.1f MB", p->label, p->done / 1e6,
					p->total / 1e6);
				last = now;
			}
		}
	}
	if (n < 0)
		p->err = errno;
	/* a driver that stopped reading early gets EOF; ours is the only write end */
	close(p->out);
	p->out = -1;
	return NULL;
}

int berth_store_apply_file(struct berth_store *s, const char *id, const char *parent,
			   const char *path, const char *label, char *ret_hex, uint64_t *ret_size,
			   berth_error *err)
{
	_cleanup_json_ json_t *args = NULL, *res = NULL, *ex = NULL;
	_cleanup_close_ int in = -1;
	struct pump p = { .in = -1, .out = -1, .label = label };
	int pfd[2];
	pthread_t th;
	struct stat st;
	int r;

	args = json_pack("{s:s}", "id", id);
	r = berth_stor_client_call(s->client, "EXISTS", args, -1, &ex, err);
	if (r < 0)
		return r;
	if (json_is_true(json_object_get(ex, "exists")))
		return -EEXIST; /* shared with another image: nothing to do */
	in = open(path, O_RDONLY | O_CLOEXEC);
	if (in < 0 || fstat(in, &st) < 0)
		return berth_error_errno(err, BERTH_CNI_ERR_IO, "open %s", path);
	if (parent)
		json_object_set_new(args, "parent", json_string(parent));
	r = berth_stor_client_call(s->client, "CREATE", args, -1, NULL, err);
	if (r < 0)
		return r;
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		r = berth_error_errno(err, BERTH_CNI_ERR_IO, "pipe");
		goto undo;
	}
	signal(SIGPIPE, SIG_IGN);
	p.in = in;
	p.out = pfd[1];
	p.total = (uint64_t)st.st_size;
	p.progress = s->progress && isatty(STDERR_FILENO);
	berth_sha256_init(&p.h);
	if (pthread_create(&th, NULL, pump_run, &p) != 0) {
		close(pfd[0]);
		close(pfd[1]);
		r = berth_error_set(err, BERTH_CNI_ERR_INTERNAL, EAGAIN, "pthread_create");
		goto undo;
	}
	json_object_del(args, "parent");
	r = berth_stor_client_call(s->client, "APPLY_DIFF", args, pfd[0], &res, err);
	close(pfd[0]);
	pthread_join(th, NULL);
	if (p.progress)
		fputc('\n', stderr);
	if (r < 0)
		goto undo; /* the driver removed the layer; REMOVE below is idempotent */
	if (p.err) {
		r = berth_error_set(err, BERTH_CNI_ERR_IO, p.err, "reading %s: %s", path,
				    strerror(p.err));
		goto undo;
	}
	if (ret_hex)
		berth_sha256_hex(&p.h, ret_hex);
	if (ret_size)
		*ret_size = (uint64_t)json_integer_value(json_object_get(res, "size"));
	return 0;
undo:
	json_object_del(args, "parent");
	berth_stor_client_call(s->client, "REMOVE", args, -1, NULL, NULL);
	return r;
}

static int hash_file(const char *path, char *hex, berth_error *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct berth_sha256 h;
	static char buf[1 << 17];
	ssize_t n;

	if (fd < 0)
		return berth_error_errno(err, BERTH_CNI_ERR_IO, "open %s", path);
	berth_sha256_init(&h);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		berth_sha256_update(&h, buf, (size_t)n);
	if (n < 0)
		return berth_error_errno(err, BERTH_CNI_ERR_IO, "read %s", path);
	berth_sha256_hex(&h, hex);
	return 0;
}

static void chain_id(const char *parent, const char *diff_hex, char *out)
{
	char buf[256];

	if (!parent) {
		memcpy(out, diff_hex, 65);
		return;
	}
	snprintf(buf, sizeof(buf), "sha256:%s sha256:%s", parent, diff_hex);
	berth_sha256_str(buf, out);
}

/* One layer: apply unless the chain id exists, then record it. */
static int import_layer(struct berth_store *s, const char *parent, const char *path,
			const char *diff_hex, const char *blob_hex, const char *label,
			char *ret_chain, berth_error *err)
{
	_cleanup_json_ json_t *rec = NULL;
	char got[65] = "";
	uint64_t size = 0;
	int r;

	chain_id(parent, diff_hex, ret_chain);
	/* Our record is written only after the digest check: a layer in the driver without one
	 * is what an import killed in between left, unverified.  It goes and is applied again
	 * (REMOVE of an id the driver does not have succeeds). */
	if (berth_store_rec_load(s, "layers", ret_chain, &rec, NULL) == -ENOENT) {
		json_t *a = json_pack("{s:s}", "id", ret_chain);
		berth_stor_client_call(s->client, "REMOVE", a, -1, NULL, NULL);
		json_decref(a);
	}
	json_decref(rec);
	rec = NULL;
	r = berth_store_apply_file(s, ret_chain, parent, path, label, got, &size, err);
	if (r == -EEXIST) {
		if (s->progress && isatty(STDERR_FILENO))
			fprintf(stderr, "  %s  already present\n", label);
		return 0;
	}
	if (r < 0)
		return r;
	BERTH_FAULT_POINT("core-import-after-apply");
	if (blob_hex && !STREQ(got, blob_hex)) {
		json_t *a = json_pack("{s:s}", "id", ret_chain);
		berth_stor_client_call(s->client, "REMOVE", a, -1, NULL, NULL);
		json_decref(a);
		return berth_error_set(err, BERTH_CNI_ERR_DECODE, EBADMSG,
				       "%s: digest mismatch: sha256:%s, expected sha256:%s", path,
				       got, blob_hex);
	}
	rec = json_pack("{s:s,s:s,s:s,s:I,s:s}", "id", ret_chain, "diffID", "", "digest", "",
			"size", (json_int_t)size, "source", path);
	json_object_set_new(rec, "diffID", json_sprintf("sha256:%s", diff_hex));
	json_object_set_new(rec, "digest", json_sprintf("sha256:%s", got));
	if (parent)
		json_object_set_new(rec, "parent", json_string(parent));
	return berth_store_rec_save(s, "layers", ret_chain, rec, err);
}

int berth_store_import_tars(struct berth_store *s, const char *name, char *const *tars, size_t n,
			    json_t **ret, berth_error *err)
{
	_cleanup_json_ json_t *layers = json_array();
	char prev[65] = "", chain[65], hex[65], label[128];
	int r;

	if ((r = berth_store_lock(s, err)) < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		/* the id must be known before applying: hash first (the diffID when the tar is
		 * uncompressed, as layer tarballs from `berth storage diff` are) */
		r = hash_file(tars[i], hex, err);
		if (r < 0)
			return r;
		snprintf(label, sizeof(label), "layer %zu/%zu sha256:%.12s", i + 1, n, hex);
		r = import_layer(s, *prev ? prev : NULL, tars[i], hex, hex, label, chain, err);
		if (r < 0)
			return berth_error_prefix(err, "%s", tars[i]);
		json_array_append_new(layers, json_string(chain));
		memcpy(prev, chain, sizeof(prev));
	}
	BERTH_FAULT_POINT("core-import-before-image");
	r = berth_store_save_image(s, name, layers, NULL, err);
	if (r < 0)
		return r;
	*ret = json_pack("{s:s,s:O}", "image", name, "layers", layers);
	return 0;
}

/* blobs/<alg>/<hex> of a descriptor, digest checked to be sha256 and well formed. */
static int blob_path(const char *dir, json_t *desc, char *path, size_t len, char *hex,
		     berth_error *err)
{
	const char *d = json_string_value(json_object_get(desc, "digest"));

	if (!d || strncmp(d, "sha256:", 7) || strlen(d) != 71 || strspn(d + 7, "0123456789abcdef") != 64)
		return berth_error_set(err, BERTH_CNI_ERR_DECODE, EBADMSG,
				       "unsupported or malformed digest \"%s\"", d ? d : "");
	memcpy(hex, d + 7, 65);
	snprintf(path, len, "%s/blobs/sha256/%s", dir, hex);
	return 0;
}

/* Load a JSON blob and verify its digest. */
static int load_blob(const char *dir, json_t *desc, json_t **ret, berth_error *err)
{
	char path[PATH_MAX], hex[65], got[65];
	int r;

	if ((r = blob_path(dir, desc, path, sizeof(path), hex, err)) < 0 ||
	    (r = hash_file(path, got, err)) < 0)
		return r;
	if (!STREQ(hex, got))
		return berth_error_set(err, BERTH_CNI_ERR_DECODE, EBADMSG,
				       "%s: digest mismatch (sha256:%s)", path, got);
	return berth_json_load_file(path, ret, err);
}

int berth_store_oci_plan(const char *dir, const char *ref, json_t **ret, berth_error *err)
{
	_cleanup_json_ json_t *index = NULL, *layout = NULL, *manifest = NULL, *config = NULL;
	_cleanup_json_ json_t *layers_out = json_array();
	char path[PATH_MAX];
	json_t *mdesc = NULL, *m, *layers, *diff_ids;
	const char *mdigest;
	size_t i, n;
	int r;

	snprintf(path, sizeof(path), "%s/oci-layout", dir);
	if ((r = berth_json_load_file(path, &layout, err)) < 0)
		return berth_error_prefix(err, "not an OCI image layout");
	snprintf(path, sizeof(path), "%s/index.json", dir);
	if ((r = berth_json_load_file(path, &index, err)) < 0)
		return r;
	json_array_foreach(json_object_get(index, "manifests"), i, m) {
		const char *rn = json_string_value(json_object_get(
			json_object_get(m, "annotations"), "org.opencontainers.image.ref.name"));
		if (!ref || (rn && STREQ(rn, ref))) {
			mdesc = m;
			if (!ref && rn)
				ref = rn;
			break;
		}
	}
	if (!mdesc)
		return berth_error_set(err, BERTH_CNI_ERR_UNKNOWN_CONTAINER, ENOENT,
				       "%s: no manifest%s%s", dir, ref ? " named " : "",
				       ref ? ref : "");
	if ((r = load_blob(dir, mdesc, &manifest, err)) < 0)
		return berth_error_prefix(err, "manifest");
	if (json_object_get(manifest, "manifests"))
		return berth_error_set(err, BERTH_STOR_ERR_NOT_SUPPORTED, EOPNOTSUPP,
				       "%s: nested image index (multi-platform) not supported; "
				       "export a single platform",
				       dir);
	if ((r = load_blob(dir, json_object_get(manifest, "config"), &config, err)) < 0)
		return berth_error_prefix(err, "config");
	layers = json_object_get(manifest, "layers");
	diff_ids = json_object_get(json_object_get(config, "rootfs"), "diff_ids");
	n = json_array_size(layers);
	if (n != json_array_size(diff_ids))
		return berth_error_set(err, BERTH_CNI_ERR_DECODE, EBADMSG,
				       "manifest has %zu layers, config %zu diff_ids", n,
				       json_array_size(diff_ids));
	for (i = 0; i < n; i++) {
		char bpath[PATH_MAX], bhex[65], dhex[65];
		json_t *did = json_pack("{s:O}", "digest", json_array_get(diff_ids, i));
		r = blob_path(dir, json_array_get(layers, i), bpath, sizeof(bpath), bhex, err);
		if (r == 0) {
			char ignored[PATH_MAX];
			r = blob_path(dir, did, ignored, sizeof(ignored), dhex, err);
		}
		json_decref(did);
		if (r < 0)
			return r;
		json_array_append_new(layers_out, json_pack("{s:s,s:s,s:s}", "blob", bpath,
							    "blobHex", bhex, "diffHex", dhex));
	}
	mdigest = json_string_value(json_object_get(mdesc, "digest"));
	*ret = json_pack("{s:O,s:s}", "layers", layers_out, "digest", mdigest ? mdigest : "");
	if (ref)
		json_object_set_new(*ret, "ref", json_string(ref));
	return 0;
}

int berth_store_import_oci(struct berth_store *s, const char *dir, const char *ref,
			   const char *name, json_t **ret, berth_error *err)
{
	_cleanup_json_ json_t *plan = NULL;
	_cleanup_json_ json_t *ids = json_array();
	char prev[65] = "", chain[65], label[128], base[256];
	json_t *layers, *l;
	const char *mdigest;
	size_t i, n;
	int r;

	if ((r = berth_store_lock(s, err)) < 0)
		return r;
	/* everything is parsed and every digest checked before the first layer is applied */
	if ((r = berth_store_oci_plan(dir, ref, &plan, err)) < 0)
		return r;
	layers = json_object_get(plan, "layers");
	n = json_array_size(layers);
	json_array_foreach(layers, i, l) {
		const char *bhex = json_string_value(json_object_get(l, "blobHex"));

		snprintf(label, sizeof(label), "layer %zu/%zu sha256:%.12s", i + 1, n, bhex);
		r = import_layer(s, *prev ? prev : NULL,
				 json_string_value(json_object_get(l, "blob")),
				 json_string_value(json_object_get(l, "diffHex")), bhex, label,
				 chain, err);
		if (r < 0)
			return r;
		json_array_append_new(ids, json_string(chain));
		memcpy(prev, chain, sizeof(prev));
	}
	if (!name)
		name = json_string_value(json_object_get(plan, "ref"));
	if (!name) {
		const char *b = strrchr(dir, '/');
		snprintf(base, sizeof(base), "%s", b && b[1] ? b + 1 : dir);
		name = base;
	}
	mdigest = json_string_value(json_object_get(plan, "digest"));
	BERTH_FAULT_POINT("core-import-before-image");
	r = berth_store_save_image(s, name, ids, *mdigest ? mdigest : NULL, err);
	if (r < 0)
		return r;
	*ret = json_pack("{s:s,s:s,s:O}", "image", name, "digest", mdigest, "layers", ids);
	return 0;
}
