// SPDX-License-Identifier: Apache-2.0
/*
 * Per-attachment element sets: what one plugin call owns in our tables, kept in the kernel
 * (elements with an owner comment) and in a state file (so DEL needs no netns and a flushed
 * ruleset can be rebuilt).  Every change is one nft transaction.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <linux/netfilter.h>
#include <jansson.h>

#include "berth/cleanup.h"
#include "berth/file.h"
#include "berth/json.h"
#include "berth/log.h"
#include "berth/nft.h"
#include "berth/cni-skel.h"
#include "nft-internal.h"

static void owner_comment(const char *kind, const struct berth_nft_owner *o, char *buf, size_t len)
{
	snprintf(buf, len, "berth %s %s %s %s", kind, o->network, o->container_id, o->ifname);
}

static void hex(char *out, const uint8_t *p, size_t n)
{
	static const char d[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = d[p[i] >> 4];
		out[2 * i + 1] = d[p[i] & 15];
	}
	out[2 * n] = '\0';
}

static int unhex(const char *s, uint8_t *out, size_t max, uint8_t *ret_len)
{
	size_t n = strlen(s);
	if (n % 2 || n / 2 > max)
		return -EINVAL;
	for (size_t i = 0; i < n / 2; i++) {
		unsigned v;
		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return -EINVAL;
		out[i] = v;
	}
	*ret_len = n / 2;
	return 0;
}

static json_t *elems_to_json(const struct berth_nft_elem *e, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++) {
		char k[129], ke[129], d[129];
		hex(k, e[i].key, e[i].key_len);
		hex(ke, e[i].key_end, e[i].key_end_len);
		hex(d, e[i].data, e[i].data_len);
		json_array_append_new(a, json_pack("{s:s,s:s,s:s,s:s,s:s}", "family",
						   e[i].family == NFPROTO_BRIDGE ? "bridge" : "inet",
						   "set", e[i].set, "key", k, "keyEnd", ke, "data",
						   d));
	}
	return a;
}

static int elems_from_json(json_t *a, struct berth_nft_elem **ret, size_t *ret_n)
{
	size_t n = json_array_size(a), i;
	json_t *it;
	struct berth_nft_elem *e = calloc(n ? n : 1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	size_t m = 0;
	json_array_foreach(a, i, it) {
		const char *fam = json_string_value(json_object_get(it, "family"));
		const char *set = json_string_value(json_object_get(it, "set"));
		const char *k = json_string_value(json_object_get(it, "key"));
		const char *ke = json_string_value(json_object_get(it, "keyEnd"));
		const char *d = json_string_value(json_object_get(it, "data"));
		int family = fam && STREQ(fam, "bridge") ? NFPROTO_BRIDGE : NFPROTO_INET;
		const struct set_def *def = set ? berth_nft_set_def(family, set) : NULL;
		struct berth_nft_elem *x = &e[m];
		memset(x, 0, sizeof(*x));
		if (!def || !k || unhex(k, x->key, sizeof(x->key), &x->key_len) < 0 ||
		    (ke && unhex(ke, x->key_end, sizeof(x->key_end), &x->key_end_len) < 0) ||
		    (d && unhex(d, x->data, sizeof(x->data), &x->data_len) < 0))
			continue;
		/* recorded by an older layout of our tables: not applicable any more */
		if (x->key_len != berth_nft_set_key_len(def) || x->data_len != def->data_len ||
		    (x->key_end_len && !def->interval))
			continue;
		x->family = family;
		x->set = berth_nft_intern(set);
		if (!x->set) {
			free(e);
			return -ENOMEM;
		}
		m++;
	}
	n = m;
	*ret = e;
	*ret_n = n;
	return 0;
}

static int load_state_file(const char *path, json_t **ret_j, struct berth_nft_elem **ret,
			   size_t *ret_n, berth_error *err)
{
	_cleanup_json_ json_t *j = NULL;
	berth_error e2 = { 0 };
	*ret = NULL;
	*ret_n = 0;
	if (access(path, F_OK) < 0)
		return 0;
	if (berth_json_load_file(path, &j, &e2) < 0 ||
	    elems_from_json(json_object_get(j, "elements"), ret, ret_n) < 0)
		/* a corrupt state file must not block DEL: treat it as empty, GC still finds the
		 * elements by their comments */
		return 0;
	if (ret_j)
		*ret_j = TAKE_PTR(j);
	return 1;
}

int berth_nft_attach_load(const char *kind, const struct berth_nft_owner *o,
			  struct berth_nft_elem **ret, size_t *ret_n, berth_error *err)
{
	char path[4096];
	if (berth_nft_state_path(kind, o, path, sizeof(path)) < 0)
		return berth_error_set(err, BERTH_CNI_ERR_IO, ENAMETOOLONG, "nft: state path too long");
	return load_state_file(path, NULL, ret, ret_n, err);
}

static int write_state(const char *kind, const struct berth_nft_owner *o,
		       const struct berth_nft_elem *e, size_t n, berth_error *err)
{
	char dir[4096], path[4096];
	if (berth_nft_kind_dir(kind, dir, sizeof(dir)) < 0 || berth_nft_state_path(kind, o, path, sizeof(path)) < 0)
		return berth_error_set(err, BERTH_CNI_ERR_IO, ENAMETOOLONG, "nft: state path too long");
	if (n == 0) {
		if (unlink(path) < 0 && errno != ENOENT)
			return berth_error_errno(err, BERTH_CNI_ERR_IO, "nft: removing %s", path);
		return 0;
	}
	int r = berth_mkdir_p(dir, 0700, err);
	if (r < 0)
		return r;
	_cleanup_json_ json_t *j = json_pack("{s:s,s:s,s:s,s:s,s:s,s:o}", "kind", kind, "table",
					     berth_nft_table(), "network", o->network,
					     "containerId", o->container_id, "ifname", o->ifname,
					     "elements", elems_to_json(e, n));
	_cleanup_free_ char *s = j ? berth_json_dump(j) : NULL;
	if (!s)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "nft: out of memory");
	return berth_write_file_atomic(path, s, strlen(s), 0600, false, err);
}

static bool elem_eq(const struct berth_nft_elem *a, const struct berth_nft_elem *b)
{
	return a->family == b->family && STREQ(a->set, b->set) && a->key_len == b->key_len &&
	       !memcmp(a->key, b->key, a->key_len) && a->key_end_len == b->key_end_len &&
	       !memcmp(a->key_end, b->key_end, a->key_end_len);
}

static int send_change(const struct berth_nft_elem *del, size_t n_del,
		       const struct berth_nft_elem *add, size_t n_add, const char *comment,
		       berth_error *err)
{
	_cleanup_nft_batch_ struct berth_nft_batch *b = NULL;
	int r = berth_nft_batch_new(&b);
	if (r < 0)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	if (n_del && (r = berth_nft_batch_elems(b, false, del, n_del, NULL, err)) < 0)
		return r;
	if (n_add && (r = berth_nft_batch_elems(b, true, add, n_add, comment, err)) < 0)
		return r;
	if (!n_del && !n_add)
		return 0;
	return berth_nft_batch_send(b, err);
}

int berth_nft_attach_set_ex(const char *kind, const struct berth_nft_owner *o,
			    const struct berth_nft_elem *e, size_t n, size_t *ret_conflict,
			    char **ret_owner, berth_error *err)
{
	_cleanup_free_ struct berth_nft_elem *old = NULL;
	_cleanup_close_ int lock = -1;
	size_t n_old = 0;
	char comment[512];
	int r;

	if ((r = berth_nft_lock_state(false, &lock, err)) < 0)
		return r;
	if ((r = berth_nft_attach_load(kind, o, &old, &n_old, err)) < 0)
		return r;
	owner_comment(kind, o, comment, sizeof(comment));

	r = send_change(old, n_old, e, n, comment, err);
	if (r == -ENOENT) {
		/* first use (or someone deleted our table): create it, then once more */
		berth_error_clear(err);
		if ((r = berth_nft_ensure_tables(e, n, err)) < 0)
			return r;
		r = send_change(old, n_old, e, n, comment, err);
	}
	if (r == -EINVAL || r == -ENOENT) {
		/* our table exists but has another layout (made by an older berth): rebuild it
		 * from the state files, which keep only what still fits, then once more */
		berth_error e2 = { 0 };
		berth_log_warn("nft: %s; rebuilding table %s", err->msg, berth_nft_table());
		close(TAKE_FD(lock));
		if (berth_nft_reapply_all(&e2) < 0)
			return r;
		berth_error_clear(err);
		free(old);
		old = NULL;
		n_old = 0;
		if ((r = berth_nft_lock_state(false, &lock, err)) < 0 ||
		    (r = berth_nft_attach_load(kind, o, &old, &n_old, err)) < 0)
			return r;
		r = send_change(old, n_old, e, n, comment, err);
	}
	if (r == -EEXIST) {
		/* a key is held by someone else: find it to name the owner */
		for (size_t i = 0; i < n; i++) {
			bool mine = false;
			for (size_t k = 0; k < n_old && !mine; k++)
				mine = elem_eq(&e[i], &old[k]);
			if (mine)
				continue;
			_cleanup_free_ char *c = NULL;
			berth_error e2 = { 0 };
			if (berth_nft_elem_get(&e[i], &c, &e2) == 1) {
				if (ret_conflict)
					*ret_conflict = i;
				berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EEXIST,
						"nft: key in set %s is already owned by %s", e[i].set,
						c ? c : "an unknown owner");
				if (ret_owner)
					*ret_owner = TAKE_PTR(c);
				return -EEXIST;
			}
		}
		return r;
	}
	if (r < 0)
		return r;
	r = write_state(kind, o, e, n, err);
	if (r < 0) {
		/* the kernel has it but we could not record it: undo, so nothing is half done */
		berth_error e2 = { 0 };
		send_change(e, n, old, n_old, comment, &e2);
	}
	return r;
}

int berth_nft_attach_set(const char *kind, const struct berth_nft_owner *o,
			 const struct berth_nft_elem *e, size_t n, berth_error *err)
{
	return berth_nft_attach_set_ex(kind, o, e, n, NULL, NULL, err);
}

static int sweep_owner(const char *kind, const struct berth_nft_owner *o, berth_error *err);

int berth_nft_attach_del(const char *kind, const struct berth_nft_owner *o, bool sweep,
			 berth_error *err)
{
	_cleanup_free_ struct berth_nft_elem *old = NULL;
	_cleanup_close_ int lock = -1;
	size_t n_old = 0;
	char path[4096];
	int r;

	/* Nothing recorded: the common case for plugins that call this unconditionally.  When
	 * the caller says ADD would have added something (`sweep`), the state may be lost or in
	 * another directory than ADD's (a runtime that runs DEL with another environment): then
	 * remove whatever the kernel holds under this owner's comment. */
	if (berth_nft_state_path(kind, o, path, sizeof(path)) == 0 && access(path, F_OK) < 0 &&
	    errno == ENOENT)
		return sweep ? sweep_owner(kind, o, err) : 0;
	if ((r = berth_nft_lock_state(false, &lock, err)) < 0)
		return r;
	if ((r = berth_nft_attach_load(kind, o, &old, &n_old, err)) < 0)
		return r;
	if (n_old) {
		r = send_change(old, n_old, NULL, 0, NULL, err);
		if (r == -ENOENT) /* table or set gone: nothing left to delete */
			r = 0;
		if (r < 0)
			return r;
	}
	berth_error_clear(err);
	return write_state(kind, o, NULL, 0, err);
}

int berth_nft_attach_check(const char *kind, const struct berth_nft_owner *o, berth_error *err)
{
	_cleanup_free_ struct berth_nft_elem *old = NULL;
	size_t n_old = 0;
	char comment[512];
	int r;

	if ((r = berth_nft_attach_load(kind, o, &old, &n_old, err)) < 0)
		return r;
	if (r == 0)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOENT,
				       "nft: no %s state recorded for %s/%s", kind,
				       o->container_id, o->ifname);
	owner_comment(kind, o, comment, sizeof(comment));
	for (size_t i = 0; i < n_old; i++) {
		_cleanup_free_ char *c = NULL;
		r = berth_nft_elem_get(&old[i], &c, err);
		if (r < 0)
			return r;
		if (r == 0)
			return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOENT,
					       "nft: element %zu of set %s %s is missing", i,
					       old[i].set, berth_nft_table());
		if (!c || strncmp(c, comment, 249) != 0)
			return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, EEXIST,
					       "nft: element %zu of set %s belongs to '%s'", i,
					       old[i].set, c ? c : "");
	}
	return 0;
}

/* ---- GC ---- */

/* Which elements a sweep removes: those of one owner, or those of a network's attachments
 * that are not in the valid list. */
struct gc_ctx {
	const char *kind, *network;
	const struct berth_nft_owner *owner;
	const struct berth_cni_attachment *valid;
	size_t n_valid;
	struct berth_nft_elem *stale;
	size_t n_stale;
};

static int gc_cb(const struct berth_nft_elem *e, const char *comment, void *data)
{
	struct gc_ctx *g = data;
	char k[64], net[256], id[256], ifn[64];
	if (!comment || sscanf(comment, "berth %63s %255s %255s %63s", k, net, id, ifn) != 4)
		return 0; /* not ours to judge */
	if (!STREQ(k, g->kind) || !STREQ(net, g->network))
		return 0;
	if (g->owner ? !STREQ(id, g->owner->container_id) || !STREQ(ifn, g->owner->ifname)
		     : berth_cni_attachment_valid(g->valid, g->n_valid, id, ifn))
		return 0;
	struct berth_nft_elem *s = realloc(g->stale, (g->n_stale + 1) * sizeof(*s));
	if (!s)
		return -ENOMEM;
	g->stale = s;
	s[g->n_stale++] = *e;
	return 0;
}

/* Remove, set by set, the elements of g->kind's sets that g selects by their owner comment. */
static int sweep(struct gc_ctx *g, berth_error *err)
{
	int first = 0;
	for (const struct berth_nft_kind *k = berth_nft_kinds; k->name; k++) {
		if (!STREQ(k->name, g->kind))
			continue;
		for (size_t s = 0; k->sets[s]; s++) {
			const char *set = k->sets[s];
			int family = berth_nft_set_def(NFPROTO_INET, set) ? NFPROTO_INET
									   : NFPROTO_BRIDGE;
			berth_error e2 = { 0 };
			g->stale = NULL;
			g->n_stale = 0;
			int r = berth_nft_elems_dump(family, set, gc_cb, g, &e2);
			if (r == 0 && g->n_stale) {
				r = send_change(g->stale, g->n_stale, NULL, 0, NULL, &e2);
				if (r == -ENOENT)
					r = 0;
			}
			free(TAKE_PTR(g->stale));
			if (r < 0 && !first) {
				first = r;
				*err = e2;
			}
		}
	}
	return first;
}

/* DEL's fallback when nothing is recorded: best effort, it never fails the DEL */
static int sweep_owner(const char *kind, const struct berth_nft_owner *o, berth_error *err)
{
	struct gc_ctx g = { kind, o->network, o, NULL, 0, NULL, 0 };
	berth_error e2 = { 0 };
	if (sweep(&g, &e2) < 0)
		berth_log_warn("nft: looking for unrecorded %s elements of %s/%s: %s", kind,
			       o->container_id, o->ifname, e2.msg);
	return 0;
}

int berth_nft_attach_gc(const char *kind, const char *network,
			const struct berth_cni_attachment *valid, size_t n_valid, berth_error *err)
{
	char dir[4096];
	int r, first = 0;

	if (berth_nft_kind_dir(kind, dir, sizeof(dir)) < 0)
		return berth_error_set(err, BERTH_CNI_ERR_IO, ENAMETOOLONG, "nft: state path too long");
	/* 1. state files of this network whose attachment is gone */
	_cleanup_closedir_ DIR *d = opendir(dir);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		char path[8192];
		_cleanup_json_ json_t *j = NULL;
		_cleanup_free_ struct berth_nft_elem *e = NULL;
		size_t n = 0;
		if (!strstr(de->d_name, ".json"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (load_state_file(path, &j, &e, &n, err) <= 0)
			continue;
		const char *net = json_string_value(json_object_get(j, "network"));
		const char *id = json_string_value(json_object_get(j, "containerId"));
		const char *ifn = json_string_value(json_object_get(j, "ifname"));
		if (!net || !id || !ifn || !STREQ(net, network) ||
		    berth_cni_attachment_valid(valid, n_valid, id, ifn))
			continue;
		struct berth_nft_owner o = { net, id, ifn };
		berth_error e2 = { 0 };
		r = berth_nft_attach_del(kind, &o, false, &e2);
		if (r < 0 && !first) {
			first = r;
			*err = e2;
		}
	}
	/* 2. elements whose comment names a stale attachment of this network (state lost) */
	struct gc_ctx g = { kind, network, NULL, valid, n_valid, NULL, 0 };
	berth_error e2 = { 0 };
	r = sweep(&g, &e2);
	if (r < 0 && !first) {
		first = r;
		*err = e2;
	}
	return first;
}

/* ---- re-apply everything after a flush ---- */

static int collect_dir(const char *dir, struct berth_nft_elem **all, size_t *n_all,
		       char ***comments, berth_error *err)
{
	_cleanup_closedir_ DIR *d = opendir(dir);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		char path[8192];
		_cleanup_json_ json_t *j = NULL;
		_cleanup_free_ struct berth_nft_elem *e = NULL;
		size_t n = 0;
		if (!strstr(de->d_name, ".json"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (load_state_file(path, &j, &e, &n, err) <= 0 || !n)
			continue;
		struct berth_nft_owner o = {
			json_string_value(json_object_get(j, "network")),
			json_string_value(json_object_get(j, "containerId")),
			json_string_value(json_object_get(j, "ifname")),
		};
		const char *kind = json_string_value(json_object_get(j, "kind"));
		if (!o.network || !o.container_id || !o.ifname || !kind)
			continue;
		char c[512];
		owner_comment(kind, &o, c, sizeof(c));
		struct berth_nft_elem *na = realloc(*all, (*n_all + n) * sizeof(**all));
		char **nc = realloc(*comments, (*n_all + n + 1) * sizeof(char *));
		if (nc)
			*comments = nc;
		if (!na || !nc) {
			free(na ? na : NULL);
			return -ENOMEM;
		}
		*all = na;
		for (size_t i = 0; i < n; i++) {
			na[*n_all] = e[i];
			nc[*n_all] = strdup(c);
			nc[*n_all + 1] = NULL;
			(*n_all)++;
		}
	}
	return 0;
}

/* The conditional DNAT maps and rules recorded by berth_nft_conds_ensure. */
static int add_condition_groups(struct berth_nft_batch *b, berth_error *err)
{
	char dir[4096];
	berth_nft_kind_dir("conditions", dir, sizeof(dir));
	_cleanup_closedir_ DIR *d = opendir(dir);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		char path[8192];
		_cleanup_json_ json_t *j = NULL;
		berth_error e2 = { 0 };
		if (!strstr(de->d_name, ".json"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (berth_json_load_file(path, &j, &e2) < 0)
			continue;
		json_t *toks = json_object_get(j, "tokens");
		int fam = (int)json_integer_value(json_object_get(j, "family"));
		size_t n = json_array_size(toks);
		_cleanup_free_ const char **t = calloc(n + 1, sizeof(*t));
		struct berth_nft_conds c;
		if (!t)
			return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
		for (size_t i = 0; i < n; i++)
			t[i] = json_string_value(json_array_get(toks, i));
		if (berth_nft_conds_parse(t, n, fam, "conditions", &c, &e2) < 0)
			continue;
		int r = berth_nft_batch_conds(b, &c, err);
		if (r < 0)
			return r;
	}
	return 0;
}

int berth_nft_reapply_all(berth_error *err)
{
	_cleanup_close_ int lock = -1;
	_cleanup_free_ struct berth_nft_elem *all = NULL;
	_cleanup_strv_ char **comments = NULL;
	_cleanup_nft_batch_ struct berth_nft_batch *b = NULL;
	size_t n_all = 0;
	int r;

	if ((r = berth_nft_lock_state(true, &lock, err)) < 0)
		return r;
	for (const struct berth_nft_kind *k = berth_nft_kinds; k->name; k++) {
		char dir[4096];
		berth_nft_kind_dir(k->name, dir, sizeof(dir));
		if (collect_dir(dir, &all, &n_all, &comments, err) < 0)
			return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	}
	if ((r = berth_nft_batch_new(&b)) < 0)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	/* one transaction: drop our (possibly partial) tables, rebuild them, refill them */
	int fams[2] = { NFPROTO_INET, NFPROTO_BRIDGE };
	for (int f = 0; f < 2; f++) {
		if ((r = berth_nft_batch_del_table(b, fams[f], err)) < 0)
			return r;
		if ((r = berth_nft_batch_setup(b, fams[f], err)) < 0)
			return r;
	}
	if ((r = add_condition_groups(b, err)) < 0)
		return r;
	if (n_all && (r = berth_nft_batch_elems_c(b, all, n_all, (const char *const *)comments,
						  err)) < 0)
		return r;
	if ((r = berth_nft_batch_send(b, err)) < 0)
		return r;
	return (int)n_all;
}

int berth_nft_gc_call(const char *kind, const struct berth_cni_call *call, berth_error *err)
{
	struct berth_cni_attachment *valid = NULL;
	size_t n = 0;
	bool present = false;
	int r = berth_cni_valid_attachments(call->config, &valid, &n, &present, err);

	if (r < 0)
		return r;
	r = berth_nft_attach_gc(kind, call->name, valid, n, err);
	berth_cni_attachments_free(valid, n);
	return r;
}

int berth_nft_reapply_main(const char *prog)
{
	berth_error err = { 0 };
	int r = berth_nft_reapply_all(&err);

	if (r < 0) {
		fprintf(stderr, "%s --reapply: %s\n", prog, err.msg);
		return 1;
	}
	printf("{\"reapplied\":%d}\n", r);
	return 0;
}
