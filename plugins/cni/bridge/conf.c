// SPDX-License-Identifier: Apache-2.0
/* bridge plugin config parsing. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "berth/cleanup.h"
#include "berth/cni.h"
#include "berth/cniargs.h"
#include "berth/json.h"
#include "bridge-internal.h"

static int bad(berth_error *err, const char *msg)
{
	return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL, "%s", msg);
}

/* vlanTrunk: [{"id":N} | {"minID":A,"maxID":B}, ...] into a sorted set. */
static int parse_trunk(json_t *arr, struct bridge_conf *c, berth_error *err)
{
	_cleanup_free_ uint8_t *set = calloc(4095, 1);
	size_t i, n = 0;
	json_t *item;
	char what[32];

	if (!set)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	json_array_foreach(arr, i, item) {
		int64_t min = -1, max = -1, id = -1;
		json_t *jmin, *jmax, *jid;
		int r;

		snprintf(what, sizeof(what), "vlanTrunk[%zu]", i);
		if (!json_is_object(item))
			return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
					       "%s must be an object", what);
		jmin = json_object_get(item, "minID");
		jmax = json_object_get(item, "maxID");
		jid = json_object_get(item, "id");
		if (jmin && !json_is_null(jmin) &&
		    (r = berth_json_get_int(item, what, "minID", true, INT32_MIN, INT32_MAX, &min, err)) < 0)
			return r;
		if (jmax && !json_is_null(jmax) &&
		    (r = berth_json_get_int(item, what, "maxID", true, INT32_MIN, INT32_MAX, &max, err)) < 0)
			return r;
		if (jid && !json_is_null(jid) &&
		    (r = berth_json_get_int(item, what, "id", true, INT32_MIN, INT32_MAX, &id, err)) < 0)
			return r;
		if (min != -1 && max != -1) {
			if (min <= 0 || min > 4094)
				return bad(err, "incorrect trunk minID parameter");
			if (max <= 0 || max > 4094)
				return bad(err, "incorrect trunk maxID parameter");
			if (max < min)
				return bad(err, "minID is greater than maxID in trunk parameter");
			for (int64_t v = min; v <= max; v++)
				set[v] = 1;
		} else if (min == -1 && max != -1) {
			return bad(err, "minID and maxID should be configured simultaneously, minID is missing");
		} else if (min != -1 && max == -1) {
			return bad(err, "minID and maxID should be configured simultaneously, maxID is missing");
		}
		if (id != -1) {
			if (id <= 0 || id > 4094)
				return bad(err, "incorrect trunk id parameter");
			set[id] = 1;
		}
	}
	for (int v = 1; v <= 4094; v++)
		n += set[v];
	if (n == 0)
		return 0;
	c->trunk = calloc(n, sizeof(*c->trunk));
	if (!c->trunk)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	for (int v = 1; v <= 4094; v++)
		if (set[v])
			c->trunk[c->n_trunk++] = (uint16_t)v;
	return 0;
}

int bridge_conf_parse(json_t *j, const char *cni_args, struct bridge_conf *c, berth_error *err)
{
	static const char *const known[] = { "MAC", "IP", "GATEWAY", NULL };
	char *vals[3] = { NULL, NULL, NULL };
	json_t *ipam = NULL, *trunk = NULL, *dns = NULL;
	int64_t mtu = 0, vlan = 0;
	int r;

	memset(c, 0, sizeof(*c));
	c->br_name = "cni0";
	if ((r = berth_json_get_string(j, NULL, "bridge", false, &c->br_name, err)) < 0 ||
	    (r = berth_json_get_bool(j, NULL, "isGateway", false, &c->is_gw, err)) < 0 ||
	    (r = berth_json_get_bool(j, NULL, "isDefaultGateway", false, &c->is_default_gw, err)) < 0 ||
	    (r = berth_json_get_bool(j, NULL, "forceAddress", false, &c->force_address, err)) < 0 ||
	    (r = berth_json_get_bool(j, NULL, "ipMasq", false, &c->ip_masq, err)) < 0 ||
	    (r = berth_json_get_string(j, NULL, "ipMasqBackend", false, &c->ip_masq_backend, err)) < 0 ||
	    (r = berth_json_get_int(j, NULL, "mtu", false, 0, 65535, &mtu, err)) < 0 ||
	    (r = berth_json_get_bool(j, NULL, "hairpinMode", false, &c->hairpin, err)) < 0 ||
	    (r = berth_json_get_bool(j, NULL, "promiscMode", false, &c->promisc, err)) < 0 ||
	    (r = berth_json_get_int(j, NULL, "vlan", false, INT32_MIN, INT32_MAX, &vlan, err)) < 0 ||
	    (r = berth_json_get_array(j, NULL, "vlanTrunk", false, &trunk, err)) < 0 ||
	    (r = berth_json_get_bool(j, NULL, "preserveDefaultVlan", false,
				     &c->preserve_default_vlan, err)) < 0 ||
	    (r = berth_json_get_bool(j, NULL, "macspoofchk", false, &c->mac_spoof_chk, err)) < 0 ||
	    (r = berth_json_get_bool(j, NULL, "enabledad", false, &c->enable_dad, err)) < 0 ||
	    (r = berth_json_get_bool(j, NULL, "disableContainerInterface", false,
				     &c->disable_container_iface, err)) < 0 ||
	    (r = berth_json_get_bool(j, NULL, "portIsolation", false, &c->port_isolation, err)) < 0 ||
	    (r = berth_json_get_object(j, NULL, "ipam", false, &ipam, err)) < 0 ||
	    (r = berth_json_get_object(j, NULL, "dns", false, &dns, err)) < 0)
		goto fail;
	c->mtu = (int)mtu;
	if (!*c->br_name)
		c->br_name = "cni0";
	if (strlen(c->br_name) >= 16 || strchr(c->br_name, '/') || strchr(c->br_name, ' ') ||
	    STREQ(c->br_name, ".") || STREQ(c->br_name, "..")) {
		r = berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				    "invalid bridge name \"%s\"", c->br_name);
		goto fail;
	}
	if (vlan < 0 || vlan > 4094) {
		r = berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				    "invalid VLAN ID %lld (must be between 0 and 4094)", (long long)vlan);
		goto fail;
	}
	c->vlan = (int)vlan;
	if (trunk && (r = parse_trunk(trunk, c, err)) < 0)
		goto fail;
	if (ipam && (r = berth_json_get_string(ipam, "ipam", "type", false, &c->ipam_type, err)) < 0)
		goto fail;
	if (c->ipam_type && !*c->ipam_type)
		c->ipam_type = NULL;
	if (c->ipam_type && strchr(c->ipam_type, '/')) {
		r = berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				    "invalid ipam type \"%s\"", c->ipam_type);
		goto fail;
	}
	if (berth_cni_dns_set(dns))
		c->dns = dns;
	if (c->is_default_gw)
		c->is_gw = true;
	if (c->hairpin && c->promisc) {
		r = bad(err, "cannot set hairpin mode and promiscuous mode at the same time");
		goto fail;
	}
	if (c->ipam_type && c->disable_container_iface) {
		r = bad(err, "cannot use IPAM when DisableContainerInterface flag is set");
		goto fail;
	}

	r = berth_cni_args_parse(cni_args ? cni_args : "", known, vals, err);
	if (r < 0)
		goto fail;
	r = berth_cni_requested_mac(j, vals[0], c->mac, err);
	if (r < 0)
		goto fail;
	c->has_mac = r > 0;
	r = 0;
fail:
	for (size_t i = 0; i < ARRAY_SIZE(vals); i++)
		free(vals[i]);
	if (r < 0)
		bridge_conf_free(c);
	return r;
}

/* a boolean key for DEL: its value, true when present but not a boolean, false when absent */
static bool lenient_bool(json_t *j, const char *key)
{
	json_t *v = json_object_get(j, key);

	return v && !json_is_null(v) && (!json_is_boolean(v) || json_is_true(v));
}

void bridge_conf_parse_del(json_t *j, struct bridge_conf *c)
{
	json_t *ipam = json_object_get(j, "ipam"), *type = NULL;
	const char *br = json_string_value(json_object_get(j, "bridge"));

	memset(c, 0, sizeof(*c));
	c->br_name = br && *br ? br : "cni0";
	c->ip_masq = lenient_bool(j, "ipMasq");
	c->mac_spoof_chk = lenient_bool(j, "macspoofchk");
	if (json_is_object(ipam))
		type = json_object_get(ipam, "type");
	if (json_is_string(type) && *json_string_value(type) &&
	    !strchr(json_string_value(type), '/'))
		c->ipam_type = json_string_value(type);
}

void bridge_conf_free(struct bridge_conf *c)
{
	free(c->trunk);
	c->trunk = NULL;
	c->n_trunk = 0;
}

bool bridge_conf_vlan_filtering(const struct bridge_conf *c)
{
	return c->vlan != 0 || c->n_trunk > 0;
}
