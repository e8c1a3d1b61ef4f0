/* SPDX-License-Identifier: Apache-2.0 */
/* CNI_ARGS as Go's types.LoadArgs parses it; requested IPs and MAC from the three channels. */
#include <stdlib.h>
#include <string.h>

#include "berth/cleanup.h"
#include "berth/cni.h"
#include "berth/cniargs.h"
#include "berth/json.h"
#include "tap.h"

static const char *const known[] = {"IP", "MAC", NULL};

/* Parse; return "IP|MAC" values or "ERR<code>:<msg>". */
static const char *args(const char *s)
{
	static char out[1200];
	char *v[2] = {NULL, NULL};
	berth_error err = {0};

	if (berth_cni_args_parse(s, known, v, &err) < 0) {
		snprintf(out, sizeof(out), "ERR%d:%s", err.code, err.msg);
		return out;
	}
	snprintf(out, sizeof(out), "%s|%s", v[0] ? v[0] : "-", v[1] ? v[1] : "-");
	free(v[0]);
	free(v[1]);
	return out;
}

static json_t *parse(const char *s)
{
	json_error_t e;
	json_t *j = json_loads(s, 0, &e);
	if (!j)
		abort();
	return j;
}

static const char *ips(const char *config, const char *args_ip, enum berth_cni_ips_mode mode)
{
	static char out[1024];
	_cleanup_json_ json_t *j = parse(config);
	struct berth_cni_req_ip *v = NULL;
	size_t n = 0, len = 0;
	berth_error err = {0};

	if (berth_cni_requested_ips(j, args_ip, mode, &v, &n, &err) < 0) {
		snprintf(out, sizeof(out), "ERR%d:%s", err.code, err.msg);
		return out;
	}
	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		char buf[BERTH_IPNET_STRLEN];
		if (v[i].has_prefix)
			berth_ipnet_format(&v[i].net, buf);
		else
			berth_ip_format(&v[i].net.ip, buf);
		len += snprintf(out + len, sizeof(out) - len, "%s%s", i ? "," : "", buf);
	}
	free(v);
	return out;
}

static const char *mac(const char *config, const char *args_mac)
{
	static char out[256];
	_cleanup_json_ json_t *j = parse(config);
	uint8_t m[6];
	berth_error err = {0};
	int r = berth_cni_requested_mac(j, args_mac, m, &err);

	if (r < 0)
		snprintf(out, sizeof(out), "ERR%d:%s", err.code, err.msg);
	else if (r == 0)
		snprintf(out, sizeof(out), "none");
	else
		berth_mac_format(m, out);
	return out;
}

int main(void)
{
	uint8_t m[6];
	char buf[BERTH_MAC_STRLEN];

	is_str(args(""), "-|-", "empty");
	is_str(args(NULL), "-|-", "NULL");
	is_str(args("IP=10.0.0.5"), "10.0.0.5|-", "one key");
	is_str(args("IP=10.0.0.5;MAC=aa:bb:cc:dd:ee:ff"), "10.0.0.5|aa:bb:cc:dd:ee:ff", "two keys");
	is_str(args("IP=1;IP=2"), "2|-", "last wins");
	is_str(args("IP="), "|-", "empty value is a value");
	is_str(args("IgnoreUnknown=1;K8S_POD_NAME=x;IP=10.0.0.5"), "10.0.0.5|-",
	       "IgnoreUnknown=1 (podman)");
	is_str(args("K8S_POD_NAME=x;IgnoreUnknown=TRUE"), "-|-", "IgnoreUnknown anywhere, any case");
	is_str(args("K8S_POD_NAME=x;B=c"), "ERR4:ARGS: unknown args [\"K8S_POD_NAME=x\" \"B=c\"]",
	       "unknown keys as Go prints them");
	is_str(args("IgnoreUnknown=0;X=1"), "ERR4:ARGS: unknown args [\"X=1\"]",
	       "IgnoreUnknown=0");
	is_str(args("ip=10.0.0.5"), "ERR4:ARGS: unknown args [\"ip=10.0.0.5\"]",
	       "keys are case-sensitive");
	is_str(args("IP=1;"), "ERR4:ARGS: invalid pair \"\"", "trailing ; is an empty pair");
	is_str(args("IP"), "ERR4:ARGS: invalid pair \"IP\"", "no =");
	is_str(args("IP=a=b"), "ERR4:ARGS: invalid pair \"IP=a=b\"", "two =");
	is_str(args("X=\"q\""), "ERR4:ARGS: unknown args [\"X=\\\"q\\\"\"]", "quotes escaped as Go %%q");
	is_str(args("IgnoreUnknown=Yes"),
	       "ERR4:ARGS: error parsing value of pair \"IgnoreUnknown=Yes\": boolean unmarshal "
	       "error: invalid input yes",
	       "bad IgnoreUnknown value");

	ok(berth_mac_parse("AA:bb:cc:dd:ee:0f", m) == 0, "mac colon");
	is_str(berth_mac_format(m, buf), "aa:bb:cc:dd:ee:0f", "mac formatted lower case");
	ok(berth_mac_parse("aa-bb-cc-dd-ee-0f", m) == 0, "mac dash");
	ok(berth_mac_parse("aabb.ccdd.ee0f", m) == 0 && m[5] == 0x0f, "mac dotted");
	ok(berth_mac_parse("aa:bb-cc:dd:ee:0f", m) < 0, "mixed separators");
	ok(berth_mac_parse("aa:bb:cc:dd:ee", m) < 0, "short");
	ok(berth_mac_parse("aa:bb:cc:dd:ee:0g", m) < 0, "not hex");
	ok(berth_mac_parse("", m) < 0 && berth_mac_parse(NULL, m) < 0, "empty");

	is_str(ips("{}", NULL, BERTH_CNI_IPS_MERGE), "", "no IPs requested");
	is_str(ips("{}", "10.0.0.5", BERTH_CNI_IPS_MERGE), "10.0.0.5", "CNI_ARGS IP");
	is_str(ips("{}", " 10.0.0.5/24 , 2001:db8::5", BERTH_CNI_IPS_MERGE), "10.0.0.5/24,2001:db8::5",
	       "CNI_ARGS list trimmed");
	is_str(ips("{\"args\":{\"cni\":{\"ips\":[\"10.0.0.6\"]}}}", "10.0.0.5", BERTH_CNI_IPS_MERGE),
	       "10.0.0.6", "args.cni.ips replaces CNI_ARGS IP (CONVENTIONS)");
	is_str(ips("{\"args\":{\"cni\":{\"ips\":[]}}}", "10.0.0.5", BERTH_CNI_IPS_MERGE), "10.0.0.5",
	       "empty args.cni.ips does not");
	is_str(ips("{\"runtimeConfig\":{\"ips\":[\"10.0.0.7/24\",\"10.0.0.5\"]}}", "10.0.0.5",
		   BERTH_CNI_IPS_MERGE),
	       "10.0.0.5,10.0.0.7/24", "merge: runtimeConfig appended, duplicate dropped");
	is_str(ips("{\"runtimeConfig\":{\"ips\":[\"10.0.0.7/24\"]},\"args\":{\"cni\":{\"ips\":"
		   "[\"10.0.0.6/24\"]}}}",
		   "10.0.0.5/24", BERTH_CNI_IPS_OVERRIDE),
	       "10.0.0.7/24", "override: runtimeConfig wins");
	is_str(ips("{\"args\":{\"cni\":{\"ips\":[\"10.0.0.6/24\"]}}}", "10.0.0.5/24",
		   BERTH_CNI_IPS_OVERRIDE),
	       "10.0.0.6/24", "override: args beats CNI_ARGS");
	is_str(ips("{\"runtimeConfig\":{\"ips\":[\"10.0.0.7\",\"x\"]}}", NULL, BERTH_CNI_IPS_MERGE),
	       "ERR7:runtimeConfig.ips[1]: invalid IP address \"x\"", "bad runtimeConfig ip");
	is_str(ips("{\"runtimeConfig\":{\"ips\":[7]}}", NULL, BERTH_CNI_IPS_MERGE),
	       "ERR7:runtimeConfig.ips[0]: must be a string", "non-string runtimeConfig ip");
	is_str(ips("{\"args\":{\"cni\":{\"ips\":\"10.0.0.1\"}}}", NULL, BERTH_CNI_IPS_MERGE),
	       "ERR7:args.cni.ips: must be an array of strings", "args.cni.ips not an array");
	is_str(ips("{}", "10.0.0.300", BERTH_CNI_IPS_MERGE),
	       "ERR4:CNI_ARGS IP: invalid IP address \"10.0.0.300\"", "bad CNI_ARGS IP");

	is_str(mac("{}", NULL), "none", "no MAC");
	is_str(mac("{}", "02:00:00:00:00:01"), "02:00:00:00:00:01", "CNI_ARGS MAC");
	is_str(mac("{\"args\":{\"cni\":{\"mac\":\"02:00:00:00:00:02\"}}}", "02:00:00:00:00:01"),
	       "02:00:00:00:00:02", "args beats CNI_ARGS");
	is_str(mac("{\"runtimeConfig\":{\"mac\":\"02:00:00:00:00:03\"},\"args\":{\"cni\":{\"mac\":"
		   "\"02:00:00:00:00:02\"}}}",
		   "02:00:00:00:00:01"),
	       "02:00:00:00:00:03", "runtimeConfig beats args");
	is_str(mac("{\"runtimeConfig\":{\"mac\":\"\"}}", "02:00:00:00:00:01"), "02:00:00:00:00:01",
	       "empty runtimeConfig.mac is unset");
	is_str(mac("{\"runtimeConfig\":{\"mac\":\"zz\"}}", NULL),
	       "ERR7:runtimeConfig.mac: invalid MAC address \"zz\"", "bad runtimeConfig mac");
	is_str(mac("{}", "nope"), "ERR4:CNI_ARGS MAC: invalid MAC address \"nope\"",
	       "bad CNI_ARGS MAC");
	return done_testing();
}
