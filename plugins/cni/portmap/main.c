// SPDX-License-Identifier: Apache-2.0
/*
 * portmap: host ports to container ports, natively in nftables.  Every mapping is one element
 * of a DNAT map (`proto . port` or `hostIP . proto . port` to `addr . port`), so ADD and DEL
 * touch elements only and a port already mapped is an error naming its owner, not a shadow.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <netinet/in.h>
#include <linux/netfilter.h>

#include "berth/cleanup.h"
#include "berth/json.h"
#include "berth/log.h"
#include "berth/nft.h"
#include "berth/cni-skel.h"
#include "berth/sysctl.h"

struct mapping {
	uint16_t host_port, container_port, count;
	uint8_t proto;
	struct berth_ip host_ip; /* family 0 = any */
};

struct conf {
	bool snat, masq_all;
	struct mapping *maps;
	size_t n_maps;
	struct berth_ipnet c4, c6; /* container addresses (family 0 = none) */
	const char *host_if;       /* the bridge: route_localnet */
	struct berth_nft_conds cond[2]; /* conditionsV4, conditionsV6 (n == 0: none) */
};

static void conf_free(struct conf *c)
{
	free(c->maps);
}

static int proto_parse(const char *s, uint8_t *ret)
{
	if (!s || !*s || !strcasecmp(s, "tcp"))
		*ret = IPPROTO_TCP;
	else if (!strcasecmp(s, "udp"))
		*ret = IPPROTO_UDP;
	else if (!strcasecmp(s, "sctp"))
		*ret = IPPROTO_SCTP;
	else
		return -EINVAL;
	return 0;
}

static const char *proto_name(uint8_t p)
{
	return p == IPPROTO_UDP ? "udp" : p == IPPROTO_SCTP ? "sctp" : "tcp";
}

static int parse_mappings(json_t *arr, struct conf *c, berth_error *err)
{
	size_t i;
	json_t *it;
	c->maps = calloc(json_array_size(arr) + 1, sizeof(*c->maps));
	if (!c->maps)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	json_array_foreach(arr, i, it) {
		char what[64];
		int64_t hp = 0, cp = 0, range = 1;
		const char *proto = NULL, *hip = NULL;
		struct mapping *m = &c->maps[c->n_maps];
		int r;

		snprintf(what, sizeof(what), "runtimeConfig.portMappings[%zu]", i);
		if (!json_is_object(it))
			return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
					       "%s: not an object", what);
		if ((r = berth_json_get_int(it, what, "hostPort", true, 1, 65535, &hp, err)) < 0 ||
		    (r = berth_json_get_int(it, what, "containerPort", true, 1, 65535, &cp, err)) <
			    0 ||
		    (r = berth_json_get_int(it, what, "range", false, 1, 65535, &range, err)) < 0 ||
		    (r = berth_json_get_string(it, what, "protocol", false, &proto, err)) < 0 ||
		    (r = berth_json_get_string(it, what, "hostIP", false, &hip, err)) < 0)
			return r;
		if (hp + range - 1 > 65535 || cp + range - 1 > 65535)
			return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
					       "%s.range: %lld ports from %lld/%lld pass 65535", what,
					       (long long)range, (long long)hp, (long long)cp);
		if (proto_parse(proto, &m->proto) < 0)
			return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
					       "%s.protocol: unknown protocol '%s' (tcp, udp, sctp)",
					       what, proto);
		if (hip && *hip) {
			if (berth_ip_parse(hip, &m->host_ip) < 0)
				return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
						       "%s.hostIP: '%s' is not an IP address", what,
						       hip);
			static const uint8_t zero[16];
			if (!memcmp(m->host_ip.addr, zero, berth_ip_len(m->host_ip.family)))
				m->host_ip.family = -m->host_ip.family; /* 0.0.0.0 / :: = any of one family */
		}
		m->host_port = hp;
		m->container_port = cp;
		m->count = range;
		c->n_maps++;
	}
	return 0;
}

/* The reference refuses options of one backend with the other: externalSetMarkChain and
 * conditions in iptables syntax (a first string starting with '-' or '!') are iptables',
 * other conditions nftables'.  Both backends are served by nftables here, but a config that
 * the reference refuses is refused alike, with its message. */
static int backend_conflicts(json_t *cfg, const char *backend, berth_error *err)
{
	char ipt[64] = "", nft[64] = "";
	json_t *v;

	if (!backend)
		return 0; /* the reference then picks the backend that fits */
	if ((v = json_object_get(cfg, "externalSetMarkChain")) && !json_is_null(v))
		strcat(ipt, "externalSetMarkChain");
	for (int f = 4; f <= 6; f += 2) {
		const char *key = f == 4 ? "conditionsV4" : "conditionsV6";
		const char *first = json_string_value(json_array_get(json_object_get(cfg, key), 0));
		char *into;

		if (!first || !*first)
			continue;
		into = first[0] == '-' || first[0] == '!' ? ipt : nft;
		if (*into)
			strcat(into, " ");
		strcat(into, key);
	}
	if (STREQ(backend, "nftables") && *ipt)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "nftables backend was requested but configuration contains "
				       "iptables-specific options [%s]", ipt);
	if (STREQ(backend, "iptables") && *nft)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "iptables backend was requested but configuration contains "
				       "nftables-specific options [%s]", nft);
	return 0;
}

static int parse_conf(const struct berth_cni_call *call, bool need_prev, struct conf *c,
		      berth_error *err)
{
	json_t *rc = NULL, *pm = NULL, *cond = NULL;
	const char *backend = NULL;
	bool snat = true, masq_all = false;
	int r;

	if ((r = berth_json_get_bool(call->config, NULL, "snat", false, &snat, err)) < 0 ||
	    (r = berth_json_get_bool(call->config, NULL, "masqAll", false, &masq_all, err)) < 0 ||
	    (r = berth_json_get_string(call->config, NULL, "backend", false, &backend, err)) < 0)
		return r;
	if (backend && !STREQ(backend, "nftables") && !STREQ(backend, "iptables"))
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "backend: unknown backend '%s' (nftables; iptables is "
				       "served by nftables)", backend);
	if ((r = backend_conflicts(call->config, backend, err)) < 0)
		return r;
	for (int v = 4; v <= 6; v += 2) {
		char key[16];
		snprintf(key, sizeof(key), "conditionsV%d", v);
		cond = NULL; /* the getter leaves it alone when the key is absent */
		if ((r = berth_json_get_array(call->config, NULL, key, false, &cond, err)) < 0)
			return r;
		if (!cond || !json_array_size(cond))
			continue;
		size_t nc = json_array_size(cond);
		_cleanup_free_ const char **t = calloc(nc + 1, sizeof(*t));
		if (!t)
			return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
		for (size_t i = 0; i < nc; i++)
			t[i] = json_string_value(json_array_get(cond, i));
		if ((r = berth_nft_conds_parse(t, nc, v, key, &c->cond[v == 6], err)) < 0)
			return r;
	}
	c->snat = snat;
	c->masq_all = masq_all;
	if ((r = berth_json_get_object(call->config, NULL, "runtimeConfig", false, &rc, err)) < 0)
		return r;
	if (rc && (r = berth_json_get_array(rc, "runtimeConfig", "portMappings", false, &pm, err)) <
			  0)
		return r;
	if (pm && (r = parse_mappings(pm, c, err)) < 0)
		return r;
	/* two mappings of this call that claim the same host port */
	for (size_t i = 0; i < c->n_maps; i++)
		for (size_t j = 0; j < i; j++) {
			struct mapping *a = &c->maps[i], *b = &c->maps[j];
			if (a->proto != b->proto || a->host_ip.family != b->host_ip.family ||
			    memcmp(a->host_ip.addr, b->host_ip.addr, 16) ||
			    a->host_port > b->host_port + b->count - 1 ||
			    b->host_port > a->host_port + a->count - 1)
				continue;
			return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EEXIST,
					       "runtimeConfig.portMappings[%zu]: hostPort %u/%s "
					       "conflicts with runtimeConfig.portMappings[%zu]",
					       i, a->host_port, proto_name(a->proto), j);
		}
	if (!c->n_maps)
		return 0;
	const struct berth_cni_result *prev = call->prev_result;
	if (!prev) {
		if (!need_prev)
			return 0;
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "prevResult: portmap must be chained after a plugin that "
				       "returns the container's addresses");
	}
	for (size_t i = 0; i < prev->n_ips; i++) {
		const struct berth_cni_ipconfig *ip = &prev->ips[i];
		if (ip->interface >= 0 && (size_t)ip->interface < prev->n_interfaces &&
		    !prev->interfaces[ip->interface].sandbox)
			continue; /* an address on the host side */
		if (ip->address.ip.family == AF_INET && !c->c4.ip.family)
			c->c4 = ip->address;
		if (ip->address.ip.family == AF_INET6 && !c->c6.ip.family)
			c->c6 = ip->address;
	}
	for (size_t i = 0; i < prev->n_interfaces; i++)
		if (!prev->interfaces[i].sandbox || !*prev->interfaces[i].sandbox) {
			c->host_if = prev->interfaces[i].name;
			break;
		}
	if (!c->c4.ip.family && !c->c6.ip.family)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "prevResult.ips: no container address to map ports to");
	return 0;
}

/* Elements for the mappings; idx[k] = mapping index of element k (-1 for snat elements). */
static int build_elems(const struct conf *c, struct berth_nft_elem **ret, ssize_t **ret_idx,
		       size_t *ret_n, berth_error *err)
{
	size_t cap = 8, n = 0;
	for (size_t i = 0; i < c->n_maps; i++)
		cap += 2 * c->maps[i].count;
	_cleanup_free_ struct berth_nft_elem *e = calloc(cap, sizeof(*e));
	_cleanup_free_ ssize_t *idx = calloc(cap, sizeof(*idx));
	if (!e || !idx)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	/* grouped by set so the batch has one message per set */
	static const char *const order[] = { "pm4_ip", "pm4_any", "pm6_ip", "pm6_any" };
	for (size_t o = 0; o < ARRAY_SIZE(order); o++) {
		bool v6 = o >= 2, any = o % 2;
		const struct berth_ipnet *cip = v6 ? &c->c6 : &c->c4;
		int fam = v6 ? AF_INET6 : AF_INET;
		const char *set = order[o];
		if (!cip->ip.family)
			continue;
		if (c->cond[v6].n && !(set = berth_nft_conds_set(&c->cond[v6], order[o])))
			return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
		for (size_t i = 0; i < c->n_maps; i++) {
			const struct mapping *m = &c->maps[i];
			bool m_any = m->host_ip.family <= 0;
			if (m_any != any)
				continue;
			if (m->host_ip.family && abs(m->host_ip.family) != fam)
				continue;
			for (uint16_t k = 0; k < m->count; k++) {
				struct berth_nft_elem *x = &e[n];
				x->family = NFPROTO_INET;
				x->set = set;
				if (!any)
					x->key_len = berth_nft_put_ip(x->key, &m->host_ip);
				x->key_len += berth_nft_put_u8(x->key + x->key_len, m->proto);
				x->key_len += berth_nft_put_port(x->key + x->key_len,
								 m->host_port + k);
				x->data_len = berth_nft_put_ip(x->data, &cip->ip);
				x->data_len += berth_nft_put_port(x->data + x->data_len,
								  m->container_port + k);
				idx[n++] = i;
			}
		}
	}
	/* snat, matched only for connections we DNATed: from the host's 127.0.0.0/8 (IPv4
	 * only: there is no route_localnet for ::1), hairpin from the container's own bridge,
	 * or every source with masqAll.  Hash sets, so DEL stays O(1). */
	if (c->n_maps && (c->snat || c->masq_all)) {
		static const char *const snat_sets[] = { "pm_all4", "pm_all6", "pm_local4",
							 "pm_hairpin4", "pm_hairpin6" };
		for (size_t o = 0; o < ARRAY_SIZE(snat_sets); o++) {
			bool v6 = strchr(snat_sets[o], '6') != NULL;
			bool all = !strncmp(snat_sets[o], "pm_all", 6);
			bool hairpin = !strncmp(snat_sets[o], "pm_hairpin", 10);
			const struct berth_ipnet *cip = v6 ? &c->c6 : &c->c4;
			if (!cip->ip.family || all != c->masq_all || (hairpin && !c->host_if))
				continue;
			struct berth_nft_elem *x = &e[n];
			x->family = NFPROTO_INET;
			x->set = snat_sets[o];
			if (hairpin)
				x->key_len = berth_nft_put_ifname(x->key, c->host_if);
			x->key_len += berth_nft_put_ip(x->key + x->key_len, &cip->ip);
			idx[n++] = -1;
		}
	}
	*ret = TAKE_PTR(e);
	*ret_idx = TAKE_PTR(idx);
	*ret_n = n;
	return 0;
}

/* UDP ports in a list of our DNAT elements, per family. */
static void udp_ports(const struct berth_nft_elem *e, size_t n, int v6, uint16_t *ports,
		      size_t *ret_n)
{
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		size_t off;
		if (!strncmp(e[i].set, v6 ? "pm6_any" : "pm4_any", 7))
			off = 0;
		else if (!strncmp(e[i].set, v6 ? "pm6_ip" : "pm4_ip", 6))
			off = v6 ? 16 : 4;
		else
			continue;
		if (e[i].key[off] != IPPROTO_UDP)
			continue;
		ports[m++] = (e[i].key[off + 4] << 8) | e[i].key[off + 5];
	}
	*ret_n = m;
}

static void flush_udp(const struct berth_nft_elem *e, size_t n)
{
	_cleanup_free_ uint16_t *ports = calloc(n + 1, sizeof(*ports));
	if (!ports)
		return;
	for (int v6 = 0; v6 <= 1; v6++) {
		size_t m;
		berth_error err = { 0 };
		udp_ports(e, n, v6, ports, &m);
		if (m && berth_conntrack_flush_ports(v6 ? AF_INET6 : AF_INET, IPPROTO_UDP, ports, m,
						     &err) < 0)
			berth_log_warn("conntrack flush: %s", err.msg);
	}
}

static struct berth_nft_owner owner_of(const struct berth_cni_call *call)
{
	return (struct berth_nft_owner){ call->name, call->container_id, call->ifname };
}

static int cmd_add(const struct berth_cni_call *call, struct berth_cni_result **ret,
		   berth_error *err)
{
	struct conf c __attribute__((cleanup(conf_free))) = { 0 };
	_cleanup_free_ struct berth_nft_elem *e = NULL;
	_cleanup_free_ ssize_t *idx = NULL;
	size_t n = 0, conflict = 0;
	_cleanup_free_ char *owner = NULL;
	struct berth_nft_owner o = owner_of(call);
	int r;

	if ((r = parse_conf(call, true, &c, err)) < 0)
		return r;
	if ((r = build_elems(&c, &e, &idx, &n, err)) < 0)
		return r;
	if (n && c.snat && c.c4.ip.family && c.host_if) {
		/* 127.0.0.1 -> container leaves through the bridge only with route_localnet */
		char key[128];
		snprintf(key, sizeof(key), "net/ipv4/conf/%s/route_localnet", c.host_if);
		berth_error e2 = { 0 };
		if (berth_sysctl_write(key, "1", &e2) < 0)
			berth_log_warn("route_localnet on %s: %s", c.host_if, e2.msg);
	}
	for (int v6 = 0; v6 <= 1 && n; v6++)
		if (c.cond[v6].n && (r = berth_nft_conds_ensure(&c.cond[v6], err)) < 0)
			return r;
	r = berth_nft_attach_set_ex("portmap", &o, e, n, &conflict, &owner, err);
	if (r == -EEXIST && owner && conflict < n && idx[conflict] >= 0) {
		const struct mapping *m = &c.maps[idx[conflict]];
		char kind[32], net[256], id[256], ifn[64], hip[BERTH_IP_STRLEN] = "any address";
		if (m->host_ip.family > 0)
			berth_ip_format(&m->host_ip, hip);
		if (sscanf(owner, "berth %31s %255s %255s %63s", kind, net, id, ifn) == 4)
			return berth_error_set(
				err, BERTH_CNI_ERR_INVALID_CONFIG, EEXIST,
				"runtimeConfig.portMappings[%zd]: hostPort %u/%s on %s is already "
				"mapped by container %s (ifname %s, network %s); container %s "
				"cannot have it",
				idx[conflict], m->host_port, proto_name(m->proto), hip, id, ifn,
				net, call->container_id);
	}
	if (r < 0)
		return r;
	flush_udp(e, n);
	*ret = call->prev_result ? berth_cni_result_copy(call->prev_result)
				 : berth_cni_result_new(call->version);
	if (!*ret)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	return 0;
}

static int cmd_del(const struct berth_cni_call *call, struct berth_cni_result **ret,
		   berth_error *err)
{
	_cleanup_free_ struct berth_nft_elem *e = NULL;
	struct berth_nft_owner o = owner_of(call);
	size_t n = 0;
	int r;

	struct conf c __attribute__((cleanup(conf_free))) = { 0 };
	berth_error perr = { 0 };
	/* without a state file, look for elements only if this container has mappings (or its
	 * config cannot tell) */
	bool sweep = parse_conf(call, false, &c, &perr) < 0 || c.n_maps > 0;

	berth_nft_attach_load("portmap", &o, &e, &n, err);
	if ((r = berth_nft_attach_del("portmap", &o, sweep, err)) < 0)
		return r;
	flush_udp(e, n);
	return 0;
}

static int cmd_check(const struct berth_cni_call *call, struct berth_cni_result **ret,
		     berth_error *err)
{
	struct conf c __attribute__((cleanup(conf_free))) = { 0 };
	struct berth_nft_owner o = owner_of(call);
	int r;

	if ((r = parse_conf(call, false, &c, err)) < 0)
		return r;
	if (!c.n_maps)
		return 0;
	return berth_nft_attach_check("portmap", &o, err);
}

static int cmd_gc(const struct berth_cni_call *call, struct berth_cni_result **ret,
		  berth_error *err)
{
	return berth_nft_gc_call("portmap", call, err);
}

/* Ready when nf_tables answers and berth's inet table with its maps and sets is there or can be
 * created (checked by the kernel, not committed).  Code 50 otherwise. */
static int cmd_status(const struct berth_cni_call *call, struct berth_cni_result **ret,
		      berth_error *err)
{
	return berth_nft_status(true, false, err);
}

static const struct berth_cni_plugin plugin = {
	.name = "portmap",
	.add = cmd_add,
	.del = cmd_del,
	.check = cmd_check,
	.status = cmd_status,
	.gc = cmd_gc,
};

int main(int argc, char **argv)
{
	/* `portmap --reapply`: rebuild every berth nft element after `nft flush ruleset` */
	if (argc > 1 && STREQ(argv[1], "--reapply"))
		return berth_nft_reapply_main("portmap");
	return berth_plugin_main(&plugin, argc, argv);
}
