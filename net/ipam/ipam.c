// SPDX-License-Identifier: Apache-2.0
/* host-local IPAM operations: the allocator (round robin as the reference's RangeIter) and the
 * ADD/DEL/CHECK/STATUS/GC verbs on top of the store. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth/cleanup.h"
#include "berth/ipam.h"
#include "berth/log.h"

#define SET_STR_MAX 512

/* Iteration order of the reference (backend/allocator/allocator.go RangeIter): start after the
 * last reserved address when the set contains it, else at the first range's start; ranges are
 * walked in order and wrap; the gateway is skipped; stop when back at the first candidate. */
struct iter {
	const struct berth_ipam_rangeset *set;
	size_t idx;
	struct berth_ip cur, start;
	bool has_cur, has_start;
};

static void iter_init(struct iter *it, const struct berth_ipam_rangeset *set,
		      const struct berth_ip *last)
{
	int k = last ? berth_ipam_rangeset_find(set, last) : -1;

	memset(it, 0, sizeof(*it));
	it->set = set;
	if (k >= 0) {
		it->idx = (size_t)k;
		it->cur = *last;
		it->has_cur = true;
	} else {
		it->start = set->ranges[0].start;
		it->has_start = true;
	}
}

static bool iter_next(struct iter *it, struct berth_ip *ret, const struct berth_ipam_range **ret_r)
{
	for (;;) {
		const struct berth_ipam_range *r = &it->set->ranges[it->idx];

		if (!it->has_cur) {
			it->cur = r->start;
			it->has_cur = true;
			it->start = it->cur;
			it->has_start = true;
			if (berth_ip_equal(&it->cur, &r->gateway))
				continue;
			*ret = it->cur;
			*ret_r = r;
			return true;
		}
		if (berth_ip_equal(&it->cur, &r->end)) {
			it->idx = (it->idx + 1) % it->set->n;
			r = &it->set->ranges[it->idx];
			it->cur = r->start;
		} else {
			it->cur = berth_ip_add(&it->cur, 1);
		}
		if (!it->has_start) {
			it->start = it->cur;
			it->has_start = true;
		} else if (berth_ip_equal(&it->cur, &it->start)) {
			return false;
		}
		if (berth_ip_equal(&it->cur, &r->gateway))
			continue;
		*ret = it->cur;
		*ret_r = r;
		return true;
	}
}

static char *ip_str(const struct berth_ip *ip, char *buf)
{
	return berth_ipam_ip_name(ip, buf);
}

struct alloc {
	struct berth_ip ip;
	struct berth_ipnet addr;
	struct berth_ip gw;
};

/* One address from set i; 0 and *a on success. */
static int alloc_one(struct berth_ipam_store *s, const struct berth_ipam_config *c, size_t i,
		     const char *id, const char *ifname, const struct berth_ip *requested,
		     struct alloc *a, berth_error *err)
{
	const struct berth_ipam_rangeset *set = &c->sets[i];
	char sbuf[SET_STR_MAX], ib[BERTH_IP_STRLEN];
	const struct berth_ipam_range *r = NULL;
	struct berth_ip last, cand;
	bool have_last, tried = false;
	struct iter it;
	int rv;

	if (requested) {
		int k = berth_ipam_rangeset_find(set, requested);

		r = &set->ranges[k];
		if (berth_ip_equal(requested, &r->gateway))
			return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
					       "failed to allocate for range %zu: requested ip %s "
					       "is subnet's gateway",
					       i, ip_str(requested, ib));
		rv = berth_ipam_store_reserve(s, id, ifname, requested, err);
		if (rv < 0)
			return rv;
		if (rv == 0)
			return berth_error_set(err, BERTH_CNI_ERR_TRY_AGAIN, EADDRINUSE,
					       "failed to allocate for range %zu: requested IP "
					       "address %s is not available in range set %s",
					       i, ip_str(requested, ib),
					       berth_ipam_rangeset_format(set, sbuf, sizeof(sbuf)));
		a->ip = *requested;
		goto done;
	}

	/* A second ADD for the same attachment is a runtime bug the spec forbids. */
	{
		_cleanup_free_ struct berth_ip *held = NULL;
		int n = berth_ipam_store_find_owner(s, id, ifname, &held);

		for (int k = 0; k < n; k++)
			if (berth_ipam_rangeset_find(set, &held[k]) >= 0)
				return berth_error_set(err, BERTH_CNI_ERR_INVALID_ENV, EEXIST,
						       "failed to allocate for range %zu: %s has "
						       "been allocated to %s, duplicate allocation "
						       "is not allowed",
						       i, ip_str(&held[k], ib), id);
	}

	have_last = berth_ipam_store_last_reserved(s, i, &last) == 0;
	iter_init(&it, set, have_last ? &last : NULL);
	while (iter_next(&it, &cand, &r)) {
		/* The next address after the last one is nearly always free: try it straight
		 * away; after a miss consult the index so a crowded range costs no syscalls. */
		if (tried && berth_ipam_store_taken(s, &cand))
			continue;
		rv = berth_ipam_store_reserve(s, id, ifname, &cand, err);
		if (rv < 0)
			return rv;
		if (rv == 1) {
			a->ip = cand;
			goto done;
		}
		tried = true;
	}
	return berth_error_set(err, BERTH_CNI_ERR_TRY_AGAIN, ENOSPC,
			       "failed to allocate for range %zu: no IP addresses available in "
			       "range set: %s",
			       i, berth_ipam_rangeset_format(set, sbuf, sizeof(sbuf)));
done:
	a->addr.ip = a->ip;
	a->addr.prefix = r->subnet.prefix;
	a->gw = r->gateway;
	return 0;
}

static int fill_result(const struct berth_ipam_config *c, const struct alloc *allocs,
		       struct berth_cni_result *res, berth_error *err)
{
	for (size_t i = 0; i < c->n_sets; i++)
		if (berth_cni_result_add_ip(res, &allocs[i].addr, &allocs[i].gw, -1) < 0)
			goto oom;
	if (berth_cni_result_add_routes(res, c->routes, c->n_routes) < 0)
		goto oom;
	return 0;
oom:
	return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
}

int berth_ipam_add(const struct berth_ipam_config *c, const char *id, const char *ifname,
		   const char *version, struct berth_cni_result **ret, berth_error *err)
{
	_cleanup_ipam_store_ struct berth_ipam_store *s = NULL;
	_cleanup_cni_result_ struct berth_cni_result *res = NULL;
	_cleanup_free_ struct alloc *allocs = NULL;
	_cleanup_free_ bool *used = NULL;
	size_t done = 0;
	int r;

	res = berth_cni_result_new(version ? version : BERTH_CNI_VERSION_LATEST);
	if (!res)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	if (c->resolv_conf) {
		r = berth_ipam_parse_resolv_conf(c->resolv_conf, &res->dns, err);
		if (r < 0)
			return r;
	}
	/* Requested addresses no range set contains fail before anything is touched. */
	for (size_t k = 0; k < c->n_requested; k++) {
		bool in = false;

		for (size_t i = 0; i < c->n_sets && !in; i++)
			in = berth_ipam_rangeset_find(&c->sets[i], &c->requested[k]) >= 0;
		if (!in) {
			char ib[BERTH_IP_STRLEN];

			return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
					       "failed to allocate all requested IPs: %s is in no "
					       "range of network %s",
					       ip_str(&c->requested[k], ib), c->name);
		}
	}

	allocs = calloc(c->n_sets, sizeof(*allocs));
	used = calloc(c->n_requested + 1, sizeof(*used));
	if (!allocs || !used)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	r = berth_ipam_store_open(c->data_dir, true, &s, err);
	if (r < 0)
		return r;
	for (; done < c->n_sets; done++) {
		const struct berth_ip *req = NULL;

		for (size_t k = 0; k < c->n_requested; k++)
			if (!used[k] && berth_ipam_rangeset_find(&c->sets[done], &c->requested[k]) >= 0) {
				used[k] = true;
				req = &c->requested[k];
				break;
			}
		r = alloc_one(s, c, done, id, ifname, req, &allocs[done], err);
		if (r < 0)
			goto undo;
	}
	for (size_t k = 0; k < c->n_requested; k++)
		if (!used[k]) {
			char ib[BERTH_IP_STRLEN];

			r = berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
					    "failed to allocate all requested IPs: %s (another "
					    "requested address already took its range set)",
					    ip_str(&c->requested[k], ib));
			goto undo;
		}
	for (size_t i = 0; i < c->n_sets; i++) {
		r = berth_ipam_store_set_last_reserved(s, i, &allocs[i].ip, err);
		if (r < 0)
			goto undo;
	}
	r = fill_result(c, allocs, res, err);
	if (r < 0)
		goto undo;
	*ret = TAKE_PTR(res);
	return 0;

undo:
	for (size_t i = 0; i < done; i++) {
		char name[BERTH_IP_STRLEN];

		berth_ipam_store_release_ip(s, berth_ipam_ip_name(&allocs[i].ip, name), NULL);
	}
	return r;
}

int berth_ipam_del(const struct berth_ipam_config *c, const char *id, const char *ifname,
		   berth_error *err)
{
	_cleanup_ipam_store_ struct berth_ipam_store *s = NULL;
	int r;

	r = berth_ipam_store_open(c->data_dir, false, &s, err);
	if (r == -ENOENT)
		return 0; /* nothing was ever allocated here */
	if (r < 0)
		return r;
	r = berth_ipam_store_release_owner(s, id, ifname, err);
	return r < 0 ? r : 0;
}

int berth_ipam_check(const struct berth_ipam_config *c, const char *id, const char *ifname,
		     berth_error *err)
{
	_cleanup_ipam_store_ struct berth_ipam_store *s = NULL;
	int r;

	r = berth_ipam_store_open(c->data_dir, false, &s, err);
	if (r < 0 && r != -ENOENT)
		return r;
	if (r == -ENOENT || berth_ipam_store_find_owner(s, id, ifname, NULL) <= 0)
		return berth_error_set(err, BERTH_CNI_ERR_UNKNOWN_CONTAINER, ENOENT,
				       "host-local: Failed to find address added by container %s "
				       "(ifname %s) in %s",
				       id, ifname, c->data_dir);
	return 0;
}

int berth_ipam_status(const struct berth_ipam_config *c, berth_error *err)
{
	_cleanup_ipam_store_ struct berth_ipam_store *s = NULL;
	_cleanup_free_ uint64_t *used = NULL;
	size_t n;
	int r;

	r = berth_ipam_store_open(c->data_dir, false, &s, err);
	if (r < 0 && r != -ENOENT)
		return r;
	used = calloc(c->n_sets, sizeof(*used));
	if (!used)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	n = s ? berth_ipam_store_count(s) : 0;
	for (size_t k = 0; k < n; k++) {
		struct berth_ip ip;

		if (berth_ip_parse(berth_ipam_store_entry(s, k)->name, &ip) < 0)
			continue;
		for (size_t i = 0; i < c->n_sets; i++) {
			int j = berth_ipam_rangeset_find(&c->sets[i], &ip);

			if (j >= 0 && !berth_ip_equal(&ip, &c->sets[i].ranges[j].gateway)) {
				used[i]++;
				break;
			}
		}
	}
	for (size_t i = 0; i < c->n_sets; i++) {
		uint64_t size = berth_ipam_rangeset_size(&c->sets[i]);

		if (used[i] >= size) {
			char sbuf[SET_STR_MAX];

			return berth_error_set(err, BERTH_CNI_ERR_STATUS_NOT_READY, ENOSPC,
					       "range set %zu (%s) of network %s is exhausted: "
					       "%ju of %ju addresses in use",
					       i, berth_ipam_rangeset_format(&c->sets[i], sbuf,
									     sizeof(sbuf)),
					       c->name, (uintmax_t)used[i], (uintmax_t)size);
		}
	}
	return 0;
}

static bool entry_valid(const struct berth_ipam_entry *e, const struct berth_cni_attachment *v,
			size_t n)
{
	if (!e->id)
		return false;
	if (e->ifname)
		return berth_cni_attachment_valid(v, n, e->id, e->ifname);
	for (size_t i = 0; i < n; i++) /* an old plugin's file names the container only */
		if (v[i].container_id && strcmp(v[i].container_id, e->id) == 0)
			return true;
	return false;
}

int berth_ipam_gc(const struct berth_ipam_config *c, const struct berth_cni_attachment *valid,
		  size_t n_valid, berth_error *err)
{
	_cleanup_ipam_store_ struct berth_ipam_store *s = NULL;
	_cleanup_strv_ char **stale = NULL;
	size_t n, ns = 0;
	int r, freed = 0, first = 0;

	r = berth_ipam_store_open(c->data_dir, false, &s, err);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	n = berth_ipam_store_count(s);
	stale = calloc(n + 1, sizeof(char *));
	if (!stale)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	for (size_t k = 0; k < n; k++) {
		const struct berth_ipam_entry *e = berth_ipam_store_entry(s, k);

		if (entry_valid(e, valid, n_valid))
			continue;
		stale[ns] = strdup(e->name);
		if (!stale[ns])
			return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
		ns++;
	}
	/* Carry on past a failure and report the first one. */
	for (size_t k = 0; k < ns; k++) {
		berth_error e = { 0 };

		r = berth_ipam_store_release_ip(s, stale[k], &e);
		if (r < 0) {
			if (!first) {
				first = r;
				if (err)
					*err = e;
			}
			continue;
		}
		berth_log_info("gc: released %s in %s", stale[k], c->data_dir);
		freed++;
	}
	berth_ipam_store_trim(s);
	return first ? first : freed;
}
