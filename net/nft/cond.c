// SPDX-License-Identifier: Apache-2.0
/*
 * portmap's conditionsV4/V6 in a documented subset of nft syntax, parsed here (no libnftables:
 * its parser would drag in the whole nft front end for four kinds of match, and we need the
 * matches as expressions we place in our own rules anyway).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <libnftnl/rule.h>
#include <jansson.h>

#include "berth/cleanup.h"
#include "berth/cni.h"
#include "berth/file.h"
#include "berth/json.h"
#include "berth/nft.h"
#include "nft-internal.h"

static uint64_t fnv(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ULL;
	}
	return h;
}

#define SUPPORTED "supported: ip/ip6 saddr|daddr [==|!=] ADDR[/LEN], iifname [==|!=] NAME, " \
		  "meta mark [==|!=] NUMBER"
#define SUPPORTED_IPT "supported in iptables syntax: [!] -s|-d ADDR[/LEN], [!] -i NAME[+], " \
		      "-m mark [!] --mark N, -m comment --comment TEXT"

static bool opt(const char *t, const char *a, const char *b, const char *c)
{
	return STREQ(t, a) || STREQ(t, b) || (c && STREQ(t, c));
}

/*
 * The same matches in iptables syntax, as the reference's iptables backend (which conditions
 * in that syntax select) would have put them into its rule: translated to the nft subset
 * above.  "!" before an option, or in the old form before its value, negates it; "NAME+" is
 * iptables' prefix match; a comment is dropped.
 */
static int from_iptables(char **tok, size_t nt, int family, const char *key, char **ret,
			 berth_error *err)
{
	size_t cap = 64, len = 0;
	char *out = malloc(cap);
	bool neg = false;

	if (!out)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	out[0] = '\0';
#define FAIL(...)                                                                                  \
	do {                                                                                       \
		free(out);                                                                         \
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL, __VA_ARGS__);    \
	} while (0)
	for (size_t i = 0; i < nt; i++) {
		const char *t = tok[i], *what = NULL;
		char v[128];

		if (STREQ(t, "!")) {
			neg = !neg;
			continue;
		}
		if (opt(t, "-s", "--source", "--src"))
			what = family == 4 ? "ip saddr" : "ip6 saddr";
		else if (opt(t, "-d", "--destination", "--dst"))
			what = family == 4 ? "ip daddr" : "ip6 daddr";
		else if (opt(t, "-i", "--in-interface", NULL))
			what = "iifname";
		else if (STREQ(t, "--mark"))
			what = "meta mark";
		else if (opt(t, "-m", "--match", NULL)) {
			if (i + 1 >= nt)
				FAIL("%s: '%s' without a module (%s)", key, t, SUPPORTED_IPT);
			t = tok[++i];
			if (STREQ(t, "mark"))
				continue;
			if (!STREQ(t, "comment"))
				FAIL("%s: the iptables match '-m %s' has no counterpart in berth (%s)", key,
				     t, SUPPORTED_IPT);
			if (i + 2 >= nt || !STREQ(tok[i + 1], "--comment"))
				FAIL("%s: '-m comment' without '--comment TEXT'", key);
			i += 2;
			if (tok[i][0] == '"')
				while (i + 1 < nt && (strlen(tok[i]) < 2 || tok[i][strlen(tok[i]) - 1] != '"'))
					i++;
			continue;
		}
		if (!what)
			FAIL("%s: cannot translate the iptables condition '%s' (%s)", key, t, SUPPORTED_IPT);
		if (i + 1 < nt && STREQ(tok[i + 1], "!")) {
			neg = !neg;
			i++;
		}
		if (i + 1 >= nt)
			FAIL("%s: '%s' without a value", key, t);
		snprintf(v, sizeof(v), "%s", tok[++i]);
		if (STREQ(what, "iifname") && *v && v[strlen(v) - 1] == '+')
			v[strlen(v) - 1] = '*';
		if (STREQ(what, "meta mark") && strchr(v, '/')) {
			char *end;
			unsigned long m = strtoul(strchr(v, '/') + 1, &end, 0);
			if (*end || m != 0xffffffffUL)
				FAIL("%s: a mark with a mask ('%s') has no counterpart in berth", key, v);
			*strchr(v, '/') = '\0';
		}
		size_t need = len + strlen(what) + strlen(v) + 8;
		if (need > cap) {
			char *o = realloc(out, need * 2);
			if (!o) {
				free(out);
				return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
			}
			out = o;
			cap = need * 2;
		}
		len += (size_t)sprintf(out + len, "%s%s %s%s", len ? " " : "", what, neg ? "!= " : "", v);
		neg = false;
	}
	if (neg)
		FAIL("%s: '!' negates nothing", key);
#undef FAIL
	*ret = out;
	return 0;
}

int berth_nft_conds_parse(const char *const *tokens, size_t n, int family, const char *key,
			  struct berth_nft_conds *ret, berth_error *err)
{
	_cleanup_free_ char *all = NULL;
	char *tok[64];
	size_t nt = 0, len = 0;

	memset(ret, 0, sizeof(*ret));
	ret->family = family;
	for (size_t i = 0; i < n; i++)
		len += strlen(tokens[i] ? tokens[i] : "") + 1;
	all = calloc(len + 1, 1);
	if (!all)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		if (!tokens[i])
			return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
					       "%s[%zu]: not a string", key, i);
		strcat(all, tokens[i]);
		strcat(all, " ");
	}
	for (char *save = NULL, *t = strtok_r(all, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
		if (nt == ARRAY_SIZE(tok))
			return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, E2BIG,
					       "%s: too many tokens", key);
		tok[nt++] = t;
	}
	/* iptables syntax (what the reference's backend detection looks at: the first string) */
	if (n && tokens[0] && (tokens[0][0] == '-' || tokens[0][0] == '!')) {
		char *nft = NULL;
		int r = from_iptables(tok, nt, family, key, &nft, err);
		if (r < 0)
			return r;
		free(all);
		all = nft;
		nt = 0;
		for (char *save = NULL, *t = strtok_r(all, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
			if (nt == ARRAY_SIZE(tok))
				return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, E2BIG,
						       "%s: too many tokens", key);
			tok[nt++] = t;
		}
	}
	for (size_t i = 0; i < nt;) {
		struct berth_nft_cond *c = &ret->c[ret->n];
		const char *what = tok[i];
		if (ret->n == BERTH_NFT_MAX_CONDS)
			return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, E2BIG,
					       "%s: more than %d matches", key, BERTH_NFT_MAX_CONDS);
		if ((STREQ(what, "ip") || STREQ(what, "ip6")) && i + 1 < nt) {
			int fam = STREQ(what, "ip") ? 4 : 6;
			if (fam != family)
				return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
						       "%s: '%s' matches IPv%d packets, not IPv%d",
						       key, what, fam, family);
			if (STREQ(tok[i + 1], "saddr"))
				c->kind = 1;
			else if (STREQ(tok[i + 1], "daddr"))
				c->kind = 2;
			else
				return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
						       "%s: cannot parse '%s %s' (%s)", key, what,
						       tok[i + 1], SUPPORTED);
			i += 2;
		} else if (STREQ(what, "iifname")) {
			c->kind = 3;
			i += 1;
		} else if (STREQ(what, "meta") && i + 1 < nt &&
			   (STREQ(tok[i + 1], "iifname") || STREQ(tok[i + 1], "mark"))) {
			c->kind = STREQ(tok[i + 1], "mark") ? 4 : 3;
			i += 2;
		} else if (STREQ(what, "mark")) {
			c->kind = 4;
			i += 1;
		} else {
			return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
					       "%s: cannot parse '%s' (%s)", key, what, SUPPORTED);
		}
		if (i < nt && (STREQ(tok[i], "!=") || STREQ(tok[i], "=="))) {
			c->neg = tok[i][0] == '!';
			i++;
		}
		if (i >= nt)
			return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
					       "%s: '%s' without a value", key, what);
		char *v = tok[i++];
		if (c->kind <= 2) {
			struct berth_ipnet net;
			if (berth_ipnet_parse_loose(v, &net) < 0 ||
			    net.ip.family != (family == 4 ? AF_INET : AF_INET6))
				return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
						       "%s: '%s' is not an IPv%d address or prefix",
						       key, v, family);
			c->len = family == 4 ? 4 : 16;
			for (int b = 0; b < c->len; b++) {
				int bits = net.prefix - 8 * b;
				c->mask[b] = bits >= 8 ? 0xff : bits <= 0 ? 0 : (uint8_t)(0xff << (8 - bits));
				c->val[b] = net.ip.addr[b] & c->mask[b];
			}
		} else if (c->kind == 3) {
			size_t l = strlen(v);
			if (l >= 2 && v[0] == '"' && v[l - 1] == '"') {
				v[l - 1] = '\0';
				v++;
				l -= 2;
			}
			if (l == 0 || l > 15)
				return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
						       "%s: bad interface name '%s'", key, v);
			memcpy(c->val, v, l);
			c->len = v[l - 1] == '*' ? l - 1 : 16; /* prefix match, or the NUL-padded name */
			if (c->len == 0)
				return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
						       "%s: bad interface name '%s'", key, v);
			if (v[l - 1] == '*')
				c->val[l - 1] = 0;
		} else {
			char *end;
			unsigned long m = strtoul(v, &end, 0);
			if (*end || m > 0xffffffffUL)
				return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
						       "%s: bad mark '%s'", key, v);
			uint32_t m32 = (uint32_t)m;
			memcpy(c->val, &m32, 4);
			c->len = 4;
		}
		size_t tl = strlen(ret->text);
		snprintf(ret->text + tl, sizeof(ret->text) - tl, "%s%s %s%s", tl ? " " : "",
			 c->kind == 1 ? (family == 4 ? "ip saddr" : "ip6 saddr")
			 : c->kind == 2 ? (family == 4 ? "ip daddr" : "ip6 daddr")
			 : c->kind == 3 ? "iifname" : "meta mark",
			 c->neg ? "!= " : "", v);
		ret->n++;
	}
	if (!ret->n)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "%s: no match in the list", key);
	snprintf(ret->id, sizeof(ret->id), "%08x",
		 (unsigned)(fnv(ret->text) ^ (fnv(ret->text) >> 32) ^ (unsigned)family));
	return 0;
}

const char *berth_nft_conds_set(const struct berth_nft_conds *c, const char *base)
{
	char name[64];
	snprintf(name, sizeof(name), "%s_%s", base, c->id);
	return berth_nft_intern(name);
}

int berth_nft_conds_ensure(const struct berth_nft_conds *c, berth_error *err)
{
	const char *any = berth_nft_conds_set(c, c->family == 6 ? "pm6_any" : "pm4_any");
	_cleanup_close_ int lock = -1;
	int r;

	if (!any)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	/* fast path: made by an earlier container of this network */
	if ((r = berth_nft_set_exists(NFPROTO_INET, any, err)) != 0)
		return r < 0 ? r : 0;
	if ((r = berth_nft_lock_state(true, &lock, err)) < 0)
		return r;
	if ((r = berth_nft_ensure_table(NFPROTO_INET, err)) < 0)
		return r;
	if ((r = berth_nft_set_exists(NFPROTO_INET, any, err)) != 0)
		return r < 0 ? r : 0;
	/* record it first: a reapply must bring it back with the elements that use it */
	char dir[4096], path[4200];
	if ((r = berth_nft_kind_dir("conditions", dir, sizeof(dir))) < 0)
		return berth_error_set(err, BERTH_CNI_ERR_IO, -r, "nft: state path too long");
	if ((r = berth_mkdir_p(dir, 0700, err)) < 0)
		return r;
	snprintf(path, sizeof(path), "%s/%s.json", dir, c->id);
	_cleanup_json_ json_t *toks = json_array();
	char buf[sizeof(c->text)];
	snprintf(buf, sizeof(buf), "%s", c->text);
	for (char *save = NULL, *t = strtok_r(buf, " ", &save); toks && t;
	     t = strtok_r(NULL, " ", &save))
		json_array_append_new(toks, json_string(t));
	_cleanup_json_ json_t *j = json_pack("{s:i,s:s,s:O}", "family", c->family, "text", c->text,
					     "tokens", toks);
	_cleanup_free_ char *s = j ? berth_json_dump(j) : NULL;
	if (!s)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	if ((r = berth_write_file_atomic(path, s, strlen(s), 0600, false, err)) < 0)
		return r;
	_cleanup_nft_batch_ struct berth_nft_batch *b = NULL;
	if (berth_nft_batch_new(&b) < 0)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	if ((r = berth_nft_batch_conds(b, c, err)) < 0)
		return r;
	return berth_nft_batch_send(b, err);
}

static void e_conds(struct nftnl_rule *r, const struct berth_nft_conds *c)
{
	bool v6 = c->family == 6;
	for (size_t i = 0; i < c->n; i++) {
		const struct berth_nft_cond *x = &c->c[i];
		uint32_t op = x->neg ? NFT_CMP_NEQ : NFT_CMP_EQ;
		switch (x->kind) {
		case 1:
		case 2:
			berth_nft_expr_payload(r, NFT_PAYLOAD_NETWORK_HEADER,
				  x->kind == 1 ? (v6 ? IP6_SADDR : IP4_SADDR)
					       : (v6 ? IP6_DADDR : IP4_DADDR),
				  x->len, NFT_REG32_00);
			berth_nft_expr_bitwise(r, NFT_REG32_00, x->mask, x->len);
			berth_nft_expr_cmp(r, NFT_REG32_00, op, x->val, x->len);
			break;
		case 3:
			berth_nft_expr_meta(r, NFT_META_IIFNAME, NFT_REG32_00);
			berth_nft_expr_cmp(r, NFT_REG32_00, op, x->val, x->len);
			break;
		case 4:
			berth_nft_expr_meta(r, NFT_META_MARK, NFT_REG32_00);
			berth_nft_expr_cmp(r, NFT_REG32_00, op, x->val, 4);
			break;
		}
	}
}

/* Two maps and, at the head of prerouting and output, two DNAT rules guarded by c. */
int berth_nft_batch_conds(struct berth_nft_batch *b, const struct berth_nft_conds *c,
			  berth_error *err)
{
	bool v6 = c->family == 6;
	uint8_t nfp = v6 ? NFPROTO_IPV6 : NFPROTO_IPV4;
	uint32_t alen = v6 ? 16 : 4, aregs = alen / 4;
	const char *ip_set = berth_nft_conds_set(c, v6 ? "pm6_ip" : "pm4_ip");
	const char *any_set = berth_nft_conds_set(c, v6 ? "pm6_any" : "pm4_any");
	static const char *const chains[] = { "prerouting", "output" };
	int r;

	if (!ip_set || !any_set || berth_nft_batch_begin(b) < 0)
		goto oom;
	if ((r = berth_nft_add_set_named(b, NFPROTO_INET, berth_nft_set_def(NFPROTO_INET, ip_set), ip_set)) <
		    0 ||
	    (r = berth_nft_add_set_named(b, NFPROTO_INET, berth_nft_set_def(NFPROTO_INET, any_set),
			       any_set)) < 0)
		goto oom;
	for (size_t k = 0; k < ARRAY_SIZE(chains); k++) {
		/* inserted at the head, "any" first so that the hostIP rule ends up in front */
		struct nftnl_rule *rl = nftnl_rule_alloc();
		berth_nft_expr_nfproto(rl, nfp);
		e_conds(rl, c);
		berth_nft_expr_fib_daddr_local(rl);
		berth_nft_expr_meta(rl, NFT_META_L4PROTO, NFT_REG32_00);
		berth_nft_expr_payload(rl, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, NFT_REG32_01);
		berth_nft_expr_lookup(rl, NFPROTO_INET, any_set, NFT_REG32_00, NFT_REG32_00, false);
		berth_nft_expr_counter(rl);
		berth_nft_expr_dnat(rl, nfp, NFT_REG32_00, NFT_REG32_00 + aregs);
		if ((r = berth_nft_add_rule_at(b, rl, NFPROTO_INET, chains[k], c->text, false)) < 0)
			goto oom;
		rl = nftnl_rule_alloc();
		berth_nft_expr_nfproto(rl, nfp);
		e_conds(rl, c);
		berth_nft_expr_payload(rl, NFT_PAYLOAD_NETWORK_HEADER, v6 ? IP6_DADDR : IP4_DADDR, alen,
			  NFT_REG32_00);
		berth_nft_expr_meta(rl, NFT_META_L4PROTO, NFT_REG32_00 + aregs);
		berth_nft_expr_payload(rl, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, NFT_REG32_00 + aregs + 1);
		berth_nft_expr_lookup(rl, NFPROTO_INET, ip_set, NFT_REG32_00, NFT_REG32_00, false);
		berth_nft_expr_counter(rl);
		berth_nft_expr_dnat(rl, nfp, NFT_REG32_00, NFT_REG32_00 + aregs);
		if ((r = berth_nft_add_rule_at(b, rl, NFPROTO_INET, chains[k], c->text, false)) < 0)
			goto oom;
	}
	return 0;
oom:
	return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "nft: building condition rules");
}
