/* SPDX-License-Identifier: Apache-2.0 */
/* CNI result parsing and rendering in every version, compared with what libcni's Go types print
 * (golden strings written from pkg/types/{020,040,100} and captured podman/reference output). */
#include <stdlib.h>
#include <string.h>

#include "berth/cleanup.h"
#include "berth/cni.h"
#include "berth/json.h"
#include "tap.h"

/* What the reference bridge plugin (v1.1.1) printed for podman (samples/podman). */
static const char podman_bridge[] =
	"{\n"
	"    \"cniVersion\": \"0.4.0\",\n"
	"    \"interfaces\": [\n"
	"        {\n"
	"            \"name\": \"pzbr0\",\n"
	"            \"mac\": \"36:4c:b4:1a:f5:3e\"\n"
	"        },\n"
	"        {\n"
	"            \"name\": \"veth456e0e06\",\n"
	"            \"mac\": \"96:d9:e5:54:09:26\"\n"
	"        },\n"
	"        {\n"
	"            \"name\": \"eth0\",\n"
	"            \"mac\": \"6a:7c:ab:50:66:2a\",\n"
	"            \"sandbox\": \"/run/netns/netns-15510d59-5a1a-786e-bc9f-69a17cbdcfdc\"\n"
	"        }\n"
	"    ],\n"
	"    \"ips\": [\n"
	"        {\n"
	"            \"version\": \"4\",\n"
	"            \"interface\": 2,\n"
	"            \"address\": \"10.198.0.13/24\",\n"
	"            \"gateway\": \"10.198.0.1\"\n"
	"        }\n"
	"    ],\n"
	"    \"routes\": [\n"
	"        {\n"
	"            \"dst\": \"0.0.0.0/0\"\n"
	"        }\n"
	"    ],\n"
	"    \"dns\": {}\n"
	"}";

static const char podman_host_local[] =
	"{\n"
	"    \"cniVersion\": \"0.4.0\",\n"
	"    \"ips\": [\n"
	"        {\n"
	"            \"version\": \"4\",\n"
	"            \"address\": \"10.198.0.50/24\",\n"
	"            \"gateway\": \"10.198.0.1\"\n"
	"        }\n"
	"    ],\n"
	"    \"routes\": [\n"
	"        {\n"
	"            \"dst\": \"0.0.0.0/0\"\n"
	"        }\n"
	"    ],\n"
	"    \"dns\": {}\n"
	"}";

/* One result using every field; its rendering in each version below. */
static const char full_110[] =
	"{\"cniVersion\":\"1.1.0\","
	"\"interfaces\":[{\"name\":\"br0\",\"mac\":\"aa:bb:cc:dd:ee:01\",\"mtu\":1500},"
	"{\"name\":\"eth0\",\"mac\":\"aa:bb:cc:dd:ee:02\",\"sandbox\":\"/run/netns/x\","
	"\"socketPath\":\"/sock\",\"pciID\":\"0000:00:1f.0\"}],"
	"\"ips\":[{\"interface\":1,\"address\":\"10.1.0.5/24\",\"gateway\":\"10.1.0.1\"},"
	"{\"interface\":1,\"address\":\"2001:db8::5/64\",\"gateway\":\"2001:db8::1\"},"
	"{\"address\":\"10.2.0.5/24\"}],"
	"\"routes\":[{\"dst\":\"0.0.0.0/0\",\"gw\":\"10.1.0.1\",\"mtu\":1400,\"table\":0,\"scope\":253},"
	"{\"dst\":\"::/0\"},"
	"{\"dst\":\"10.3.0.0/16\",\"gw\":\"10.2.0.1\",\"advmss\":1300,\"priority\":5}],"
	"\"dns\":{\"nameservers\":[\"10.1.0.1\"],\"domain\":\"example.com\",\"search\":[\"a\",\"b\"],"
	"\"options\":[\"ndots:2\"]}}";

static const char full_100[] =
	"{\"cniVersion\":\"1.0.0\","
	"\"interfaces\":[{\"name\":\"br0\",\"mac\":\"aa:bb:cc:dd:ee:01\",\"mtu\":1500},"
	"{\"name\":\"eth0\",\"mac\":\"aa:bb:cc:dd:ee:02\",\"sandbox\":\"/run/netns/x\","
	"\"socketPath\":\"/sock\",\"pciID\":\"0000:00:1f.0\"}],"
	"\"ips\":[{\"interface\":1,\"address\":\"10.1.0.5/24\",\"gateway\":\"10.1.0.1\"},"
	"{\"interface\":1,\"address\":\"2001:db8::5/64\",\"gateway\":\"2001:db8::1\"},"
	"{\"address\":\"10.2.0.5/24\"}],"
	"\"routes\":[{\"dst\":\"0.0.0.0/0\",\"gw\":\"10.1.0.1\",\"mtu\":1400,\"table\":0,\"scope\":253},"
	"{\"dst\":\"::/0\"},"
	"{\"dst\":\"10.3.0.0/16\",\"gw\":\"10.2.0.1\",\"advmss\":1300,\"priority\":5}],"
	"\"dns\":{\"nameservers\":[\"10.1.0.1\"],\"domain\":\"example.com\",\"search\":[\"a\",\"b\"],"
	"\"options\":[\"ndots:2\"]}}";

/* convertTo04x: version synthesised, 1.1 interface fields dropped, route fields kept. */
static const char full_040[] =
	"{\"cniVersion\":\"0.4.0\","
	"\"interfaces\":[{\"name\":\"br0\",\"mac\":\"aa:bb:cc:dd:ee:01\"},"
	"{\"name\":\"eth0\",\"mac\":\"aa:bb:cc:dd:ee:02\",\"sandbox\":\"/run/netns/x\"}],"
	"\"ips\":[{\"version\":\"4\",\"interface\":1,\"address\":\"10.1.0.5/24\",\"gateway\":\"10.1.0.1\"},"
	"{\"version\":\"6\",\"interface\":1,\"address\":\"2001:db8::5/64\",\"gateway\":\"2001:db8::1\"},"
	"{\"version\":\"4\",\"address\":\"10.2.0.5/24\"}],"
	"\"routes\":[{\"dst\":\"0.0.0.0/0\",\"gw\":\"10.1.0.1\",\"mtu\":1400,\"table\":0,\"scope\":253},"
	"{\"dst\":\"::/0\"},"
	"{\"dst\":\"10.3.0.0/16\",\"gw\":\"10.2.0.1\",\"advmss\":1300,\"priority\":5}],"
	"\"dns\":{\"nameservers\":[\"10.1.0.1\"],\"domain\":\"example.com\",\"search\":[\"a\",\"b\"],"
	"\"options\":[\"ndots:2\"]}}";

/* convertTo02x: first IP of each family, routes by dst family with dst/gw only. */
static const char full_020[] =
	"{\"cniVersion\":\"0.2.0\","
	"\"ip4\":{\"ip\":\"10.1.0.5/24\",\"gateway\":\"10.1.0.1\","
	"\"routes\":[{\"dst\":\"0.0.0.0/0\",\"gw\":\"10.1.0.1\"},{\"dst\":\"10.3.0.0/16\",\"gw\":\"10.2.0.1\"}]},"
	"\"ip6\":{\"ip\":\"2001:db8::5/64\",\"gateway\":\"2001:db8::1\",\"routes\":[{\"dst\":\"::/0\"}]},"
	"\"dns\":{\"nameservers\":[\"10.1.0.1\"],\"domain\":\"example.com\",\"search\":[\"a\",\"b\"],"
	"\"options\":[\"ndots:2\"]}}";

static json_t *parse(const char *s)
{
	json_error_t e;
	json_t *j = json_loads(s, 0, &e);
	if (!j) {
		printf("# bad test JSON: %s\n", e.text);
		abort();
	}
	return j;
}

/* Parse s, render in version (compact, or pretty); NULL on error with *err filled. */
static char *convert(const char *s, const char *from_default, const char *version, bool pretty,
		     berth_error *err)
{
	_cleanup_json_ json_t *in = parse(s);
	_cleanup_json_ json_t *out = NULL;
	_cleanup_cni_result_ struct berth_cni_result *r = NULL;

	if (berth_cni_result_from_json(in, from_default, &r, err) < 0)
		return NULL;
	if (berth_cni_result_to_json(r, version, &out, err) < 0)
		return NULL;
	return pretty ? berth_json_dump_pretty(out) : berth_json_dump(out);
}

static void golden(const char *in, const char *version, const char *want, const char *desc)
{
	berth_error err = {0};
	_cleanup_free_ char *got = convert(in, NULL, version, false, &err);
	if (!got)
		printf("# error: %s\n", err.msg);
	is_str(got, want, "%s", desc);
}

static void bad(const char *in, int code, const char *msg_part, const char *desc)
{
	berth_error err = {0};
	_cleanup_free_ char *got = convert(in, NULL, NULL, false, &err);
	ok(!got && err.code == code && strstr(err.msg, msg_part), "bad input: %s", desc);
	if (got || err.code != code || !strstr(err.msg, msg_part))
		printf("#   got code %d msg '%s', want code %d with '%s'\n", err.code, err.msg, code,
		       msg_part);
}

static void test_goldens(void)
{
	berth_error err = {0};
	char *s;

	golden(full_110, "1.1.0", full_110, "1.1.0 -> 1.1.0 identity");
	golden(full_110, "1.0.0", full_100, "1.1.0 -> 1.0.0 keeps the fields (same Go type)");
	golden(full_110, "0.4.0", full_040, "1.1.0 -> 0.4.0");
	golden(full_110, "0.2.0", full_020, "1.1.0 -> 0.2.0");
	golden(full_040, "0.4.0", full_040, "0.4.0 identity");
	golden(full_020, "0.2.0", full_020, "0.2.0 identity");

	/* podman's captured 0.4.0 output, byte for byte in the pretty form the skeleton prints */
	s = convert(podman_bridge, NULL, "0.4.0", true, &err);
	is_str(s, podman_bridge, "podman bridge result reprinted byte for byte");
	free(s);
	s = convert(podman_host_local, NULL, "0.4.0", true, &err);
	is_str(s, podman_host_local, "podman host-local result reprinted byte for byte");
	free(s);
	s = convert(podman_host_local, NULL, "1.0.0", false, &err);
	is_str(s,
	       "{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"10.198.0.50/24\",\"gateway\":"
	       "\"10.198.0.1\"}],\"routes\":[{\"dst\":\"0.0.0.0/0\"}],\"dns\":{}}",
	       "0.4.0 -> 1.0.0 drops version, keeps dns {}");
	free(s);
	s = convert(podman_host_local, NULL, "1.1.0", false, &err);
	is_str(s,
	       "{\"cniVersion\":\"1.1.0\",\"ips\":[{\"address\":\"10.198.0.50/24\",\"gateway\":"
	       "\"10.198.0.1\"}],\"routes\":[{\"dst\":\"0.0.0.0/0\"}]}",
	       "0.4.0 -> 1.1.0 omits empty dns (libcni >= 1.2)");
	free(s);
	s = convert(podman_bridge, NULL, "0.1.0", false, &err);
	is_str(s,
	       "{\"cniVersion\":\"0.1.0\",\"ip4\":{\"ip\":\"10.198.0.13/24\",\"gateway\":\"10.198.0.1\","
	       "\"routes\":[{\"dst\":\"0.0.0.0/0\"}]},\"dns\":{}}",
	       "0.4.0 -> 0.1.0");
	free(s);

	/* 0.2.0 up: ip4 then ip6, routes of ip4 then ip6, no interfaces */
	golden("{\"cniVersion\":\"0.2.0\",\"ip6\":{\"ip\":\"2001:db8::2/64\",\"routes\":"
	       "[{\"dst\":\"::/0\",\"gw\":\"2001:db8::1\"}]},\"ip4\":{\"ip\":\"10.0.0.2/8\"}}",
	       "0.3.0",
	       "{\"cniVersion\":\"0.3.0\",\"ips\":[{\"version\":\"4\",\"address\":\"10.0.0.2/8\"},"
	       "{\"version\":\"6\",\"address\":\"2001:db8::2/64\"}],\"routes\":[{\"dst\":\"::/0\","
	       "\"gw\":\"2001:db8::1\"}],\"dns\":{}}",
	       "0.2.0 -> 0.3.0 (ip4 first whatever the key order)");
	/* no cniVersion: the default given by the caller, else 0.1.0 as libcni */
	golden("{\"ip4\":{\"ip\":\"10.0.0.2/8\"}}", "0.4.0",
	       "{\"cniVersion\":\"0.4.0\",\"ips\":[{\"version\":\"4\",\"address\":\"10.0.0.2/8\"}],"
	       "\"dns\":{}}",
	       "missing cniVersion means 0.1.0");
	s = convert("{\"ips\":[{\"address\":\"10.0.0.2/8\"}]}", "1.0.0", "1.0.0", false, &err);
	is_str(s, "{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"10.0.0.2/8\"}],\"dns\":{}}",
	       "missing cniVersion takes the caller's default");
	free(s);
	/* 1.1 interface fields are ignored in a 0.4.0 input, as Go's 040 type has none */
	golden("{\"cniVersion\":\"0.4.0\",\"interfaces\":[{\"name\":\"e\",\"mtu\":9000}]}", "1.1.0",
	       "{\"cniVersion\":\"1.1.0\",\"interfaces\":[{\"name\":\"e\"}]}",
	       "0.4.0 input has no interface mtu");
	/* null means absent, unknown keys are ignored, empty gateway is nil */
	golden("{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"10.0.0.2/8\",\"gateway\":\"\","
	       "\"interface\":null,\"x\":[1]}],\"routes\":null,\"dns\":null,\"extra\":{}}",
	       "1.0.0", "{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"10.0.0.2/8\"}],\"dns\":{}}",
	       "null/unknown/empty handled as Go");
	golden("{\"cniVersion\":\"1.0.0\",\"interfaces\":[{}]}", "1.0.0",
	       "{\"cniVersion\":\"1.0.0\",\"interfaces\":[{\"name\":\"\"}],\"dns\":{}}",
	       "interface name is never omitted");
	/* 0.2.0 and earlier need an IP */
	s = convert("{\"cniVersion\":\"1.0.0\",\"interfaces\":[{\"name\":\"e\"}]}", NULL, "0.2.0",
		    false, &err);
	ok(!s && err.code == 1 && strstr(err.msg, "no valid IP addresses"),
	   "0.2.0 without IPs: code 1");
	free(s);
	s = convert(full_110, NULL, "0.5.0", false, &err);
	ok(!s && err.code == 1, "render in unknown version: code 1");
	free(s);
	/* rendering a new result */
	{
		_cleanup_cni_result_ struct berth_cni_result *r = berth_cni_result_new(NULL);
		_cleanup_json_ json_t *j = NULL;
		_cleanup_free_ char *out = NULL;
		berth_cni_result_to_json(r, NULL, &j, &err);
		out = berth_json_dump(j);
		is_str(out, "{\"cniVersion\":\"1.1.0\"}", "empty 1.1.0 result");
	}
}

/* Every pair of versions: down-conversion equals direct rendering; going up and back is
 * lossless. */
static void test_pairs(void)
{
	const char *const *v = berth_cni_all_versions;
	_cleanup_json_ json_t *fj = parse(full_110);
	_cleanup_cni_result_ struct berth_cni_result *full = NULL;
	berth_error err = {0};
	int bad_pairs = 0, pairs = 0;

	if (berth_cni_result_from_json(fj, NULL, &full, &err) < 0) {
		ok(0, "parse full: %s", err.msg);
		return;
	}
	for (size_t a = 0; v[a]; a++) {
		_cleanup_json_ json_t *ja = NULL;
		_cleanup_free_ char *sa = NULL;

		berth_cni_result_to_json(full, v[a], &ja, &err);
		sa = berth_json_dump(ja);
		for (size_t b = 0; v[b]; b++) {
			_cleanup_free_ char *sb = convert(sa, NULL, v[b], false, &err);
			_cleanup_free_ char *want = NULL;
			pairs++;
			if (b <= a) {
				_cleanup_json_ json_t *jb = NULL;
				berth_cni_result_to_json(full, v[b], &jb, &err);
				want = berth_json_dump(jb);
				if (!sb || strcmp(sb, want)) {
					bad_pairs++;
					printf("# %s -> %s: %s\n#  want %s\n", v[a], v[b], sb, want);
				}
			} else {
				_cleanup_free_ char *back = sb ? convert(sb, NULL, v[a], false, &err)
							       : NULL;
				if (!back || strcmp(back, sa)) {
					bad_pairs++;
					printf("# %s -> %s -> %s: %s\n#  want %s\n", v[a], v[b], v[a],
					       back, sa);
				}
			}
		}
	}
	is_int(bad_pairs, 0, "all %d version pairs convert as libcni", pairs);
}

static void test_bad(void)
{
	bad("[]", 6, "JSON object", "not an object");
	bad("{\"cniVersion\":\"0.5.0\"}", 1, "0.5.0", "unknown version");
	bad("{\"cniVersion\":5}", 6, "cniVersion", "version not a string");
	bad("{\"cniVersion\":\"1.0.0\",\"ips\":{}}", 6, "\"ips\" must be an array", "ips object");
	bad("{\"cniVersion\":\"1.0.0\",\"ips\":[1]}", 6, "ips[0]", "ips entry number");
	bad("{\"cniVersion\":\"1.0.0\",\"ips\":[{}]}", 6, "ips[0]: missing required field \"address\"",
	    "ips address missing");
	bad("{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"10.0.0.1\"}]}", 6,
	    "ips[0]: \"address\": invalid CIDR address: 10.0.0.1", "address without prefix");
	bad("{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"10.0.0.1/8\",\"gateway\":\"x\"}]}", 6,
	    "ips[0]: \"gateway\": invalid IP address: x", "bad gateway");
	bad("{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"10.0.0.1/8\",\"interface\":\"1\"}]}", 6,
	    "ips[0]: \"interface\" must be an integer", "interface string");
	bad("{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"10.0.0.1/8\",\"interface\":1.5}]}", 6,
	    "\"interface\" must be an integer", "interface fraction");
	bad("{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"10.0.0.1/8\",\"interface\":-1}]}", 6,
	    "\"interface\" out of range", "interface negative");
	bad("{\"cniVersion\":\"0.4.0\",\"ips\":[{\"version\":\"5\",\"address\":\"10.0.0.1/8\"}]}", 6,
	    "ips[0]: invalid \"version\"", "0.4.0 version garbage");
	bad("{\"cniVersion\":\"1.0.0\",\"routes\":[{\"gw\":\"10.0.0.1\"}]}", 6,
	    "routes[0]: missing required field \"dst\"", "route without dst");
	bad("{\"cniVersion\":\"1.1.0\",\"routes\":[{\"dst\":\"0.0.0.0/0\",\"mtu\":\"1500\"}]}", 6,
	    "routes[0]: \"mtu\" must be an integer", "route mtu string");
	bad("{\"cniVersion\":\"1.1.0\",\"routes\":[{\"dst\":\"0.0.0.0/0\",\"table\":4294967296}]}", 6,
	    "\"table\" out of range", "route table too big");
	bad("{\"cniVersion\":\"1.0.0\",\"interfaces\":[{\"name\":3}]}", 6,
	    "interfaces[0]: \"name\" must be a string", "interface name number");
	bad("{\"cniVersion\":\"1.1.0\",\"interfaces\":[{\"name\":\"e\",\"mtu\":true}]}", 6,
	    "interfaces[0]: \"mtu\" must be an integer", "interface mtu bool");
	bad("{\"cniVersion\":\"1.0.0\",\"dns\":[]}", 6, "dns: must be an object", "dns array");
	bad("{\"cniVersion\":\"1.0.0\",\"dns\":{\"nameservers\":[1]}}", 6,
	    "dns: nameservers[0] must be a string", "nameserver number");
	bad("{\"cniVersion\":\"1.0.0\",\"dns\":{\"domain\":[]}}", 6, "dns: \"domain\" must be a string",
	    "domain array");
	bad("{\"cniVersion\":\"0.2.0\",\"ip4\":{\"gateway\":\"10.0.0.1\"}}", 6,
	    "ip4: missing required field \"ip\"", "0.2.0 ip4 without ip");
	bad("{\"cniVersion\":\"0.2.0\",\"ip6\":\"x\"}", 6, "ip6: must be an object", "ip6 string");
	bad("{\"cniVersion\":\"0.2.0\",\"ip4\":{\"ip\":\"10.0.0.2/8\",\"routes\":[{\"dst\":\"x\"}]}}", 6,
	    "ip4.routes[0]: \"dst\": invalid CIDR address: x", "0.2.0 route dst");
}

static void test_misc(void)
{
	berth_error err = {0};
	_cleanup_json_ json_t *j = NULL;
	_cleanup_free_ char *s = NULL;
	_cleanup_cni_result_ struct berth_cni_result *r = berth_cni_result_new("0.4.0");
	_cleanup_cni_result_ struct berth_cni_result *c = NULL;
	struct berth_ipnet n;
	struct berth_ip gw;

	ok(berth_cni_version_cmp("0.3.1", "0.4.0") < 0, "cmp 0.3.1 < 0.4.0");
	ok(berth_cni_version_cmp("1.10.0", "1.9.0") > 0, "cmp numeric not lexical");
	ok(berth_cni_version_cmp("1.0.0", "1.0.0") == 0, "cmp equal");
	ok(berth_cni_version_cmp("bogus", "0.1.0") < 0, "unparsable compares lowest");
	ok(berth_cni_version_cmp("1.0", "0.1.0") < 0, "two-part version unparsable");
	ok(berth_cni_version_valid("0.3.1") && berth_cni_version_valid("1.1.0"), "valid versions");
	ok(!berth_cni_version_valid("1.2.0") && !berth_cni_version_valid("") &&
		   !berth_cni_version_valid(NULL),
	   "invalid versions");

	is_int(berth_cni_result_add_interface(r, "eth0", "aa:bb:cc:dd:ee:ff", "/run/netns/a"), 0,
	       "add interface");
	is_int(berth_cni_result_add_interface(r, "eth1", NULL, ""), 1, "add second interface");
	berth_ipnet_parse("10.0.0.2/24", &n);
	berth_ip_parse("10.0.0.1", &gw);
	is_int(berth_cni_result_add_ip(r, &n, &gw, 0), 0, "add ip");
	berth_ipnet_parse("0.0.0.0/0", &n);
	is_int(berth_cni_result_add_route(r, &n, NULL), 0, "add route");
	ok(r->routes[0].table == -1 && r->routes[0].scope == -1, "new route table/scope unset");
	is_int(berth_cni_result_find_interface(r, "eth0", "/run/netns/a"), 0, "find interface");
	is_int(berth_cni_result_find_interface(r, "eth0", "/run/netns/b"), -1, "sandbox must match");
	is_int(berth_cni_result_find_interface(r, "eth1", NULL), 1, "find by name only");
	c = berth_cni_result_copy(r);
	berth_cni_set_str(&c->interfaces[0].mac, "02:00:00:00:00:01");
	berth_cni_result_to_json(c, NULL, &j, &err);
	s = berth_json_dump(j);
	is_str(s,
	       "{\"cniVersion\":\"0.4.0\",\"interfaces\":[{\"name\":\"eth0\",\"mac\":"
	       "\"02:00:00:00:00:01\",\"sandbox\":\"/run/netns/a\"},{\"name\":\"eth1\"}],\"ips\":"
	       "[{\"version\":\"4\",\"interface\":0,\"address\":\"10.0.0.2/24\",\"gateway\":\"10.0.0.1\"}],"
	       "\"routes\":[{\"dst\":\"0.0.0.0/0\"}],\"dns\":{}}",
	       "copy, modify, render");
	is_str(r->interfaces[0].mac, "aa:bb:cc:dd:ee:ff", "copy is deep");

	{
		berth_error e = {0};
		_cleanup_json_ json_t *ej = NULL;
		_cleanup_free_ char *es = NULL;
		berth_error_set(&e, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL, "bad %s", "thing");
		berth_error_details(&e, "more");
		ej = berth_cni_error_json(&e, "1.0.0");
		es = berth_json_dump(ej);
		is_str(es, "{\"cniVersion\":\"1.0.0\",\"code\":7,\"msg\":\"bad thing\",\"details\":\"more\"}",
		       "error json");
		json_decref(ej);
		free(es);
		e = (berth_error){0};
		ej = berth_cni_error_json(&e, NULL);
		es = berth_json_dump(ej);
		is_str(es, "{\"code\":999,\"msg\":\"unknown error\"}", "error json: code 0 is 999");
	}
}

/* Keys as Go's encoding/json matches them: exact first, else ignoring case (containerd 1.6's
 * go-cni sends {"HostPort":...}). */
static void test_key_case(void)
{
	berth_error e = { 0 };
	int64_t v = 0;
	json_t *o = json_pack("{s:i,s:i,s:i}", "HostPort", 8080, "containerport", 80, "range", 1);
	json_t *both = json_pack("{s:i,s:i}", "Range", 5, "range", 7);

	ok(berth_json_get_int(o, "pm", "hostPort", true, 1, 65535, &v, &e) == 0 && v == 8080,
	   "key case: HostPort is hostPort");
	ok(berth_json_get_int(o, "pm", "containerPort", true, 1, 65535, &v, &e) == 0 && v == 80,
	   "key case: containerport is containerPort");
	ok(berth_json_get_int(both, "pm", "range", true, 1, 65535, &v, &e) == 0 && v == 7,
	   "key case: an exact match wins over one that differs in case");
	ok(berth_json_get_int(o, "pm", "hostIP", true, 1, 65535, &v, &e) < 0,
	   "key case: a missing key is still missing");
	json_decref(o);
	json_decref(both);
}

int main(void)
{
	test_key_case();
	test_goldens();
	test_pairs();
	test_bad();
	test_misc();
	return done_testing();
}
