/* SPDX-License-Identifier: Apache-2.0 */
/* The core's storage side: config, driver selection, container rootfs lifecycle. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "berth/cleanup.h"
#include "berth/file.h"
#include "berth/json.h"
#include "berth/log.h"
#include "berth/storage-client.h"
#include "berth/store.h"
#include "store-internal.h"

int berth_store_open(const char *config_path, struct berth_store **ret, berth_error *err)
{
	struct berth_store *s;
	char path[PATH_MAX];
	int r;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->lockfd = -1;
	r = berth_stor_config_load(config_path, &s->cfg, err);
	if (r < 0)
		goto fail;
	if (asprintf(&s->meta, "%s/core", s->cfg->root) < 0) {
		r = -ENOMEM;
		goto fail;
	}
	static const char *const sub[] = { "", "/layers", "/images", "/containers" };
	for (size_t i = 0; i < ARRAY_SIZE(sub); i++) {
		snprintf(path, sizeof(path), "%s%s", s->meta, sub[i]);
		r = berth_mkdir_p(path, 0700, err);
		if (r < 0)
			goto fail;
	}
	{
		struct berth_stor_selection sel;

		snprintf(path, sizeof(path), "%s/driver", s->meta);
		r = berth_stor_select(s->cfg, NULL, NULL, path, &sel, err);
		s->driver = sel.driver;
		s->driver_path = sel.driver_path;
		s->reason = sel.reason;
		s->probes = sel.probes;
		s->init = sel.init;
		s->client = sel.client;
		if (r < 0)
			goto fail;
	}
	*ret = s;
	return 0;
fail:
	berth_store_close(s);
	return r;
}

void berth_store_close(struct berth_store *s)
{
	if (!s)
		return;
	berth_stor_config_free(s->cfg);
	free(s->driver);
	free(s->driver_path);
	free(s->reason);
	if (s->probes)
		json_decref(s->probes);
	if (s->init)
		json_decref(s->init);
	berth_stor_client_free(s->client);
	free(s->meta);
	if (s->lockfd >= 0)
		close(s->lockfd);
	free(s);
}

int berth_store_lock(struct berth_store *s, berth_error *err)
{
	char path[PATH_MAX];

	if (s->lockfd >= 0)
		return 0;
	snprintf(path, sizeof(path), "%s/.lock", s->meta);
	return berth_lock_path(path, true, &s->lockfd, err);
}

/* Image names carry '/' and ':'; records are files: escape everything else as %XX. */
static void rec_file(struct berth_store *s, const char *kind, const char *name, char *buf,
		     size_t len)
{
	size_t n = (size_t)snprintf(buf, len, "%s/%s/", s->meta, kind);

	for (const unsigned char *p = (const unsigned char *)name; *p && n + 4 < len; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    *p == '-' || *p == '_' || (*p == '.' && p != (const unsigned char *)name))
			buf[n++] = (char)*p;
		else
			n += (size_t)snprintf(buf + n, len - n, "%%%02X", *p);
	}
	snprintf(buf + n, len - n, ".json");
}

int berth_store_rec_load(struct berth_store *s, const char *kind, const char *name, json_t **ret,
			 berth_error *err)
{
	char path[PATH_MAX];

	rec_file(s, kind, name, path, sizeof(path));
	if (access(path, F_OK) < 0)
		return -ENOENT;
	return berth_json_load_file(path, ret, err);
}

int berth_store_rec_save(struct berth_store *s, const char *kind, const char *name, json_t *j,
			 berth_error *err)
{
	_cleanup_free_ char *data = berth_json_dump_pretty(j);
	char path[PATH_MAX];

	if (!data)
		return -ENOMEM;
	rec_file(s, kind, name, path, sizeof(path));
	return berth_write_file_atomic(path, data, strlen(data), 0600, true, err);
}

int berth_store_rec_delete(struct berth_store *s, const char *kind, const char *name)
{
	char path[PATH_MAX];

	rec_file(s, kind, name, path, sizeof(path));
	return unlink(path) < 0 && errno != ENOENT ? -errno : 0;
}

json_t *berth_store_rec_all(struct berth_store *s, const char *kind)
{
	_cleanup_closedir_ DIR *d = NULL;
	char path[PATH_MAX];
	struct dirent *de;
	json_t *a = json_array();

	snprintf(path, sizeof(path), "%s/%s", s->meta, kind);
	d = opendir(path);
	while (d && (de = readdir(d))) {
		char f[PATH_MAX];
		json_t *j = NULL;
		size_t l = strlen(de->d_name);
		if (de->d_name[0] == '.' || l < 6 || !STREQ(de->d_name + l - 5, ".json"))
			continue;
		snprintf(f, sizeof(f), "%s/%s", path, de->d_name);
		if (berth_json_load_file(f, &j, NULL) == 0)
			json_array_append_new(a, j);
	}
	return a;
}

int berth_store_save_image(struct berth_store *s, const char *name, json_t *layers,
			   const char *digest, berth_error *err)
{
	_cleanup_json_ json_t *img = json_pack("{s:s,s:O,s:I}", "name", name, "layers", layers,
					       "created", (json_int_t)time(NULL));

	if (json_array_size(layers))
		json_object_set(img, "top", json_array_get(layers, json_array_size(layers) - 1));
	if (digest)
		json_object_set_new(img, "digest", json_string(digest));
	return berth_store_rec_save(s, "images", name, img, err);
}

static const char *jstr(json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));
	return v ? v : "";
}

static int load_container(struct berth_store *s, const char *cid, json_t **ret, berth_error *err)
{
	int r;

	if (!berth_stor_id_valid(cid))
		return berth_error_set(err, BERTH_ERR_INVALID_CONFIG, EINVAL,
				       "invalid container id \"%s\"", cid);
	r = berth_store_rec_load(s, "containers", cid, ret, err);
	if (r == -ENOENT)
		return berth_error_set(err, BERTH_ERR_NOT_FOUND, ENOENT,
				       "no container rootfs \"%s\"", cid);
	return r;
}

int berth_store_create(struct berth_store *s, const char *image, const char *cid, json_t **ret,
		       berth_error *err)
{
	_cleanup_json_ json_t *img = NULL, *args = NULL, *res = NULL, *rec = NULL;
	char idbuf[32], layer[160];
	const char *top;
	int r;

	if ((r = berth_store_lock(s, err)) < 0)
		return r;
	r = berth_store_rec_load(s, "images", image, &img, err);
	if (r == -ENOENT)
		return berth_error_set(err, BERTH_ERR_NOT_FOUND, ENOENT,
				       "no image \"%s\" (berth storage import first)", image);
	if (r < 0)
		return r;
	if (!cid) {
		unsigned char rnd[6];
		if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
			return berth_error_errno(err, BERTH_ERR_IO, "getrandom");
		snprintf(idbuf, sizeof(idbuf), "%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2],
			 rnd[3], rnd[4], rnd[5]);
		cid = idbuf;
	}
	if (!berth_stor_id_valid(cid) || strlen(cid) > 100)
		return berth_error_set(err, BERTH_ERR_INVALID_CONFIG, EINVAL,
				       "invalid container id \"%s\"", cid);
	if (berth_store_rec_load(s, "containers", cid, &rec, NULL) == 0)
		return berth_error_set(err, BERTH_STOR_ERR_EXISTS, EEXIST,
				       "container rootfs \"%s\" exists", cid);
	snprintf(layer, sizeof(layer), "ctr-%s", cid);
	top = jstr(img, "top");
	args = json_pack("{s:s,s:b}", "id", layer, "rw", true);
	if (*top)
		json_object_set_new(args, "parent", json_string(top));
	r = berth_stor_client_call(s->client, "CREATE", args, -1, &res, err);
	if (r < 0)
		return r;
	rec = json_pack("{s:s,s:s,s:s,s:s,s:I}", "id", cid, "image", image, "layer", layer,
			"driver", s->driver, "created", (json_int_t)time(NULL));
	if (*top)
		json_object_set_new(rec, "parent", json_string(top));
	r = berth_store_rec_save(s, "containers", cid, rec, err);
	if (r < 0) {
		json_t *a = json_pack("{s:s}", "id", layer);
		berth_stor_client_call(s->client, "REMOVE", a, -1, NULL, NULL);
		json_decref(a);
		return r;
	}
	*ret = TAKE_PTR(rec);
	return 0;
}

int berth_store_mount(struct berth_store *s, const char *cid, bool ro, json_t **ret,
		      berth_error *err)
{
	_cleanup_json_ json_t *rec = NULL, *args = NULL;
	int r;

	if ((r = load_container(s, cid, &rec, err)) < 0)
		return r;
	args = json_pack("{s:s,s:b}", "id", jstr(rec, "layer"), "ro", ro);
	return berth_stor_client_call(s->client, "MOUNT", args, -1, ret, err);
}

int berth_store_unmount(struct berth_store *s, const char *cid, bool force, json_t **ret,
			berth_error *err)
{
	_cleanup_json_ json_t *rec = NULL, *args = NULL;
	int r;

	if ((r = load_container(s, cid, &rec, err)) < 0)
		return r;
	args = json_pack("{s:s,s:b}", "id", jstr(rec, "layer"), "force", force);
	return berth_stor_client_call(s->client, "UNMOUNT", args, -1, ret, err);
}

int berth_store_remove(struct berth_store *s, const char *cid, bool force, berth_error *err)
{
	_cleanup_json_ json_t *rec = NULL, *args = NULL;
	int r;

	if ((r = berth_store_lock(s, err)) < 0)
		return r;
	r = load_container(s, cid, &rec, err);
	if (r == -ENOENT)
		return 0; /* already gone */
	if (r < 0)
		return r;
	args = json_pack("{s:s,s:b}", "id", jstr(rec, "layer"), "force", true);
	if (force)
		berth_stor_client_call(s->client, "UNMOUNT", args, -1, NULL, NULL);
	r = berth_stor_client_call(s->client, "REMOVE", args, -1, NULL, err);
	if (r < 0)
		return r;
	berth_store_rec_delete(s, "containers", cid);
	return 0;
}

/* Is layer id used by an image other than `except`, or by any container? */
static bool layer_in_use(json_t *images, json_t *ctrs, const char *id, const char *except)
{
	size_t i, k;
	json_t *v, *l;

	json_array_foreach(images, i, v) {
		if (except && STREQ(jstr(v, "name"), except))
			continue;
		json_array_foreach(json_object_get(v, "layers"), k, l)
			if (STREQ(json_string_value(l) ? json_string_value(l) : "", id))
				return true;
	}
	json_array_foreach(ctrs, i, v)
		if (STREQ(jstr(v, "parent"), id))
			return true;
	return false;
}

int berth_store_remove_image(struct berth_store *s, const char *image, berth_error *err)
{
	_cleanup_json_ json_t *img = NULL, *images = NULL, *ctrs = NULL;
	json_t *layers;
	int r;

	if ((r = berth_store_lock(s, err)) < 0)
		return r;
	r = berth_store_rec_load(s, "images", image, &img, err);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	images = berth_store_rec_all(s, "images");
	ctrs = berth_store_rec_all(s, "containers");
	/* Its layers would stay for the container's sake with no image naming them any more,
	 * and be left behind for good once the container goes: refuse, as podman does. */
	{
		size_t i;
		json_t *c;
		json_array_foreach(ctrs, i, c)
			if (STREQ(jstr(c, "image"), image))
				return berth_error_set(err, BERTH_STOR_ERR_BUSY, EBUSY,
						       "image \"%s\" is in use by container \"%s\" "
						       "(berth storage rm it first)",
						       image, jstr(c, "id"));
	}
	layers = json_object_get(img, "layers");
	/* top down: a layer can only go once nothing above it remains */
	for (size_t i = json_array_size(layers); i-- > 0;) {
		const char *id = json_string_value(json_array_get(layers, i));
		json_t *a;
		if (!id || layer_in_use(images, ctrs, id, image))
			break;
		a = json_pack("{s:s}", "id", id);
		r = berth_stor_client_call(s->client, "REMOVE", a, -1, NULL, err);
		json_decref(a);
		if (r == -ENOTEMPTY)
			break; /* another layer built on it */
		if (r < 0)
			return r;
		berth_store_rec_delete(s, "layers", id);
	}
	berth_store_rec_delete(s, "images", image);
	return 0;
}

int berth_store_gc(struct berth_store *s, json_t **ret, berth_error *err)
{
	_cleanup_json_ json_t *images = NULL, *ctrs = NULL, *keep = json_array(), *args = NULL;
	_cleanup_json_ json_t *res = NULL, *list = NULL, *recs = NULL;
	json_t *v, *l, *ids;
	size_t i, k;
	int r;

	if ((r = berth_store_lock(s, err)) < 0)
		return r;
	/* Every layer an image or a container names stays, with its ancestors; everything else
	 * is garbage (layers of an image removed while a container used it, before rmi refused
	 * that; crash leftovers).  The core lock keeps imports out while this runs. */
	images = berth_store_rec_all(s, "images");
	ctrs = berth_store_rec_all(s, "containers");
	json_array_foreach(images, i, v)
		json_array_foreach(json_object_get(v, "layers"), k, l)
			if (json_is_string(l))
				json_array_append(keep, l);
	json_array_foreach(ctrs, i, v)
		if (*jstr(v, "layer"))
			json_array_append_new(keep, json_string(jstr(v, "layer")));
	args = json_pack("{s:O}", "keep", keep);
	r = berth_stor_client_call(s->client, "GC", args, -1, &res, err);
	if (r < 0)
		return r;
	/* records of layers the driver no longer has */
	r = berth_stor_client_call(s->client, "LIST", NULL, -1, &list, err);
	if (r < 0)
		return r;
	ids = json_object_get(list, "ids");
	recs = berth_store_rec_all(s, "layers");
	json_array_foreach(recs, i, v) {
		bool found = false;
		json_array_foreach(ids, k, l)
			if (STREQ(json_string_value(l) ? json_string_value(l) : "", jstr(v, "id")))
				found = true;
		if (!found && *jstr(v, "id"))
			berth_store_rec_delete(s, "layers", jstr(v, "id"));
	}
	*ret = json_pack("{s:O,s:O}", "removed", json_object_get(res, "removed"), "errors",
			 json_object_get(res, "errors"));
	return 0;
}

int berth_store_list(struct berth_store *s, json_t **ret, berth_error *err)
{
	json_t *res = NULL;
	int r;

	r = berth_stor_client_call(s->client, "LIST", NULL, -1, &res, err);
	if (r < 0)
		return r;
	*ret = json_pack("{s:s,s:o,s:o,s:O}", "driver", s->driver, "images",
			 berth_store_rec_all(s, "images"), "containers",
			 berth_store_rec_all(s, "containers"), "layers",
			 json_object_get(res, "ids"));
	json_decref(res);
	return 0;
}

int berth_store_diff(struct berth_store *s, const char *cid, int outfd, json_t **ret,
		     berth_error *err)
{
	_cleanup_json_ json_t *rec = NULL, *args = NULL;
	int r;

	if ((r = load_container(s, cid, &rec, err)) < 0)
		return r;
	args = json_pack("{s:s}", "id", jstr(rec, "layer"));
	return berth_stor_client_call(s->client, "DIFF", args, outfd, ret, err);
}

int berth_store_commit(struct berth_store *s, const char *cid, const char *image, json_t **ret,
		       berth_error *err)
{
	_cleanup_json_ json_t *rec = NULL, *args = NULL, *img = NULL, *layers = NULL, *lrec = NULL;
	_cleanup_close_ int fd = -1;
	char tmp[PATH_MAX], hex[65], chain[65], buf[256];
	const char *parent;
	uint64_t size = 0;
	int r;

	if ((r = berth_store_lock(s, err)) < 0 || (r = load_container(s, cid, &rec, err)) < 0)
		return r;
	snprintf(tmp, sizeof(tmp), "%s/commit-XXXXXX", s->meta);
	fd = mkstemp(tmp);
	if (fd < 0)
		return berth_error_errno(err, BERTH_ERR_IO, "mkstemp %s", tmp);
	args = json_pack("{s:s}", "id", jstr(rec, "layer"));
	r = berth_stor_client_call(s->client, "DIFF", args, fd, NULL, err);
	if (r < 0)
		goto out;
	/* the chain id of the new layer, as OCI defines it: sha256(parent chain + " " + diffID) */
	{
		struct berth_sha256 h;
		char data[65536];
		ssize_t n;
		berth_sha256_init(&h);
		if (lseek(fd, 0, SEEK_SET) < 0) {
			r = berth_error_errno(err, BERTH_ERR_IO, "lseek");
			goto out;
		}
		while ((n = read(fd, data, sizeof(data))) > 0)
			berth_sha256_update(&h, data, (size_t)n);
		berth_sha256_hex(&h, hex);
	}
	parent = jstr(rec, "parent");
	if (*parent)
		snprintf(buf, sizeof(buf), "sha256:%s sha256:%s", parent, hex);
	else
		snprintf(buf, sizeof(buf), "sha256:%s", hex);
	if (*parent)
		berth_sha256_str(buf, chain);
	else
		memcpy(chain, hex, sizeof(chain));
	r = berth_store_apply_file(s, chain, *parent ? parent : NULL, tmp, "commit", NULL, NULL,
				   &size, err);
	if (r < 0 && r != -EEXIST)
		goto out;
	lrec = json_pack("{s:s,s:s,s:s,s:I}", "id", chain, "diffID", "", "digest", "",
			 "size", (json_int_t)size);
	json_object_set_new(lrec, "diffID", json_sprintf("sha256:%s", hex));
	json_object_set_new(lrec, "digest", json_sprintf("sha256:%s", hex));
	if (*parent)
		json_object_set_new(lrec, "parent", json_string(parent));
	if ((r = berth_store_rec_save(s, "layers", chain, lrec, err)) < 0)
		goto out;
	if (berth_store_rec_load(s, "images", jstr(rec, "image"), &img, NULL) == 0)
		layers = json_deep_copy(json_object_get(img, "layers"));
	if (!layers)
		layers = json_array();
	json_array_append_new(layers, json_string(chain));
	r = berth_store_save_image(s, image, layers, NULL, err);
	if (r < 0)
		goto out;
	*ret = json_pack("{s:s,s:s,s:s,s:I}", "image", image, "layer", chain, "diffID", "",
			 "size", (json_int_t)size);
	json_object_set_new(*ret, "diffID", json_sprintf("sha256:%s", hex));
out:
	unlink(tmp);
	return r;
}

int berth_store_inspect(struct berth_store *s, const char *cid, json_t **ret, berth_error *err)
{
	_cleanup_json_ json_t *rec = NULL, *args = NULL, *meta = NULL, *usage = NULL;
	json_t *chain, *out;
	const char *id;
	int r;

	if (!berth_stor_id_valid(cid))
		return -ENOENT;
	r = berth_store_rec_load(s, "containers", cid, &rec, err);
	if (r < 0)
		return r;
	args = json_pack("{s:s}", "id", jstr(rec, "layer"));
	berth_stor_client_call(s->client, "METADATA", args, -1, &meta, NULL);
	berth_stor_client_call(s->client, "USAGE", args, -1, &usage, NULL);
	chain = json_array();
	for (id = jstr(rec, "parent"); *id;) {
		json_t *l = NULL;
		if (berth_store_rec_load(s, "layers", id, &l, NULL) < 0) {
			json_array_append_new(chain, json_pack("{s:s}", "id", id));
			break;
		}
		json_array_append_new(chain, l);
		id = jstr(l, "parent");
		if (json_array_size(chain) > 1000)
			break;
	}
	out = json_pack("{s:s,s:s,s:s}", "driver", s->driver, "image", jstr(rec, "image"),
			"rootfs", jstr(rec, "layer"));
	json_object_set_new(out, "writableLayer",
			    json_pack("{s:s,s:O}", "id", jstr(rec, "layer"), "usage",
				      usage ? usage : json_null()));
	json_object_set_new(out, "layers", chain);
	if (meta) {
		json_object_del(meta, "protocolVersion");
		json_object_set_new(out, "mount",
				    json_pack("{s:O,s:O,s:O}", "mounted",
					      json_object_get(meta, "mounted") ?: json_false(),
					      "path", json_object_get(meta, "MergedDir") ?: json_null(),
					      "refs", json_object_get(meta, "refs") ?: json_integer(0)));
		json_object_set(out, "driverMetadata", meta);
	}
	if (usage)
		json_object_del(usage, "protocolVersion");
	*ret = out;
	return 0;
}

int berth_store_info(struct berth_store *s, json_t **ret, berth_error *err)
{
	_cleanup_json_ json_t *status = NULL;
	json_t *out;

	berth_stor_client_call(s->client, "STATUS", NULL, -1, &status, NULL);
	if (status)
		json_object_del(status, "protocolVersion");
	out = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:O,s:O}", "config", s->cfg->source,
			"configuredDriver", s->cfg->driver, "driver", s->driver, "driverPath",
			s->driver_path, "reason", s->reason ? s->reason : "", "root", s->cfg->root,
			"probes", s->probes, "priority", s->cfg->priority);
	json_object_set_new(out, "runRoot", json_string(s->cfg->run_root));
	if (s->init)
		json_object_set(out, "capabilities", json_object_get(s->init, "capabilities"));
	if (status)
		json_object_set(out, "status", status);
	*ret = out;
	return 0;
}
