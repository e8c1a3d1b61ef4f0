// SPDX-License-Identifier: Apache-2.0
/* ptp plugin config parsing. */

#include <errno.h>
#include <string.h>

#include "berth/cleanup.h"
#include "berth/cni.h"
#include "berth/json.h"
#include "ptp-internal.h"

/* The reference decodes "dns" into its typed struct: a key of the wrong type fails there. */
static int dns_valid(json_t *dns, berth_error *err)
{
	static const char *const lists[] = { "nameservers", "search", "options" };
	const char *domain;
	int r;

	if (!dns)
		return 0;
	if ((r = berth_json_get_string(dns, "dns", "domain", false, &domain, err)) < 0)
		return r;
	for (size_t i = 0; i < ARRAY_SIZE(lists); i++) {
		json_t *a = json_object_get(dns, lists[i]), *v;
		size_t k;

		if (!a || json_is_null(a))
			continue;
		if (!json_is_array(a))
			return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
					       "dns.%s must be a list of strings", lists[i]);
		json_array_foreach(a, k, v)
			if (!json_is_string(v))
				return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
						       "dns.%s[%zu] must be a string", lists[i], k);
	}
	return 0;
}

int ptp_conf_parse(json_t *j, struct ptp_conf *c, berth_error *err)
{
	json_t *ipam = NULL, *dns = NULL;
	int64_t mtu = 0;
	int r;

	memset(c, 0, sizeof(*c));
	if ((r = berth_json_get_bool(j, NULL, "ipMasq", false, &c->ip_masq, err)) < 0 ||
	    (r = berth_json_get_string(j, NULL, "ipMasqBackend", false, &c->ip_masq_backend, err)) < 0 ||
	    (r = berth_json_get_int(j, NULL, "mtu", false, INT32_MIN, INT32_MAX, &mtu, err)) < 0 ||
	    (r = berth_json_get_object(j, NULL, "ipam", false, &ipam, err)) < 0 ||
	    (r = berth_json_get_object(j, NULL, "dns", false, &dns, err)) < 0)
		return r;
	/* a veth takes 68 (IPv4's minimum) to 65535; the reference leaves it to the kernel */
	if (mtu != 0 && (mtu < 68 || mtu > 65535))
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "mtu: %lld is out of range (68 to 65535, or 0 for the default)",
				       (long long)mtu);
	c->mtu = (int)mtu;
	if (ipam && (r = berth_json_get_string(ipam, "ipam", "type", false, &c->ipam_type, err)) < 0)
		return r;
	if (!c->ipam_type || !*c->ipam_type)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "ipam.type: ptp needs an IPAM plugin (missing)");
	if (strchr(c->ipam_type, '/'))
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "ipam.type: invalid ipam type \"%s\"", c->ipam_type);
	if ((r = dns_valid(dns, err)) < 0)
		return r;
	if (berth_cni_dns_set(dns))
		c->dns = dns;
	return 0;
}

void ptp_conf_parse_del(json_t *j, struct ptp_conf *c)
{
	json_t *ipam = json_object_get(j, "ipam"), *type = NULL, *masq = json_object_get(j, "ipMasq");

	memset(c, 0, sizeof(*c));
	c->ip_masq = masq && !json_is_null(masq) && (!json_is_boolean(masq) || json_is_true(masq));
	if (json_is_object(ipam))
		type = json_object_get(ipam, "type");
	if (json_is_string(type) && *json_string_value(type) &&
	    !strchr(json_string_value(type), '/'))
		c->ipam_type = json_string_value(type);
}
