// SPDX-License-Identifier: Apache-2.0
/* bridge config parsing without root: defaults, VLAN trunk sets, MAC precedence, refusals. */

#include <errno.h>
#include <string.h>

#include "berth/cleanup.h"
#include "berth/cni.h"
#include "berth/cniargs.h"
#include "berth/json.h"
#include "../../plugins/cni/bridge/bridge-internal.h"
#include "tap.h"

/* c->br_name and friends point into the config: it lives until the next parse. */
static json_t *cur;

static int parse(const char *json, const char *args, struct bridge_conf *c, berth_error *err)
{
	json_error_t je;

	bridge_conf_free(c);
	if (cur)
		json_decref(cur);
	cur = json_loads(json, 0, &je);
	if (!cur)
		return -999;
	return bridge_conf_parse(cur, args, c, err);
}

int main(void)
{
	struct bridge_conf c = { 0 };
	berth_error err = { 0 };
	char mac[BERTH_MAC_STRLEN];

	is_int(parse("{}", NULL, &c, &err), 0, "empty config parses");
	is_str(c.br_name, "cni0", "bridge defaults to cni0");
	ok(!c.is_gw && !c.hairpin && !c.promisc && !c.enable_dad && !c.preserve_default_vlan &&
		   c.vlan == 0 && c.n_trunk == 0 && !c.ipam_type && !c.has_mac && !c.dns,
	   "every option defaults off");

	is_int(parse("{\"isDefaultGateway\":true}", NULL, &c, &err), 0, "isDefaultGateway");
	ok(c.is_gw, "isDefaultGateway implies isGateway");

	is_int(parse("{\"vlanTrunk\":[{\"id\":5},{\"minID\":3,\"maxID\":6},{\"id\":100}]}", NULL, &c,
		     &err), 0, "trunk parses");
	is_int(c.n_trunk, 5, "trunk ids are a sorted set (3 4 5 6 100)");
	ok(c.n_trunk == 5 && c.trunk[0] == 3 && c.trunk[3] == 6 && c.trunk[4] == 100, "trunk order");

	is_int(parse("{\"vlanTrunk\":[{\"minID\":6,\"maxID\":3}]}", NULL, &c, &err), -EINVAL,
	       "minID > maxID refused");
	is_str(err.msg, "minID is greater than maxID in trunk parameter", "... with the reference message");
	is_int(err.code, 7, "... code 7");
	is_int(parse("{\"vlanTrunk\":[{\"maxID\":3}]}", NULL, &c, &err), -EINVAL, "maxID alone refused");
	is_int(parse("{\"vlanTrunk\":[{\"id\":4095}]}", NULL, &c, &err), -EINVAL, "id 4095 refused");
	is_int(parse("{\"vlan\":4095}", NULL, &c, &err), -EINVAL, "vlan 4095 refused");
	is_str(err.msg, "invalid VLAN ID 4095 (must be between 0 and 4094)", "... with the reference message");
	is_int(parse("{\"vlan\":4094}", NULL, &c, &err), 0, "vlan 4094 accepted");
	is_int(parse("{\"hairpinMode\":true,\"promiscMode\":true}", NULL, &c, &err), -EINVAL,
	       "hairpin + promisc refused");
	is_int(parse("{\"disableContainerInterface\":true,\"ipam\":{\"type\":\"host-local\"}}", NULL, &c,
		     &err), -EINVAL, "disableContainerInterface + ipam refused");
	is_int(parse("{\"ipam\":{\"type\":\"../x\"}}", NULL, &c, &err), -EINVAL, "ipam type with a slash refused");
	is_int(parse("{\"bridge\":\"0123456789abcdef\"}", NULL, &c, &err), -EINVAL, "16-char bridge name refused");
	is_int(parse("{\"mtu\":\"1500\"}", NULL, &c, &err), -EINVAL, "mtu as a string refused");
	is_int(err.code, 7, "... code 7");

	is_int(parse("{\"runtimeConfig\":{\"mac\":\"02:00:00:00:00:01\"},\"args\":{\"cni\":{\"mac\":\"02:00:00:00:00:02\"}}}",
		     "MAC=02:00:00:00:00:03", &c, &err), 0, "three MAC sources");
	is_str(berth_mac_format(c.mac, mac), "02:00:00:00:00:01", "runtimeConfig.mac wins");
	is_int(parse("{\"args\":{\"cni\":{\"mac\":\"02:00:00:00:00:02\"}}}", "MAC=02:00:00:00:00:03", &c,
		     &err), 0, "two MAC sources");
	is_str(berth_mac_format(c.mac, mac), "02:00:00:00:00:02", "args.cni.mac over CNI_ARGS");
	is_int(parse("{}", "MAC=02:00:00:00:00:03", &c, &err), 0, "CNI_ARGS MAC");
	ok(c.has_mac, "has_mac set");
	is_int(parse("{}", "FOO=bar", &c, &err), -EINVAL, "unknown CNI_ARGS key refused");
	is_int(err.code, 4, "... code 4");
	is_int(parse("{}", "IgnoreUnknown=1;FOO=bar;IP=10.0.0.2", &c, &err), 0, "IgnoreUnknown");

	is_int(parse("{\"dns\":{}}", NULL, &c, &err), 0, "empty dns");
	ok(c.dns == NULL, "empty dns does not replace IPAM's");
	is_int(parse("{\"dns\":{\"nameservers\":[\"1.1.1.1\"]}}", NULL, &c, &err), 0, "dns");
	ok(c.dns != NULL, "dns with nameservers replaces IPAM's");
	bridge_conf_free(&c);
	json_decref(cur);
	return done_testing();
}
