/* SPDX-License-Identifier: Apache-2.0 */
/* The core's pure parts: base64 (Go's []byte in the cache), conflist parsing and validation,
 * version negotiation, --publish parsing, cache entries in libcni's format (round trip). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "berth/cache.h"
#include "berth/chain.h"
#include "berth/netconf.h"
#include "../../core/cli/cli-internal.h"
#include "tap.h"

static void test_base64(void)
{
	static const struct {
		const char *plain, *b64;
	} v[] = { { "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
		  { "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" } };
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char *e = berth_base64_encode(v[i].plain, strlen(v[i].plain)), *d = NULL;
		size_t n = 0;
		is_str(e, v[i].b64, "base64 encode \"%s\"", v[i].plain);
		ok(berth_base64_decode(v[i].b64, &d, &n) == 0 && n == strlen(v[i].plain) &&
			   !memcmp(d, v[i].plain, n),
		   "base64 decode \"%s\"", v[i].b64);
		free(e);
		free(d);
	}
	char *d = NULL;
	size_t n;
	ok(berth_base64_decode("Zm9", &d, &n) < 0, "bad length refused");
	ok(berth_base64_decode("Zm9v!A==", &d, &n) < 0, "bad character refused");
	ok(berth_base64_decode("Z=9v", &d, &n) < 0, "padding in the middle refused");
}

static int parse(const char *json, bool single, struct berth_netconf **ret, berth_error *err)
{
	berth_error_clear(err);
	return berth_netconf_parse(json, strlen(json), "f.conflist", single, ret, err);
}

static void test_netconf(void)
{
	struct berth_netconf *c = NULL;
	berth_error err = { 0 };

	ok(parse("{\"cniVersion\":\"0.4.0\",\"name\":\"n1\",\"disableCheck\":\"true\","
		 "\"plugins\":[{\"type\":\"bridge\"},{\"type\":\"portmap\",\"capabilities\":"
		 "{\"portMappings\":true}}]}",
		 false, &c, &err) == 0,
	   "valid conflist");
	if (c) {
		is_str(c->name, "n1", "name");
		is_str(c->cni_version, "0.4.0", "version");
		ok(c->disable_check, "disableCheck as a string");
		is_int((int)c->n_plugins, 2, "two plugins");
		is_str(c->plugins[1].type, "portmap", "plugin type");
		berth_netconf_free(c);
		c = NULL;
	}
	ok(parse("{\"cniVersion\":\"0.4.0\",\"cniVersions\":[\"1.0.0\",\"9.0.0\"],\"name\":\"n\","
		 "\"plugins\":[{\"type\":\"x\"}]}",
		 false, &c, &err) == 0 &&
		   !strcmp(c->cni_version, "1.0.0"),
	   "cniVersions: highest supported wins, unknown ones dropped");
	berth_netconf_free(c);
	c = NULL;
	ok(parse("{\"cniVersion\":\"1.0.0\",\"name\":\"s\",\"type\":\"bridge\"}", true, &c, &err) ==
			   0 &&
		   c->n_plugins == 1 && !strcmp(c->plugins[0].type, "bridge"),
	   "a single .conf becomes a one-plugin list");
	berth_netconf_free(c);
	c = NULL;

	static const struct {
		const char *json, *want;
	} bad[] = {
		{ "{\"cniVersion\":\"2.0.0\",\"name\":\"n\",\"plugins\":[{\"type\":\"x\"}]}",
		  "f.conflist: cniVersion: unsupported version \"2.0.0\"" },
		{ "{\"name\":\"n\",\"plugins\":[{\"type\":\"x\"}]}", "f.conflist: cniVersion: missing" },
		{ "{\"cniVersion\":\"1.0.0\",\"plugins\":[{\"type\":\"x\"}]}", "f.conflist: name: missing" },
		{ "{\"cniVersion\":\"1.0.0\",\"name\":\"-x\",\"plugins\":[{\"type\":\"x\"}]}",
		  "f.conflist: name: must match" },
		{ "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"plugins\":[]}",
		  "f.conflist: plugins: must be a non-empty array" },
		{ "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"plugins\":[{\"type\":\"a\"},{}]}",
		  "f.conflist: plugins[1].type: missing" },
		{ "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"plugins\":[{\"type\":\"../x\"}]}",
		  "f.conflist: plugins[0].type: must be a plugin file name" },
		{ "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"name\":\"m\",\"plugins\":[{\"type\":\"x\"}]}",
		  "f.conflist: invalid JSON" },
		{ "[1]", "f.conflist: must be a JSON object" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = parse(bad[i].json, false, &c, &err);
		ok(r < 0 && !strncmp(err.msg, bad[i].want, strlen(bad[i].want)), "rejected: %s",
		   bad[i].want);
		if (r == 0)
			berth_netconf_free(c);
		c = NULL;
	}
	ok(berth_netconf_default(&c, &err) == 0 && !strcmp(c->name, "berth"),
	   "embedded default parses");
	berth_netconf_free(c);
}

static void test_publish(void)
{
	json_t *m = NULL;
	berth_error err = { 0 };
	char *s;

	ok(berth_parse_publish("8080:80", &m, &err) == 0, "HOST:CONTAINER");
	s = json_dumps(m, JSON_COMPACT | JSON_PRESERVE_ORDER);
	is_str(s, "{\"hostPort\":8080,\"containerPort\":80,\"protocol\":\"tcp\"}", "tcp default");
	free(s);
	json_decref(m);
	ok(berth_parse_publish("127.0.0.1:53:5353/udp", &m, &err) == 0, "IP:HOST:CONTAINER/udp");
	s = json_dumps(m, JSON_COMPACT | JSON_PRESERVE_ORDER);
	is_str(s,
	       "{\"hostPort\":53,\"containerPort\":5353,\"protocol\":\"udp\",\"hostIP\":\"127.0.0.1\"}",
	       "hostIP and udp");
	free(s);
	json_decref(m);
	ok(berth_parse_publish("[::1]:8443:443/sctp", &m, &err) == 0 &&
		   !strcmp(json_string_value(json_object_get(m, "hostIP")), "::1"),
	   "bracketed IPv6 hostIP");
	json_decref(m);
	ok(berth_parse_publish("80", &m, &err) < 0, "one number refused");
	ok(berth_parse_publish("0:80", &m, &err) < 0, "port 0 refused");
	ok(berth_parse_publish("80:70000", &m, &err) < 0, "port > 65535 refused");
	ok(berth_parse_publish("80:80/icmp", &m, &err) < 0, "unknown protocol refused");
	ok(berth_parse_publish("1.2.3.4:80:90:100", &m, &err) < 0, "a fourth field is refused");
	ok(berth_parse_publish("notanip:80:90", &m, &err) < 0, "a hostIP that is no address refused");
	ok(berth_parse_publish("[::1:80:90", &m, &err) < 0, "an unclosed bracket refused");
	ok(berth_parse_publish(":8080:80", &m, &err) == 0 && !json_object_get(m, "hostIP"),
	   "an empty hostIP means any");
	json_decref(m);
}

static void test_cache(void)
{
	char dir[] = "/tmp/berth-test-core.XXXXXX";
	struct berth_core core = { 0 };
	struct berth_netconf *net = NULL;
	struct berth_cache_entry e;
	berth_error err = { 0 };
	json_t *caps, *res;

	if (!mkdtemp(dir)) {
		ok(0, "mkdtemp");
		return;
	}
	core.cache_dir = dir;
	static const char conf[] =
		"{\"cniVersion\":\"1.0.0\",\"name\":\"cn\",\"plugins\":[{\"type\":\"x\"}]}";
	berth_netconf_parse(conf, strlen(conf), "t", false, &net, &err);
	caps = json_pack("{s:[{s:i,s:i,s:s}]}", "portMappings", "hostPort", 80, "containerPort", 8080,
			 "protocol", "tcp");
	res = json_pack("{s:s,s:[{s:s,s:s}]}", "cniVersion", "1.0.0", "interfaces", "name", "eth0",
			"sandbox", "/run/netns/x");
	struct berth_rt rt = { "ctr1", "/run/netns/x", "eth0", "IgnoreUnknown=1;A=b", caps };
	ok(net && berth_cache_write(&core, net, &rt, res, &err) == 0, "cache write");
	ok(berth_cache_read(&core, "cn", "ctr1", "eth0", &e, &err) == 0, "cache read back");
	is_str(e.network, "cn", "networkName");
	is_str(e.netns, "/run/netns/x", "netns");
	is_str(e.cni_args, "IgnoreUnknown=1;A=b", "cniArgs rebuilt as CNI_ARGS");
	ok(e.config && e.config_len == net->len && !memcmp(e.config, net->bytes, net->len),
	   "config bytes survive base64");
	ok(json_equal(e.cap_args, caps) && json_equal(e.result, res), "capabilityArgs and result");
	berth_cache_entry_free(&e);
	ok(berth_cache_read(&core, "cn", "nope", "eth0", &e, &err) == -ENOENT, "missing entry: -ENOENT");
	ok(berth_cache_remove(&core, "cn", "ctr1", "eth0", &err) == 0 &&
		   berth_cache_read(&core, "cn", "ctr1", "eth0", &e, &err) == -ENOENT,
	   "removed");
	ok(berth_cache_write(&core, net, &(struct berth_rt){ "../x", NULL, "eth0", NULL, NULL }, res,
			     &err) < 0,
	   "container ID with a slash refused");
	json_decref(caps);
	json_decref(res);
	berth_netconf_free(net);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		ok(0, "cleanup");
}

int main(void)
{
	test_base64();
	test_netconf();
	test_publish();
	test_cache();
	return done_testing();
}
