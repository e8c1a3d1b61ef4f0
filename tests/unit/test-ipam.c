/* SPDX-License-Identifier: Apache-2.0 */
/* host-local IPAM without root: config defaults and validation as the reference, the allocator
 * (round robin, gateway skip, exhaustion, requested IPs, rollback), the store and its index
 * (reference-format files, rebuild after outside changes), STATUS and GC, in a temp dataDir. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "berth/cleanup.h"
#include "berth/file.h"
#include "berth/ipam.h"
#include "berth/json.h"
#include "tap.h"

static char tmpdir[] = "/tmp/berth-test-ipam.XXXXXX";
static char last_msg[BERTH_ERROR_MSG_MAX];
static int last_code;

/* Build a config: ipam body is spliced in; dataDir is the temp dir. */
static struct berth_ipam_config *conf_args(const char *version, const char *ipam,
					   const char *extra, const char *cni_args)
{
	char buf[4096];
	json_error_t je;
	json_t *j;
	struct berth_ipam_config *c = NULL;
	berth_error err = { 0 };

	snprintf(buf, sizeof(buf),
		 "{\"cniVersion\":\"%s\",\"name\":\"net1\",\"type\":\"x\"%s%s,"
		 "\"ipam\":{\"type\":\"host-local\",\"dataDir\":\"%s\",%s}}",
		 version, extra ? "," : "", extra ? extra : "", tmpdir, ipam);
	j = json_loads(buf, 0, &je);
	if (!j) {
		printf("# bad test json: %s: %s\n", je.text, buf);
		abort();
	}
	last_code = 0;
	last_msg[0] = '\0';
	if (berth_ipam_config_parse(j, cni_args, &c, &err) < 0) {
		last_code = err.code;
		snprintf(last_msg, sizeof(last_msg), "%s", err.msg);
		c = NULL;
	}
	json_decref(j);
	return c;
}

static struct berth_ipam_config *conf(const char *ipam)
{
	return conf_args("1.1.0", ipam, NULL, NULL);
}

static const char *ipstr(const struct berth_ip *ip)
{
	static char b[4][BERTH_IP_STRLEN];
	static int k;

	k = (k + 1) % 4;
	return berth_ipam_ip_name(ip, b[k]);
}

/* ADD; returns "ip[,ip]" or "ERR<code>". */
static const char *add(const struct berth_ipam_config *c, const char *id, const char *ifname)
{
	static char out[256];
	struct berth_cni_result *res = NULL;
	berth_error err = { 0 };

	if (berth_ipam_add(c, id, ifname, "1.1.0", &res, &err) < 0) {
		snprintf(out, sizeof(out), "ERR%d", err.code);
		snprintf(last_msg, sizeof(last_msg), "%s", err.msg);
		return out;
	}
	out[0] = '\0';
	for (size_t i = 0; i < res->n_ips; i++)
		snprintf(out + strlen(out), sizeof(out) - strlen(out), "%s%s/%d", i ? "," : "",
			 ipstr(&res->ips[i].address.ip), res->ips[i].address.prefix);
	berth_cni_result_free(res);
	return out;
}

static int del(const struct berth_ipam_config *c, const char *id, const char *ifname)
{
	berth_error err = { 0 };

	return berth_ipam_del(c, id, ifname, &err);
}

static bool exists(const char *name)
{
	char p[512];

	snprintf(p, sizeof(p), "%s/net1/%s", tmpdir, name);
	return access(p, F_OK) == 0;
}

static char *slurp(const char *name)
{
	char p[512], *buf = NULL;

	snprintf(p, sizeof(p), "%s/net1/%s", tmpdir, name);
	if (berth_read_file(p, 1 << 20, &buf, NULL, NULL) < 0)
		return NULL;
	return buf;
}

static void put(const char *name, const char *content)
{
	char p[512];
	FILE *f;

	snprintf(p, sizeof(p), "%s/net1", tmpdir);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/net1/%s", tmpdir, name);
	f = fopen(p, "w");
	if (!f)
		abort();
	fputs(content, f);
	fclose(f);
}

/* Replace the index body, keeping its stamp and fixing count, length and checksum. */
static void forge_index(const char *body)
{
	char *idx = slurp(".berth/index"), *sp = idx, forged[1024];
	unsigned long long h = 0xcbf29ce484222325ULL;
	int lines = 0;

	for (int k = 0; k < 6 && sp; k++) /* the stamp is 6 words */
		sp = strchr(sp + 1, ' ');
	for (const char *q = body; *q; q++) {
		h ^= (unsigned char)*q;
		h *= 0x100000001b3ULL;
		lines += *q == '\n';
	}
	if (sp) {
		*sp = '\0';
		snprintf(forged, sizeof(forged), "%s %d 0 %zu %016llx\n%s", idx, lines, strlen(body), h,
			 body);
		put(".berth/index", forged);
	}
	free(idx);
}

static void wipe(void)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf %s/net1", tmpdir);
	if (system(cmd) != 0)
		abort();
}

static void test_config(void)
{
	struct berth_ipam_config *c;
	char b[BERTH_IP_STRLEN];
	struct berth_ip ip;

	c = conf("\"ranges\":[[{\"subnet\":\"10.1.2.0/24\"}]]");
	ok(c && c->n_sets == 1, "one range set");
	if (c) {
		struct berth_ipam_range *r = &c->sets[0].ranges[0];

		is_str(ipstr(&r->gateway), "10.1.2.1", "v4 gateway defaults to .1");
		is_str(ipstr(&r->start), "10.1.2.1", "v4 rangeStart defaults to .1");
		is_str(ipstr(&r->end), "10.1.2.254", "v4 rangeEnd defaults to broadcast-1");
		is_int(berth_ipam_rangeset_size(&c->sets[0]), 253, "253 allocatable (gw excluded)");
		is_str(c->data_dir + strlen(tmpdir), "/net1", "dataDir/<network name>");
	}
	berth_ipam_config_free(c);

	c = conf("\"ranges\":[[{\"subnet\":\"fd00:1::/120\"}]]");
	ok(c != NULL, "v6 range");
	if (c) {
		struct berth_ipam_range *r = &c->sets[0].ranges[0];

		is_str(ipstr(&r->gateway), "fd00:1::1", "v6 gateway defaults to ::1");
		is_str(ipstr(&r->end), "fd00:1::ff", "v6 rangeEnd defaults to the last address");
	}
	berth_ipam_config_free(c);

	c = conf("\"ranges\":[[{\"subnet\":\"10.1.2.0/24\",\"rangeStart\":\"10.1.2.9\","
		 "\"rangeEnd\":\"10.1.2.20\",\"gateway\":\"10.1.2.30\"}]]");
	ok(c && strcmp(ipstr(&c->sets[0].ranges[0].start), "10.1.2.9") == 0 &&
		   strcmp(ipstr(&c->sets[0].ranges[0].end), "10.1.2.20") == 0 &&
		   strcmp(ipstr(&c->sets[0].ranges[0].gateway), "10.1.2.30") == 0,
	   "explicit rangeStart/rangeEnd/gateway kept");
	berth_ipam_config_free(c);

	/* Reference order: runtime ipRanges, the legacy top-level range, then ranges. */
	c = conf_args("0.3.1",
		      "\"subnet\":\"10.1.2.0/24\",\"ranges\":[[{\"subnet\":\"11.1.2.0/24\"}]]",
		      "\"runtimeConfig\":{\"ipRanges\":[[{\"subnet\":\"12.1.3.0/24\"}]]}", NULL);
	ok(c && c->n_sets == 3 &&
		   strcmp(ipstr(&c->sets[0].ranges[0].subnet.ip), "12.1.3.0") == 0 &&
		   strcmp(ipstr(&c->sets[1].ranges[0].subnet.ip), "10.1.2.0") == 0 &&
		   strcmp(ipstr(&c->sets[2].ranges[0].subnet.ip), "11.1.2.0") == 0,
	   "ipRanges first, then legacy subnet, then ranges");
	berth_ipam_config_free(c);

	c = conf("\"ranges\":[[{\"subnet\":\"10.1.2.0/24\"}]],\"routes\":[{\"dst\":\"0.0.0.0/0\"},"
		 "{\"dst\":\"192.168.0.0/16\",\"gw\":\"10.1.2.5\"}]");
	ok(c && c->n_routes == 2 && c->routes[1].gw.family && c->routes[0].gw.family == 0,
	   "routes parsed, gw optional");
	berth_ipam_config_free(c);

	struct {
		const char *ipam, *want;
	} bad[] = {
		{ "\"ranges\":[[{\"subnet\":\"10.1.2.0/31\"}]]", "too small" },
		{ "\"ranges\":[[{\"subnet\":\"10.1.2.1/24\"}]]", "host bits" },
		{ "\"ranges\":[[{\"subnet\":\"10.1.2.0/24\",\"rangeStart\":\"10.1.3.1\"}]]",
		  "rangeStart 10.1.3.1 not in network" },
		{ "\"ranges\":[[{\"subnet\":\"10.1.2.0/24\",\"rangeEnd\":\"10.1.3.1\"}]]",
		  "rangeEnd 10.1.3.1 not in network" },
		{ "\"ranges\":[[{\"subnet\":\"10.1.2.0/24\",\"rangeStart\":\"10.1.2.9\","
		  "\"rangeEnd\":\"10.1.2.5\"}]]",
		  "after rangeEnd" },
		{ "\"ranges\":[[{\"subnet\":\"10.1.2.0/24\"},{\"subnet\":\"10.1.2.0/25\"}]]",
		  "ipam.ranges[0]: ranges [0] 10.1.2.1-10.1.2.254 and [1] 10.1.2.1-10.1.2.126 "
		  "overlap" },
		{ "\"ranges\":[[{\"subnet\":\"10.1.2.0/24\"}],[{\"subnet\":\"10.1.0.0/16\"}]]",
		  "range set 0 (10.1.2.1-10.1.2.254) overlaps with range set 1 "
		  "(10.1.0.1-10.1.255.254)" },
		{ "\"ranges\":[[{\"subnet\":\"10.1.2.0/24\"},{\"subnet\":\"fd00::/64\"}]]",
		  "mixed address families" },
		{ "\"ranges\":[]", "no IP ranges" },
		{ "\"ranges\":[[]]", "empty range set" },
		{ "\"ranges\":[[{\"gateway\":\"10.0.0.1\"}]]", "ipam.ranges[0][0].subnet is required" },
		{ "\"ranges\":[[{\"subnet\":\"banana\"}]]", "not a CIDR" },
		{ "\"ranges\":[[{\"subnet\":\"10.1.2.0/24\",\"gateway\":\"x\"}]]",
		  "gateway: \"x\" is not an IP" },
		{ "\"ranges\":[[{\"subnet\":\"10.1.2.0/24\"}]],\"routes\":[{\"gw\":\"1.2.3.4\"}]",
		  "ipam.routes[0].dst is required" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		c = conf(bad[i].ipam);
		ok(!c && last_code == 7 && strstr(last_msg, bad[i].want),
		   "invalid: %s -> code 7 '%s'", bad[i].want, last_msg);
		berth_ipam_config_free(c);
	}
	c = conf_args("0.2.0", "\"ranges\":[[{\"subnet\":\"10.1.2.0/24\"}],[{\"subnet\":"
			       "\"10.1.3.0/24\"}]]",
		      NULL, NULL);
	ok(!c && strstr(last_msg, "does not support more than 1 address per family"),
	   "0.2.0 refuses two v4 sets");
	berth_ipam_config_free(c);
	c = conf_args("1.0.0", "\"ranges\":[[{\"subnet\":\"10.1.2.0/24\"}]]", NULL,
		      "IgnoreUnknown=1;K8S_POD_NAME=x;IP=10.1.2.50");
	ok(c && c->n_requested == 1 && strcmp(ipstr(&c->requested[0]), "10.1.2.50") == 0,
	   "CNI_ARGS IP= with IgnoreUnknown");
	berth_ipam_config_free(c);
	c = conf_args("1.0.0", "\"ranges\":[[{\"subnet\":\"10.1.2.0/24\"}]]", NULL,
		      "K8S_POD_NAME=x;IP=10.1.2.50");
	ok(!c && last_code != 0, "unknown CNI_ARGS key without IgnoreUnknown is an error");
	berth_ipam_config_free(c);
	c = conf_args("1.0.0", "\"ranges\":[[{\"subnet\":\"10.1.2.0/24\"}]]",
		      "\"runtimeConfig\":{\"ips\":[\"10.1.2.7/24\"]},\"args\":{\"cni\":{\"ips\":"
		      "[\"10.1.2.8\"]}}",
		      NULL);
	ok(c && c->n_requested == 2, "args.cni.ips and runtimeConfig.ips");
	berth_ipam_config_free(c);
	c = conf_args("1.0.0", "\"ranges\":[[{\"subnet\":\"10.1.2.0/24\"}]]",
		      "\"runtimeConfig\":{\"ips\":[\"nope\"]}", NULL);
	ok(!c && last_code == 7 && strstr(last_msg, "runtimeConfig.ips[0]"),
	   "bad runtimeConfig.ips named");
	berth_ipam_config_free(c);

	/* file names as Go prints addresses */
	berth_ip_parse("::ffff:1.2.3.4", &ip);
	is_str(berth_ipam_ip_name(&ip, b), "1.2.3.4", "mapped v6 named as v4");
	berth_ip_parse("::1.2.3.4", &ip);
	is_str(berth_ipam_ip_name(&ip, b), "::102:304", "no embedded dotted quad");
	berth_ip_parse("fd00:0:0:1:0:0:0:5", &ip);
	is_str(berth_ipam_ip_name(&ip, b), "fd00:0:0:1::5", "longest zero run compressed");
	berth_ip_parse("fd00:0:0:1:0:0:1:5", &ip);
	is_str(berth_ipam_ip_name(&ip, b), "fd00::1:0:0:1:5", "first run on a tie");
	berth_ip_parse("fd00:1:0:1:0:1:0:1", &ip);
	is_str(berth_ipam_ip_name(&ip, b), "fd00:1:0:1:0:1:0:1", "a single zero word stays");
}

static void test_alloc(void)
{
	struct berth_ipam_config *c;
	char *s;

	wipe();
	c = conf("\"ranges\":[[{\"subnet\":\"10.9.0.0/28\"}]]");
	is_str(add(c, "c1", "eth0"), "10.9.0.2/28", "first ADD skips the gateway: .2");
	s = slurp("10.9.0.2");
	is_str(s, "c1\r\neth0", "file holds containerID\\r\\nifname");
	free(s);
	s = slurp("last_reserved_ip.0");
	is_str(s, "10.9.0.2", "last_reserved_ip.0 written");
	free(s);
	is_str(add(c, "c2", "eth0"), "10.9.0.3/28", "second ADD .3");
	is_str(add(c, "c1", "eth0"), "ERR4", "duplicate ADD refused");
	ok(strstr(last_msg, "duplicate allocation"), "message: %s", last_msg);
	is_str(add(c, "c1", "eth1"), "10.9.0.4/28", "same container, other ifname");
	is_int(del(c, "c1", "eth0"), 0, "DEL");
	ok(!exists("10.9.0.2") && exists("10.9.0.4"), "DEL removes only that attachment");
	is_int(del(c, "c1", "eth0"), 0, "DEL again is fine");
	is_int(del(c, "nobody", "eth0"), 0, "DEL of unknown is fine");
	is_str(add(c, "c3", "eth0"), "10.9.0.5/28", "round robin continues after last reserved");
	for (int i = 6; i <= 14; i++) {
		char id[16], want[32];

		snprintf(id, sizeof(id), "f%d", i);
		snprintf(want, sizeof(want), "10.9.0.%d/28", i);
		if (strcmp(add(c, id, "eth0"), want) != 0)
			break;
	}
	ok(exists("10.9.0.14") && !exists("10.9.0.15"), "filled up to .14, broadcast untouched");
	is_str(add(c, "wrap", "eth0"), "10.9.0.2/28", "wraps around to the freed .2");
	is_str(add(c, "full", "eth0"), "ERR11", "/28 full: one more fails");
	ok(strstr(last_msg, "no IP addresses available in range set: 10.9.0.1-10.9.0.14"),
	   "message names the range: %s", last_msg);
	ok(!exists("10.9.0.0") && !exists("10.9.0.1") && !exists("10.9.0.15"),
	   "network, gateway and broadcast never allocated");
	{
		berth_error err = { 0 };

		is_int(berth_ipam_status(c, &err), -ENOSPC, "STATUS on a full range fails");
		is_int(err.code, 50, "STATUS code 50");
		ok(strstr(err.msg, "10.9.0.1-10.9.0.14"), "STATUS names the range: %s", err.msg);
		del(c, "c3", "eth0");
		memset(&err, 0, sizeof(err));
		is_int(berth_ipam_status(c, &err), 0, "STATUS ok once an address is free");
	}
	berth_ipam_config_free(c);

	/* gateway in the middle of the range is skipped */
	wipe();
	c = conf("\"ranges\":[[{\"subnet\":\"10.9.0.0/24\",\"rangeStart\":\"10.9.0.4\","
		 "\"rangeEnd\":\"10.9.0.6\",\"gateway\":\"10.9.0.5\"}]]");
	is_str(add(c, "a", "eth0"), "10.9.0.4/24", "rangeStart honoured");
	is_str(add(c, "b", "eth0"), "10.9.0.6/24", "gateway in the range skipped");
	is_str(add(c, "c", "eth0"), "ERR11", "then exhausted");
	berth_ipam_config_free(c);

	/* requested addresses */
	wipe();
	c = conf_args("1.0.0", "\"ranges\":[[{\"subnet\":\"10.9.0.0/24\"}]]", NULL, "IP=10.9.0.50");
	is_str(add(c, "r1", "eth0"), "10.9.0.50/24", "CNI_ARGS IP honoured");
	is_str(add(c, "r2", "eth0"), "ERR11", "requested IP taken");
	ok(strstr(last_msg, "10.9.0.50 is not available"), "message names it: %s", last_msg);
	ok(!exists("last_reserved_ip.1"), "nothing else written");
	berth_ipam_config_free(c);
	c = conf_args("1.0.0", "\"ranges\":[[{\"subnet\":\"10.9.0.0/24\"}]]", NULL, "IP=10.9.1.50");
	is_str(add(c, "r3", "eth0"), "ERR7", "requested IP outside the range");
	ok(strstr(last_msg, "10.9.1.50"), "message names it: %s", last_msg);
	berth_ipam_config_free(c);
	c = conf_args("1.0.0", "\"ranges\":[[{\"subnet\":\"10.9.0.0/24\"}]]", NULL, "IP=10.9.0.1");
	is_str(add(c, "r4", "eth0"), "ERR7", "requested IP is the gateway");
	berth_ipam_config_free(c);

	/* dual stack and rollback */
	wipe();
	c = conf("\"ranges\":[[{\"subnet\":\"10.9.0.0/30\"}],[{\"subnet\":\"fd00:9::/126\"}]]");
	is_str(add(c, "d1", "eth0"), "10.9.0.2/30,fd00:9::2/126", "dual stack: one per set");
	is_str(add(c, "d3", "eth0"), "ERR11", "v4 set (/30: one address) exhausted fails the ADD");
	ok(!exists("fd00:9::3"), "the v6 address taken for it was rolled back");
	berth_ipam_config_free(c);

	wipe();
	c = conf("\"ranges\":[[{\"subnet\":\"fd00:9::/126\"}],[{\"subnet\":\"10.9.0.0/30\"}]]");
	put("10.9.0.2", "someone\r\neth0"); /* the only v4 address, taken outside our knowledge */
	is_str(add(c, "rb", "eth0"), "ERR11", "second set exhausted");
	ok(!exists("fd00:9::2"), "first set's address rolled back");
	ok(!exists("last_reserved_ip.0"), "last_reserved_ip not written on failure");
	berth_ipam_config_free(c);
}

static void test_store(void)
{
	struct berth_ipam_config *c;
	struct berth_ipam_store *s = NULL;
	berth_error err = { 0 };
	char *idx;

	wipe();
	c = conf("\"ranges\":[[{\"subnet\":\"10.8.0.0/24\"}]]");
	is_str(add(c, "a", "eth0"), "10.8.0.2/24", "ADD");
	ok(berth_ipam_store_open(c->data_dir, false, &s, &err) == 0 && !berth_ipam_store_rebuilt(s),
	   "index is fresh after our own ADD (no rebuild)");
	berth_ipam_store_close(s);
	idx = slurp(".berth/index");
	ok(idx && strstr(idx, "\n10.8.0.2 a eth0\n"), "index lists the owner");
	free(idx);

	/* another tool (the reference) adds and removes files behind our back */
	put("10.8.0.77", "ext\r\neth0");
	put("10.8.0.78", "legacyid");
	put("10.8.0.79", "");
	s = NULL;
	ok(berth_ipam_store_open(c->data_dir, false, &s, &err) == 0 && berth_ipam_store_rebuilt(s),
	   "outside change detected: index rebuilt");
	if (s) {
		is_int(berth_ipam_store_find_owner(s, "ext", "eth0", NULL), 1, "finds ext's file");
		is_int(berth_ipam_store_find_owner(s, "legacyid", "eth7", NULL), 1,
		       "id-only file matches any ifname (reference GetByID)");
		berth_ipam_store_close(s);
	}
	is_int(del(c, "ext", "eth0"), 0, "DEL of a reference-made allocation");
	ok(!exists("10.8.0.77"), "its file is gone");
	is_int(del(c, "legacyid", "eth0"), 0, "DEL releases a legacy id-only file");
	ok(!exists("10.8.0.78"), "legacy file gone");

	{
		char p[512];

		snprintf(p, sizeof(p), "%s/net1/10.8.0.2", tmpdir);
		unlink(p);
	}
	s = NULL;
	ok(berth_ipam_store_open(c->data_dir, false, &s, &err) == 0 && berth_ipam_store_rebuilt(s) &&
		   berth_ipam_store_find_owner(s, "a", "eth0", NULL) == 0,
	   "outside removal detected");
	berth_ipam_store_close(s);

	/* CHECK */
	is_str(add(c, "chk", "eth0"), "10.8.0.3/24", "ADD for CHECK");
	memset(&err, 0, sizeof(err));
	is_int(berth_ipam_check(c, "chk", "eth0", &err), 0, "CHECK finds the allocation");
	memset(&err, 0, sizeof(err));
	ok(berth_ipam_check(c, "chk", "eth1", &err) < 0 && err.code == 3,
	   "CHECK of another ifname fails with code 3");

	/* the index shrinks in place: leftovers after the body are ignored */
	is_str(add(c, "tmp1", "eth0"), "10.8.0.4/24", "ADD");
	is_int(del(c, "tmp1", "eth0"), 0, "DEL (index now shorter than the file)");
	s = NULL;
	ok(berth_ipam_store_open(c->data_dir, false, &s, &err) == 0 && !berth_ipam_store_rebuilt(s) &&
		   berth_ipam_store_find_owner(s, "tmp1", "eth0", NULL) == 0 &&
		   berth_ipam_store_find_owner(s, "chk", "eth0", NULL) == 1,
	   "shrunk index read back without a rebuild");
	berth_ipam_store_close(s);

	/* a torn index (body does not match its checksum) is rebuilt */
	idx = slurp(".berth/index");
	if (idx) {
		char *b = strstr(idx, "chk eth0");

		if (b)
			b[0] = 'x';
		put(".berth/index", idx);
		free(idx);
	}
	s = NULL;
	ok(berth_ipam_store_open(c->data_dir, false, &s, &err) == 0 && berth_ipam_store_rebuilt(s) &&
		   berth_ipam_store_find_owner(s, "chk", "eth0", NULL) == 1,
	   "torn index detected by its checksum and rebuilt");
	berth_ipam_store_close(s);

	/* an index naming a path instead of an address is refused even with a valid checksum */
	forge_index("10.8.0.200 chk eth0\n");
	s = NULL;
	ok(berth_ipam_store_open(c->data_dir, false, &s, &err) == 0 && !berth_ipam_store_rebuilt(s) &&
		   berth_ipam_store_count(s) == 1,
	   "(a forged index with a valid checksum is believed)");
	berth_ipam_store_close(s);
	forge_index("../escape chk eth0\n");
	s = NULL;
	ok(berth_ipam_store_open(c->data_dir, false, &s, &err) == 0 && berth_ipam_store_rebuilt(s),
	   "index entry with a path is not trusted");
	berth_ipam_store_close(s);

	/* a corrupt index is rebuilt */
	put(".berth/index", "garbage\n");
	s = NULL;
	ok(berth_ipam_store_open(c->data_dir, false, &s, &err) == 0 && berth_ipam_store_rebuilt(s) &&
		   berth_ipam_store_find_owner(s, "chk", "eth0", NULL) == 1,
	   "corrupt index rebuilt from the files");
	berth_ipam_store_close(s);

	/* GC */
	{
		struct berth_cni_attachment valid[] = { { "chk", "eth0" } };

		put("10.8.0.90", "gone\r\neth0");
		put("10.8.0.91", "chk\r\neth9");
		memset(&err, 0, sizeof(err));
		is_int(berth_ipam_gc(c, valid, 1, &err), 3, "GC frees 3 stale (incl. empty file)");
		ok(exists("10.8.0.3") && !exists("10.8.0.90") && !exists("10.8.0.91") &&
			   !exists("10.8.0.79"),
		   "GC kept the valid attachment only");
		ok(exists("lock") && exists("last_reserved_ip.0"), "GC leaves lock and last_reserved");
		is_int(berth_ipam_gc(c, NULL, 0, &err), 1, "GC with an empty list frees all");
		ok(!exists("10.8.0.3"), "all gone");
	}
	berth_ipam_config_free(c);

	/* released files are recycled: blanked into .berth/spare, reused by the next ADD */
	wipe();
	c = conf("\"ranges\":[[{\"subnet\":\"10.7.0.0/24\"}]]");
	is_str(add(c, "sp1", "eth0"), "10.7.0.2/24", "ADD");
	is_int(del(c, "sp1", "eth0"), 0, "DEL");
	idx = slurp(".berth/spare/s0");
	ok(idx && strspn(idx, " ") == strlen(idx) && strlen(idx) == 9, "released file blanked in the pool");
	free(idx);
	ok(!exists("10.7.0.2"), "address file gone from the data directory");
	is_str(add(c, "sp2-longer-id", "eth1"), "10.7.0.3/24", "ADD reuses the spare");
	idx = slurp("10.7.0.3");
	is_str(idx, "sp2-longer-id\r\neth1", "reused file holds exactly the new owner");
	free(idx);
	ok(!exists(".berth/spare/s0"), "pool empty again");
	is_str(add(c, "sp3", "eth0"), "10.7.0.4/24", "ADD");
	del(c, "sp2-longer-id", "eth1");
	idx = slurp(".berth/spare/s0");
	is_int(idx ? (long long)strlen(idx) : -1, 19, "blanked to its old length");
	free(idx);
	is_str(add(c, "s4", "e0"), "10.7.0.5/24", "shorter owner into a longer spare");
	idx = slurp("10.7.0.5");
	is_str(idx, "s4\r\ne0", "no leftover bytes");
	free(idx);
	for (int i = 0; i < 70; i++) {
		char id[16];

		snprintf(id, sizeof(id), "m%d", i);
		add(c, id, "eth0");
	}
	for (int i = 0; i < 70; i++) {
		char id[16];

		snprintf(id, sizeof(id), "m%d", i);
		del(c, id, "eth0");
	}
	ok(exists(".berth/spare/s69") && !exists(".berth/spare/s70"), "70 spares after 70 DELs");
	is_int(berth_ipam_gc(c, (struct berth_cni_attachment[]){ { "sp3", "eth0" }, { "s4", "e0" } },
			     2, &err),
	       0, "GC with nothing stale");
	ok(exists(".berth/spare/s63") && !exists(".berth/spare/s64"), "GC trimmed the pool to 64");
	put(".berth/index", "junk");
	s = NULL;
	ok(berth_ipam_store_open(c->data_dir, false, &s, &err) == 0 && berth_ipam_store_rebuilt(s) &&
		   berth_ipam_store_spares(s) == 64,
	   "a rebuild recounts the pool");
	berth_ipam_store_close(s);
	put(".berth/spare/s64", "  "); /* a spare the count missed */
	is_int(del(c, "sp3", "eth0"), 0, "DEL with an uncounted spare in the way");
	ok(!exists("10.7.0.4") && exists(".berth/spare/s65"), "released file went past it");
	berth_ipam_config_free(c);

	/* nothing allocated yet: DEL, STATUS, GC succeed without creating anything */
	wipe();
	c = conf("\"ranges\":[[{\"subnet\":\"10.8.0.0/24\"}]]");
	memset(&err, 0, sizeof(err));
	ok(del(c, "x", "eth0") == 0 && berth_ipam_status(c, &err) == 0 &&
		   berth_ipam_gc(c, NULL, 0, &err) == 0 && !exists("."),
	   "DEL/STATUS/GC on a network never used");
	berth_ipam_config_free(c);
}

static void test_resolv(void)
{
	char p[512];
	struct berth_cni_dns dns = { 0 };
	berth_error err = { 0 };
	FILE *f;

	snprintf(p, sizeof(p), "%s/resolv.conf", tmpdir);
	f = fopen(p, "w");
	fputs("# comment\n; also\nnameserver 1.1.1.1\nnameserver  fd00::53 \ndomain example.com\n"
	      "search a.example b.example\noptions ndots:2 edns0\nbogus\n",
	      f);
	fclose(f);
	is_int(berth_ipam_parse_resolv_conf(p, &dns, &err), 0, "resolv.conf parsed");
	ok(dns.nameservers && dns.nameservers[1] && strcmp(dns.nameservers[1], "fd00::53") == 0 &&
		   !dns.nameservers[2],
	   "two nameservers");
	is_str(dns.domain, "example.com", "domain");
	ok(dns.search && dns.search[1] && strcmp(dns.search[1], "b.example") == 0, "search");
	ok(dns.options && dns.options[1] && strcmp(dns.options[1], "edns0") == 0, "options");
	berth_strv_free(dns.nameservers);
	berth_strv_free(dns.search);
	berth_strv_free(dns.options);
	free(dns.domain);
	memset(&err, 0, sizeof(err));
	ok(berth_ipam_parse_resolv_conf("/nonexistent/resolv", &dns, &err) < 0 && err.code == 5,
	   "missing resolvConf is code 5");
}

int main(void)
{
	char cmd[600];

	if (!mkdtemp(tmpdir))
		return 1;
	test_config();
	test_alloc();
	test_store();
	test_resolv();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		return 1;
	return done_testing();
}
