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

#include <archive.h>
#include <archive_entry.h>

#include "berth/cleanup.h"
#include "berth/fault.h"
#include "berth/file.h"
#include "berth/json.h"
#include "berth/log.h"
#include "berth/storage-client.h"
#include "berth/store.h"
#include "store-internal.h"

/* A layer file read through libarchive's decompressors (gzip, zstd, xz, bzip2; a plain tar
 * passes through as is): the raw bytes are hashed (the blob digest), the decompressed ones
 * too (the diffID) and, when out >= 0, written there, so the driver gets a plain tar and
 * every byte is read once.  Progress counts raw bytes. */
struct layer_stream {
	int in, out;
	const char *label;
	bool progress;
	uint64_t total, done;
	struct berth_sha256 raw, plain;
	struct timespec last;
	int err;	   /* errno of a failed read or write */
	char msg[256];	   /* a decode error's message, else empty */
	char rbuf[1 << 17];
	char pbuf[1 << 17];
};

static la_ssize_t stream_read(struct archive *a, void *data, const void **buf)
{
	struct layer_stream *ls = data;
	struct timespec now;
	ssize_t n;

	do
		n = read(ls->in, ls->rbuf, sizeof(ls->rbuf));
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		ls->err = errno;
		archive_set_error(a, errno, "read: %s", strerror(errno));
		return -1;
	}
	berth_sha256_update(&ls->raw, ls->rbuf, (size_t)n);
	ls->done += (uint64_t)n;
	if (ls->progress) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec != ls->last.tv_sec || ls->done == ls->total) {
			fprintf(stderr, "\r  %s  %6.1f / %.1f MB", ls->label, ls->done / 1e6,
				ls->total / 1e6);
			ls->last = now;
		}
	}
	*buf = ls->rbuf;
	return n;
}

/* 0, or -1 with ls->err (I/O) or ls->msg (decode) set. */
static int stream_layer(struct layer_stream *ls)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	la_ssize_t n;
	int r = -1;

	berth_sha256_init(&ls->raw);
	berth_sha256_init(&ls->plain);
	if (!a) {
		ls->err = ENOMEM;
		return -1;
	}
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_zstd(a);
	archive_read_support_filter_xz(a);
	archive_read_support_filter_bzip2(a);
	archive_read_support_format_raw(a);
	if (archive_read_open(a, ls, NULL, stream_read, NULL) != ARCHIVE_OK)
		goto fail;
	switch (archive_read_next_header(a, &e)) {
	case ARCHIVE_EOF: /* an empty file: nothing to send, the driver says what it thinks */
		r = 0;
		goto out;
	case ARCHIVE_OK:
		break;
	default:
		goto fail;
	}
	while ((n = archive_read_data(a, ls->pbuf, sizeof(ls->pbuf))) > 0) {
		berth_sha256_update(&ls->plain, ls->pbuf, (size_t)n);
		if (ls->out >= 0 && berth_write_all(ls->out, ls->pbuf, (size_t)n) < 0) {
			ls->err = errno ? errno : EPIPE;
			goto out;
		}
	}
	if (n < 0)
		goto fail;
	r = 0;
	goto out;
fail:
	if (!ls->err)
		snprintf(ls->msg, sizeof(ls->msg), "%s",
			 archive_error_string(a) ? archive_error_string(a) : "cannot decode");
out:
	archive_read_free(a);
	return r;
}

static void *pump_run(void *arg)
{
	struct layer_stream *ls = arg;

	stream_layer(ls);
	/* a driver that stopped reading early gets EOF; ours is the only write end */
	close(ls->out);
	ls->out = -1;
	return NULL;
}

static int stream_error(struct layer_stream *ls, const char *path, berth_error *err)
{
	if (ls->err)
		return berth_error_set(err, BERTH_ERR_IO, ls->err, "reading %s: %s", path,
				       strerror(ls->err));
	return berth_error_set(err, BERTH_ERR_DECODE, EBADMSG, "%s: %s", path, ls->msg);
}

int berth_store_apply_file(struct berth_store *s, const char *id, const char *parent,
			   const char *path, const char *label, char *ret_hex, char *ret_diff_hex,
			   uint64_t *ret_size, berth_error *err)
{
	_cleanup_json_ json_t *args = NULL, *res = NULL, *ex = NULL;
	_cleanup_close_ int in = -1;
	_cleanup_free_ struct layer_stream *ls = NULL;
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
		return berth_error_errno(err, BERTH_ERR_IO, "open %s", path);
	ls = calloc(1, sizeof(*ls));
	if (!ls)
		return berth_error_set(err, BERTH_ERR_INTERNAL, ENOMEM, "out of memory");
	if (parent)
		json_object_set_new(args, "parent", json_string(parent));
	r = berth_stor_client_call(s->client, "CREATE", args, -1, NULL, err);
	if (r < 0)
		return r;
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		r = berth_error_errno(err, BERTH_ERR_IO, "pipe");
		goto undo;
	}
	signal(SIGPIPE, SIG_IGN);
	ls->in = in;
	ls->out = pfd[1];
	ls->label = label;
	ls->total = (uint64_t)st.st_size;
	ls->progress = s->progress && isatty(STDERR_FILENO);
	if (pthread_create(&th, NULL, pump_run, ls) != 0) {
		close(pfd[0]);
		close(pfd[1]);
		r = berth_error_set(err, BERTH_ERR_INTERNAL, EAGAIN, "pthread_create");
		goto undo;
	}
	json_object_del(args, "parent");
	r = berth_stor_client_call(s->client, "APPLY_DIFF", args, pfd[0], &res, err);
	close(pfd[0]);
	pthread_join(th, NULL);
	if (ls->progress)
		fputc('\n', stderr);
	if (r < 0)
		goto undo; /* the driver removed the layer; REMOVE below is idempotent */
	if (ls->err || ls->msg[0]) {
		r = stream_error(ls, path, err);
		goto undo;
	}
	if (ret_hex)
		berth_sha256_hex(&ls->raw, ret_hex);
	if (ret_diff_hex)
		berth_sha256_hex(&ls->plain, ret_diff_hex);
	if (ret_size)
		*ret_size = (uint64_t)json_integer_value(json_object_get(res, "size"));
	return 0;
undo:
	json_object_del(args, "parent");
	berth_stor_client_call(s->client, "REMOVE", args, -1, NULL, NULL);
	return r;
}

/* sha256 of a file's bytes (JSON blobs) */
static int hash_raw(const char *path, char *hex, berth_error *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct berth_sha256 h;
	char buf[1 << 16];
	ssize_t n;

	if (fd < 0)
		return berth_error_errno(err, BERTH_ERR_IO, "open %s", path);
	berth_sha256_init(&h);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		berth_sha256_update(&h, buf, (size_t)n);
	if (n < 0)
		return berth_error_errno(err, BERTH_ERR_IO, "read %s", path);
	berth_sha256_hex(&h, hex);
	return 0;
}

/* sha256 of a file as it is (raw_hex) and decompressed (diff_hex, the diffID), either NULL. */
static int hash_file(const char *path, char *raw_hex, char *diff_hex, berth_error *err)
{
	_cleanup_free_ struct layer_stream *ls = calloc(1, sizeof(*ls));
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (!ls)
		return berth_error_set(err, BERTH_ERR_INTERNAL, ENOMEM, "out of memory");
	if (fd < 0)
		return berth_error_errno(err, BERTH_ERR_IO, "open %s", path);
	ls->in = fd;
	ls->out = -1;
	if (stream_layer(ls) < 0)
		return stream_error(ls, path, err);
	if (raw_hex)
		berth_sha256_hex(&ls->raw, raw_hex);
	if (diff_hex)
		berth_sha256_hex(&ls->plain, diff_hex);
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
	char got[65] = "", got_diff[65] = "";
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
	r = berth_store_apply_file(s, ret_chain, parent, path, label, got, got_diff, &size, err);
	if (r == -EEXIST) {
		if (s->progress && isatty(STDERR_FILENO))
			fprintf(stderr, "  %s  already present\n", label);
		return 0;
	}
	if (r < 0)
		return r;
	BERTH_FAULT_POINT("core-import-after-apply");
	/* The blob's digest names what we read; the diffID (from the image config, or hashed
	 * beforehand for a tarball) names the layer: both must match what was applied. */
	if ((blob_hex && !STREQ(got, blob_hex)) || !STREQ(got_diff, diff_hex)) {
		json_t *a = json_pack("{s:s}", "id", ret_chain);
		berth_stor_client_call(s->client, "REMOVE", a, -1, NULL, NULL);
		json_decref(a);
		if (blob_hex && !STREQ(got, blob_hex))
			return berth_error_set(err, BERTH_ERR_DECODE, EBADMSG,
					       "%s: digest mismatch: sha256:%s, expected sha256:%s",
					       path, got, blob_hex);
		return berth_error_set(err, BERTH_ERR_DECODE, EBADMSG,
				       "%s: diffID mismatch: the uncompressed layer is sha256:%s, "
				       "expected sha256:%s",
				       path, got_diff, diff_hex);
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
		/* the id must be known before applying: hash first, decompressed (the diffID:
		 * a .tar.gz gets the chain id the same layer has in an OCI image) */
		r = hash_file(tars[i], NULL, hex, err);
		if (r < 0)
			return berth_error_prefix(err, "%s", tars[i]);
		snprintf(label, sizeof(label), "layer %zu/%zu sha256:%.12s", i + 1, n, hex);
		r = import_layer(s, *prev ? prev : NULL, tars[i], hex, NULL, label, chain, err);
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
		return berth_error_set(err, BERTH_ERR_DECODE, EBADMSG,
				       "unsupported or malformed digest \"%s\"", d ? d : "");
	memcpy(hex, d + 7, 65);
	snprintf(path, len, "%s/blobs/sha256/%s", dir, hex);
	return 0;
}

/* The size a descriptor gives must be the blob's (OCI image-spec, descriptor.md). */
static int check_size(const char *path, json_t *desc, berth_error *err)
{
	json_t *sz = json_object_get(desc, "size");
	struct stat st;

	if (stat(path, &st) < 0)
		return berth_error_errno(err, BERTH_ERR_IO, "%s", path);
	if (sz && (!json_is_integer(sz) || json_integer_value(sz) != (json_int_t)st.st_size))
		return berth_error_set(err, BERTH_ERR_DECODE, EBADMSG,
				       "%s: size %lld, but its descriptor says %lld", path,
				       (long long)st.st_size,
				       (long long)json_integer_value(sz));
	return 0;
}

/* Load a JSON blob and verify its digest and size. */
static int load_blob(const char *dir, json_t *desc, json_t **ret, berth_error *err)
{
	char path[PATH_MAX], hex[65], got[65];
	int r;

	if ((r = blob_path(dir, desc, path, sizeof(path), hex, err)) < 0 ||
	    (r = check_size(path, desc, err)) < 0 || (r = hash_raw(path, got, err)) < 0)
		return r;
	if (!STREQ(hex, got))
		return berth_error_set(err, BERTH_ERR_DECODE, EBADMSG,
				       "%s: digest mismatch (sha256:%s)", path, got);
	return berth_json_load_file(path, ret, err);
}

/* This host's platform in OCI's (Go's) names. */
static const char *host_arch(void)
{
#if defined(__x86_64__)
	return "amd64";
#elif defined(__aarch64__)
	return "arm64";
#elif defined(__arm__)
	return "arm";
#elif defined(__i386__)
	return "386";
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return "ppc64le";
#elif defined(__s390x__)
	return "s390x";
#elif defined(__riscv) && __riscv_xlen == 64
	return "riscv64";
#else
	return "";
#endif
}

static bool platform_ok(json_t *desc)
{
	json_t *p = json_object_get(desc, "platform");
	const char *os, *arch;

	if (!p)
		return true;
	os = json_string_value(json_object_get(p, "os"));
	arch = json_string_value(json_object_get(p, "architecture"));
	return (!os || STREQ(os, "linux")) && (!arch || STREQ(arch, host_arch()));
}

/* The descriptor of `manifests` named ref (any when NULL) that runs here: an entry without a
 * platform, or with this host's. */
static json_t *pick_manifest(json_t *manifests, const char *ref)
{
	json_t *m;
	size_t i;

	json_array_foreach(manifests, i, m) {
		const char *rn = json_string_value(json_object_get(
			json_object_get(m, "annotations"), "org.opencontainers.image.ref.name"));
		if ((!ref || (rn && STREQ(rn, ref))) && platform_ok(m))
			return m;
	}
	return NULL;
}

int berth_store_oci_plan(const char *dir, const char *ref, json_t **ret, berth_error *err)
{
	_cleanup_json_ json_t *index = NULL, *layout = NULL, *manifest = NULL, *config = NULL;
	_cleanup_json_ json_t *layers_out = json_array();
	char path[PATH_MAX];
	json_t *mdesc = NULL, *layers, *diff_ids;
	const char *mdigest, *rn;
	size_t i, n;
	int r;

	snprintf(path, sizeof(path), "%s/oci-layout", dir);
	if ((r = berth_json_load_file(path, &layout, err)) < 0)
		return berth_error_prefix(err, "not an OCI image layout");
	snprintf(path, sizeof(path), "%s/index.json", dir);
	if ((r = berth_json_load_file(path, &index, err)) < 0)
		return r;
	mdesc = pick_manifest(json_object_get(index, "manifests"), ref);
	if (!mdesc)
		return berth_error_set(err, BERTH_ERR_NOT_FOUND, ENOENT,
				       "%s: no manifest%s%s for linux/%s", dir,
				       ref ? " named " : "", ref ? ref : "", host_arch());
	rn = json_string_value(json_object_get(json_object_get(mdesc, "annotations"),
					       "org.opencontainers.image.ref.name"));
	if (!ref && rn)
		ref = rn;
	mdigest = json_string_value(json_object_get(mdesc, "digest"));
	if ((r = load_blob(dir, mdesc, &manifest, err)) < 0)
		return berth_error_prefix(err, "manifest");
	/* A multi-platform image: index.json names an image index whose entries are the
	 * per-platform manifests (what `skopeo copy --all` and buildx write). */
	for (int depth = 0; json_object_get(manifest, "manifests"); depth++) {
		json_t *idx = manifest;
		if (depth == 4)
			return berth_error_set(err, BERTH_ERR_DECODE, EBADMSG,
					       "%s: image indexes nested too deep", dir);
		manifest = NULL;
		mdesc = pick_manifest(json_object_get(idx, "manifests"), NULL);
		if (!mdesc) {
			json_decref(idx);
			return berth_error_set(err, BERTH_STOR_ERR_NOT_SUPPORTED, EOPNOTSUPP,
					       "%s: the image index has no manifest for linux/%s",
					       dir, host_arch());
		}
		r = load_blob(dir, mdesc, &manifest, err);
		/* the image's digest is the platform manifest's, as `podman images --digests`
		 * shows for a pulled multi-platform image */
		mdigest = json_string_value(json_object_get(mdesc, "digest"));
		mdigest = mdigest ? strdupa(mdigest) : NULL;
		json_decref(idx);
		if (r < 0)
			return berth_error_prefix(err, "manifest");
	}
	if ((r = load_blob(dir, json_object_get(manifest, "config"), &config, err)) < 0)
		return berth_error_prefix(err, "config");
	layers = json_object_get(manifest, "layers");
	diff_ids = json_object_get(json_object_get(config, "rootfs"), "diff_ids");
	n = json_array_size(layers);
	if (n != json_array_size(diff_ids))
		return berth_error_set(err, BERTH_ERR_DECODE, EBADMSG,
				       "manifest has %zu layers, config %zu diff_ids", n,
				       json_array_size(diff_ids));
	for (i = 0; i < n; i++) {
		char bpath[PATH_MAX], bhex[65], dhex[65];
		json_t *did = json_pack("{s:O}", "digest", json_array_get(diff_ids, i));
		r = blob_path(dir, json_array_get(layers, i), bpath, sizeof(bpath), bhex, err);
		if (r == 0)
			r = check_size(bpath, json_array_get(layers, i), err);
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
