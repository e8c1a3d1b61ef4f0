/* SPDX-License-Identifier: Apache-2.0 */
/*
 * berth inspect CONTAINER: a container's structure, read back from the kernel and our state.
 * The network side starts from the result cache (which networks, which interface, which
 * netns), then reads both ends of each interface, the addresses, routes and the bridge
 * through rtnetlink, and the nftables elements the plugins recorded for the attachment
 * (checking each is really in the kernel).  The storage side comes from
 * cli_storage_inspect() (storage.c).
 * Output: a tree (default), JSON (--json) or a graphviz digraph (--dot).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <net/if.h>
#include <linux/netfilter.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "berth/addr.h"
#include "berth/cleanup.h"
#include "berth/cniargs.h"
#include "berth/cache.h"
#include "berth/ip.h"
#include "berth/json.h"
#include "berth/link.h"
#include "berth/netns.h"
#include "berth/nft.h"
#include "berth/nl.h"
#include "berth/route.h"
#include "cli-internal.h"

static const char *const oper_names[] = { "unknown", "notpresent", "down", "lowerlayerdown",
					  "testing", "dormant", "up" };

static json_t *link_json(const struct berth_link *l)
{
	char mac[BERTH_MAC_STRLEN] = "";
	json_t *j;

	if (l->mac_len == 6)
		berth_mac_format(l->mac, mac);
	j = json_pack("{s:s,s:i,s:s,s:s,s:i,s:s,s:b}", "name", l->name, "ifindex", l->ifindex,
		      "kind", l->kind, "mac", mac, "mtu", l->mtu, "operstate",
		      l->operstate < ARRAY_SIZE(oper_names) ? oper_names[l->operstate] : "?", "up",
		      (l->flags & IFF_UP) != 0);
	if (l->port_hairpin >= 0 && l->master)
		json_object_set_new(j, "hairpin", json_boolean(l->port_hairpin));
	return j;
}

static json_t *addrs_json(struct berth_nl *nl, int ifindex)
{
	struct berth_addr *a = NULL;
	size_t n = 0;
	json_t *arr = json_array();

	if (berth_addr_list(nl, ifindex, 0, &a, &n, NULL) < 0)
		return arr;
	for (size_t i = 0; i < n; i++) {
		char buf[BERTH_IPNET_STRLEN];
		json_array_append_new(arr, json_string(berth_ipnet_format(&a[i].addr, buf)));
	}
	free(a);
	return arr;
}

static json_t *routes_json(struct berth_nl *nl, int ifindex)
{
	struct berth_route *r = NULL;
	size_t n = 0;
	json_t *arr = json_array();

	if (berth_route_list(nl, 0, 0, &r, &n, NULL) < 0)
		return arr;
	for (size_t i = 0; i < n; i++) {
		char dst[BERTH_IPNET_STRLEN], gw[BERTH_IP_STRLEN];
		if (r[i].ifindex != ifindex)
			continue;
		json_t *j = json_pack("{s:s}", "dst",
				      r[i].dst.prefix == 0 ? "default"
							   : berth_ipnet_format(&r[i].dst, dst));
		if (r[i].gw.family)
			json_object_set_new(j, "gw", json_string(berth_ip_format(&r[i].gw, gw)));
		if (r[i].priority)
			json_object_set_new(j, "metric", json_integer(r[i].priority));
		json_array_append_new(arr, j);
	}
	free(r);
	return arr;
}

/* "a . b" to "a . c" shown as "a . b-c": a range per field of a concatenation. */
static void merge_range(const char *lo, const char *hi, char *out, size_t outsz)
{
	size_t o = 0;

	out[0] = '\0';
	while (*lo || *hi) {
		const char *le = strstr(lo, " . "), *he = strstr(hi, " . ");
		size_t ll = le ? (size_t)(le - lo) : strlen(lo), hl = he ? (size_t)(he - hi) : strlen(hi);
		if (ll == hl && !strncmp(lo, hi, ll))
			o += (size_t)snprintf(out + o, outsz > o ? outsz - o : 0, "%s%.*s", o ? " . " : "",
					      (int)ll, lo);
		else
			o += (size_t)snprintf(out + o, outsz > o ? outsz - o : 0, "%s%.*s-%.*s",
					      o ? " . " : "", (int)ll, lo, (int)hl, hi);
		lo = le ? le + 3 : lo + ll;
		hi = he ? he + 3 : hi + hl;
	}
}

static json_t *nft_json(const char *network, const char *id, const char *ifname)
{
	struct berth_nft_owner o = { network, id, ifname };
	json_t *arr = json_array();

	for (const struct berth_nft_kind *k = berth_nft_kinds; k->name; k++) {
		struct berth_nft_elem *e = NULL;
		size_t n = 0;
		if (berth_nft_attach_load(k->name, &o, &e, &n, NULL) < 0)
			continue;
		for (size_t i = 0; i < n; i++) {
			char key[256], keyend[256] = "", data[256] = "";
			_cleanup_free_ char *comment = NULL;
			int present = berth_nft_elem_get(&e[i], &comment, NULL);
			berth_nft_elem_format(e[i].family, e[i].set, e[i].key, e[i].key_len, false,
					      key, sizeof(key));
			if (e[i].key_end_len)
				berth_nft_elem_format(e[i].family, e[i].set, e[i].key_end,
						      e[i].key_end_len, false, keyend, sizeof(keyend));
			if (e[i].data_len)
				berth_nft_elem_format(e[i].family, e[i].set, e[i].data, e[i].data_len,
						      true, data, sizeof(data));
			json_t *j = json_pack("{s:s,s:s,s:s,s:s,s:s,s:b}", "kind", k->name,
					      "family",
					      e[i].family == NFPROTO_BRIDGE ? "bridge" : "inet",
					      "table", berth_nft_table(), "set", e[i].set, "key", key,
					      "present", present == 1);
			if (keyend[0]) {
				char range[512];
				merge_range(key, keyend, range, sizeof(range));
				json_object_set_new(j, "keyEnd", json_string(keyend));
				json_object_set_new(j, "range", json_string(range));
			}
			if (data[0])
				json_object_set_new(j, "data", json_string(data));
			json_array_append_new(arr, j);
		}
		free(e);
	}
	return arr;
}

/* Live state of one attachment: the container end (inside its netns), the host end (its veth
 * peer in our netns) and the bridge that end is enslaved to. */
static void attachment_live(const struct berth_cache_entry *ce, json_t *att)
{
	_cleanup_close_ int nsfd = -1;
	struct berth_nl *cnl = NULL, *hnl = NULL;
	struct berth_link cl, hl, bl;

	/* a /proc/<pid>/ns/net whose pid now belongs to a host process is not the container's:
	 * showing the host's interfaces as the container's would mislead */
	bool alive = ce->netns && berth_netns_open(ce->netns, &nsfd, NULL) == 0 &&
		     !berth_netns_is_current(nsfd);
	json_object_set_new(att, "netnsAlive", json_boolean(alive));
	if (berth_nl_open(-1, &hnl, NULL) < 0)
		hnl = NULL;
	if (alive && berth_nl_open(nsfd, &cnl, NULL) == 0 &&
	    berth_link_get_by_name(cnl, ce->ifname, &cl, NULL) == 0) {
		json_t *c = link_json(&cl);
		json_object_set_new(c, "addresses", addrs_json(cnl, cl.ifindex));
		json_object_set_new(c, "routes", routes_json(cnl, cl.ifindex));
		json_object_set_new(att, "container", c);
		/* the peer of a veth moved into a netns lives in the netns it came from */
		if (hnl && cl.link > 0 && cl.link_netnsid >= 0 &&
		    berth_link_get_by_index(hnl, cl.link, &hl, NULL) == 0 && hl.link == cl.ifindex) {
			json_t *h = link_json(&hl);
			if (hl.master && berth_link_get_by_index(hnl, hl.master, &bl, NULL) == 0) {
				json_object_set_new(h, "master", json_string(bl.name));
				json_t *b = link_json(&bl);
				json_object_set_new(b, "addresses", addrs_json(hnl, bl.ifindex));
				json_object_set_new(att, "bridge", b);
			}
			json_object_set_new(att, "host", h);
		}
	}
	/* without a live netns (or a veth), the host end as the cached result names it */
	if (hnl && !json_object_get(att, "host") && ce->result) {
		json_t *ifs = json_object_get(ce->result, "interfaces"), *i;
		size_t k;
		json_array_foreach(ifs, k, i) {
			const char *nm = json_string_value(json_object_get(i, "name"));
			const char *sb = json_string_value(json_object_get(i, "sandbox"));
			if (!nm || (sb && *sb) || berth_link_get_by_name(hnl, nm, &hl, NULL) < 0)
				continue;
			if (STREQ(hl.kind, "bridge")) {
				if (!json_object_get(att, "bridge")) {
					json_t *b = link_json(&hl);
					json_object_set_new(b, "addresses", addrs_json(hnl, hl.ifindex));
					json_object_set_new(att, "bridge", b);
				}
			} else if (!json_object_get(att, "host")) {
				json_object_set_new(att, "host", link_json(&hl));
			}
		}
	}
	if (cnl)
		berth_nl_close(cnl);
	if (hnl)
		berth_nl_close(hnl);
}

static int collect(struct cli *c, const char *want, json_t **ret, berth_error *err)
{
	struct berth_cache_entry *ents = NULL;
	size_t n = 0;
	const char *id = NULL;
	int r;

	r = berth_cache_list(&c->core, NULL, NULL, &ents, &n, NULL, err);
	if (r < 0)
		return r;
	/* a unique prefix of the container ID is enough, as with podman */
	for (size_t i = 0; i < n; i++) {
		if (strncmp(ents[i].container_id, want, strlen(want)) != 0)
			continue;
		if (STREQ(ents[i].container_id, want)) {
			id = ents[i].container_id;
			break;
		}
		if (id && !STREQ(id, ents[i].container_id)) {
			berth_cache_entries_free(ents, n);
			return berth_error_set(err, BERTH_CNI_ERR_UNKNOWN_CONTAINER, EINVAL,
					       "container ID prefix \"%s\" is ambiguous", want);
		}
		id = ents[i].container_id;
	}

	json_t *out = json_object(), *nets = json_array();
	json_object_set_new(out, "container", json_string(id ? id : want));
	for (size_t i = 0; id && i < n; i++) {
		const struct berth_cache_entry *ce = &ents[i];
		if (!STREQ(ce->container_id, id))
			continue;
		json_t *att = json_pack("{s:s,s:s}", "network", ce->network, "ifname", ce->ifname);
		if (ce->netns)
			json_object_set_new(att, "netns", json_string(ce->netns));
		attachment_live(ce, att);
		json_t *pm = json_object_get(ce->cap_args, "portMappings");
		if (pm)
			json_object_set(att, "portMappings", pm);
		json_object_set_new(att, "nft", nft_json(ce->network, ce->container_id, ce->ifname));
		if (ce->result)
			json_object_set(att, "result", ce->result);
		json_array_append_new(nets, att);
	}
	json_object_set_new(out, "networks", nets);

	{
		json_t *st = NULL;
		berth_error e = { 0 };
		if (cli_storage_inspect(id ? id : want, &st, &e) == 0 && st)
			json_object_set_new(out, "storage", st);
		else if (e.msg[0])
			json_object_set_new(out, "storage", json_pack("{s:s}", "error", e.msg));
	}
	berth_cache_entries_free(ents, n);
	if (json_array_size(nets) == 0 && !json_object_get(out, "storage")) {
		json_decref(out);
		return berth_error_set(err, BERTH_CNI_ERR_UNKNOWN_CONTAINER, ENOENT,
				       "no container \"%s\" (no network attachment in %s/results and no storage)",
				       want, berth_core_cache_dir(&c->core));
	}
	*ret = out;
	return 0;
}

/* ---- text tree ---- */

static void line(const char *prefix, bool last, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void line(const char *prefix, bool last, const char *fmt, ...)
{
	va_list ap;
	printf("%s%s", prefix, last ? "└─ " : "├─ ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

static const char *js(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "";
}

static void print_link(const char *prefix, bool last, const char *role, json_t *l)
{
	char sub[256];
	json_t *addrs = json_object_get(l, "addresses"), *routes = json_object_get(l, "routes"), *v;
	size_t n = json_array_size(addrs) + json_array_size(routes), k, i = 0;

	line(prefix, last, "%s %s (%s)  mac %s  mtu %lld  %s%s%s", role, js(l, "name"),
	     *js(l, "kind") ? js(l, "kind") : "device", js(l, "mac"),
	     json_integer_value(json_object_get(l, "mtu")), js(l, "operstate"),
	     *js(l, "master") ? "  master " : "", js(l, "master"));
	snprintf(sub, sizeof(sub), "%s%s", prefix, last ? "   " : "│  ");
	json_array_foreach(addrs, k, v)
		line(sub, ++i == n, "address %s", json_string_value(v));
	json_array_foreach(routes, k, v) {
		const char *gw = js(v, "gw");
		line(sub, ++i == n, "route %s%s%s", js(v, "dst"), *gw ? " via " : "", gw);
	}
}

/* Generic rendering of the storage JSON (whatever shape the storage side gives). */
static void print_json_tree(const char *prefix, json_t *j)
{
	const char *k;
	json_t *v;
	size_t i = 0, n = json_is_object(j) ? json_object_size(j) : json_array_size(j);
	char sub[256];

	if (json_is_object(j)) {
		json_object_foreach(j, k, v) {
			bool last = ++i == n;
			snprintf(sub, sizeof(sub), "%s%s", prefix, last ? "   " : "│  ");
			if (json_is_object(v) || json_is_array(v)) {
				line(prefix, last, "%s", k);
				print_json_tree(sub, v);
			} else {
				_cleanup_free_ char *s = json_dumps(v, JSON_ENCODE_ANY);
				line(prefix, last, "%s: %s", k,
				     json_is_string(v) ? json_string_value(v) : s ? s : "");
			}
		}
	} else if (json_is_array(j)) {
		size_t idx;
		json_array_foreach(j, idx, v) {
			bool last = ++i == n;
			snprintf(sub, sizeof(sub), "%s%s", prefix, last ? "   " : "│  ");
			if (json_is_object(v) || json_is_array(v)) {
				const char *label = js(v, "id");
				line(prefix, last, "[%zu]%s%s", idx, *label ? " " : "", label);
				print_json_tree(sub, v);
			} else {
				_cleanup_free_ char *s = json_dumps(v, JSON_ENCODE_ANY);
				line(prefix, last, "%s", json_is_string(v) ? json_string_value(v)
									   : s ? s : "");
			}
		}
	}
}

static void print_tree(json_t *out)
{
	json_t *nets = json_object_get(out, "networks"), *att;
	json_t *storage = json_object_get(out, "storage");
	size_t i;

	printf("container %s\n", js(out, "container"));
	json_array_foreach(nets, i, att) {
		bool last_net = i + 1 == json_array_size(nets) && !storage;
		char p[64];
		json_t *pm = json_object_get(att, "portMappings"), *nft = json_object_get(att, "nft");
		json_t *v;
		size_t k;
		snprintf(p, sizeof(p), "%s", last_net ? "   " : "│  ");
		line("", last_net, "network %s as %s  netns %s%s", js(att, "network"),
		     js(att, "ifname"), *js(att, "netns") ? js(att, "netns") : "(not recorded)",
		     json_is_true(json_object_get(att, "netnsAlive")) ? "" : " (gone)");
		/* the children, in order; each knows whether it is the last one */
		json_t *parts[3] = { json_object_get(att, "container"), json_object_get(att, "host"),
				     json_object_get(att, "bridge") };
		const char *roles[3] = { "container end", "host end", "bridge" };
		size_t rest = json_array_size(pm) + json_array_size(nft);
		size_t nparts = 0;
		for (int x = 0; x < 3; x++)
			nparts += parts[x] != NULL;
		for (int x = 0, seen = 0; x < 3; x++) {
			if (!parts[x])
				continue;
			seen++;
			print_link(p, (size_t)seen == nparts && rest == 0, roles[x], parts[x]);
		}
		if (!parts[0]) {
			json_t *ips = json_object_get(json_object_get(att, "result"), "ips"), *ip;
			size_t q;
			json_array_foreach(ips, q, ip)
				line(p, rest == 0 && q + 1 == json_array_size(ips),
				     "address %s (cached result)", js(ip, "address"));
		}
		json_array_foreach(pm, k, v) {
			rest--;
			line(p, rest == 0, "port %s%s%lld/%s -> %lld", js(v, "hostIP"),
			     *js(v, "hostIP") ? ":" : "",
			     json_integer_value(json_object_get(v, "hostPort")), js(v, "protocol"),
			     json_integer_value(json_object_get(v, "containerPort")));
		}
		json_array_foreach(nft, k, v) {
			rest--;
			line(p, rest == 0, "nft %s %s %s (%s): %s%s%s%s", js(v, "family"),
			     js(v, "table"), js(v, "set"), js(v, "kind"),
			     *js(v, "range") ? js(v, "range") : js(v, "key"),
			     *js(v, "data") ? " : " : "", js(v, "data"),
			     json_is_true(json_object_get(v, "present")) ? "" : "  MISSING");
		}
	}
	if (storage) {
		line("", true, "storage");
		print_json_tree("   ", storage);
	}
}

/* ---- graphviz ---- */

static void dot_escape(const char *s)
{
	for (; s && *s; s++) {
		if (*s == '"' || *s == '\\')
			putchar('\\');
		putchar(*s);
	}
}

static void dot_node(const char *id, const char *shape, const char *label)
{
	printf("  \"%s\" [shape=%s, label=\"", id, shape);
	dot_escape(label);
	printf("\"];\n");
}

static void dot_link_label(json_t *l, char *buf, size_t sz)
{
	size_t o = (size_t)snprintf(buf, sz, "%s\\n%s", js(l, "name"), js(l, "mac"));
	json_t *v;
	size_t k;
	json_array_foreach(json_object_get(l, "addresses"), k, v)
		o += (size_t)snprintf(buf + o, sz > o ? sz - o : 0, "\\n%s", json_string_value(v));
	json_array_foreach(json_object_get(l, "routes"), k, v)
		o += (size_t)snprintf(buf + o, sz > o ? sz - o : 0, "\\nroute %s%s%s", js(v, "dst"),
				      *js(v, "gw") ? " via " : "", js(v, "gw"));
}

static void dot_json(const char *parent, json_t *j, int *counter)
{
	const char *k;
	json_t *v;
	char id[32], label[512];

	json_object_foreach(j, k, v) {
		snprintf(id, sizeof(id), "s%d", (*counter)++);
		if (json_is_array(v)) {
			size_t i;
			json_t *e;
			char prev[32] = "";
			/* arrays (a layer chain) are drawn as a chain of nodes */
			json_array_foreach(v, i, e) {
				snprintf(id, sizeof(id), "s%d", (*counter)++);
				_cleanup_free_ char *s = json_dumps(e, JSON_ENCODE_ANY | JSON_COMPACT);
				snprintf(label, sizeof(label), "%s[%zu]\\n%.200s", k, i,
					 json_is_string(e) ? json_string_value(e) : s ? s : "");
				printf("  \"%s\" [shape=box, label=\"", id);
				for (const char *c = label; *c; c++) {
					if (*c == '"')
						putchar('\\');
					putchar(*c);
				}
				printf("\"];\n");
				printf("  \"%s\" -> \"%s\";\n", prev[0] ? prev : parent, id);
				snprintf(prev, sizeof(prev), "%s", id);
			}
		} else if (json_is_object(v)) {
			dot_node(id, "folder", k);
			printf("  \"%s\" -> \"%s\";\n", parent, id);
			dot_json(id, v, counter);
		} else {
			_cleanup_free_ char *s = json_dumps(v, JSON_ENCODE_ANY);
			snprintf(label, sizeof(label), "%s: %s", k,
				 json_is_string(v) ? json_string_value(v) : s ? s : "");
			dot_node(id, "note", label);
			printf("  \"%s\" -> \"%s\";\n", parent, id);
		}
	}
}

static void print_dot(json_t *out)
{
	json_t *nets = json_object_get(out, "networks"), *att, *storage;
	char label[1024], id[64], prev[64];
	size_t i;
	int counter = 0;

	printf("digraph berth {\n  rankdir=LR;\n  node [fontname=\"monospace\", fontsize=10];\n");
	snprintf(label, sizeof(label), "container\\n%.12s", js(out, "container"));
	printf("  \"ctr\" [shape=box3d, style=bold, label=\"%s\"];\n", label);
	json_array_foreach(nets, i, att) {
		json_t *parts[3] = { json_object_get(att, "container"), json_object_get(att, "host"),
				     json_object_get(att, "bridge") };
		snprintf(prev, sizeof(prev), "ctr");
		for (int x = 0; x < 3; x++) {
			if (!parts[x])
				continue;
			snprintf(id, sizeof(id), "n%zu_%d", i, x);
			dot_link_label(parts[x], label, sizeof(label));
			printf("  \"%s\" [shape=%s, label=\"%s\"];\n", id,
			       x == 2 ? "hexagon" : "ellipse", label);
			printf("  \"%s\" -> \"%s\"%s;\n", prev, id,
			       x == 1 ? " [label=\"veth\", dir=both]" : "");
			snprintf(prev, sizeof(prev), "%s", id);
		}
		if (!parts[0]) {
			snprintf(id, sizeof(id), "n%zu_net", i);
			snprintf(label, sizeof(label), "%s (%s)", js(att, "network"), js(att, "ifname"));
			dot_node(id, "ellipse", label);
			printf("  \"ctr\" -> \"%s\";\n", id);
			snprintf(prev, sizeof(prev), "%s", id);
		}
		json_t *v;
		size_t k;
		json_array_foreach(json_object_get(att, "portMappings"), k, v) {
			snprintf(id, sizeof(id), "n%zu_pm%zu", i, k);
			snprintf(label, sizeof(label), "port %s%s%lld/%s -> %lld", js(v, "hostIP"),
				 *js(v, "hostIP") ? ":" : "",
				 json_integer_value(json_object_get(v, "hostPort")),
				 js(v, "protocol"),
				 json_integer_value(json_object_get(v, "containerPort")));
			dot_node(id, "cds", label);
			printf("  \"%s\" -> \"%s\";\n", prev, id);
		}
		json_array_foreach(json_object_get(att, "nft"), k, v) {
			snprintf(id, sizeof(id), "n%zu_nft%zu", i, k);
			snprintf(label, sizeof(label), "nft %s %s %s\\n%s%s%s", js(v, "family"),
				 js(v, "table"), js(v, "set"),
				 *js(v, "range") ? js(v, "range") : js(v, "key"),
				 *js(v, "data") ? " : " : "", js(v, "data"));
			printf("  \"%s\" [shape=component, %slabel=\"%s\"];\n", id,
			       json_is_true(json_object_get(v, "present")) ? ""
									   : "color=red, ",
			       label);
			printf("  \"%s\" -> \"%s\" [style=dashed];\n", prev, id);
		}
	}
	storage = json_object_get(out, "storage");
	if (storage) {
		dot_node("storage", "cylinder", "storage");
		printf("  \"ctr\" -> \"storage\";\n");
		dot_json("storage", storage, &counter);
	}
	printf("}\n");
}

int cli_inspect(struct cli *c, int argc, char **argv)
{
	_cleanup_json_ json_t *out = NULL;
	berth_error err = { 0 };
	int oi, r;

	r = cli_parse(c, argc, argv, &oi);
	if (r)
		return r == CLI_HELP ? 0 : r;
	if (oi + 1 != argc) {
		fprintf(stderr, "usage: berth inspect CONTAINER [--json | --dot]\n");
		return 2;
	}
	if (collect(c, argv[oi], &out, &err) < 0)
		return cli_fail(c, &err);
	if (c->json)
		cli_print_json(out);
	else if (c->dot)
		print_dot(out);
	else
		print_tree(out);
	return 0;
}
