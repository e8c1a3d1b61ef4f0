/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "berth/error.h"

/*
 * The dhcp IPAM plugin and its daemon berth-dhcp share this: the DHCPv4 message codec
 * (packet.c, no kernel access, fuzzed), the network config (conf.c) and the framing of the
 * plugin<->daemon exchange over the unix socket (rpc.c).
 */

#define BERTH_DHCP_DEFAULT_SOCKET "/run/berth/dhcp/dhcp.sock"
#define BERTH_DHCP_DEFAULT_STATE "/var/lib/berth/dhcp"

/* ---- DHCPv4 messages (RFC 2131/2132) ---- */
enum {
	DHCP_DISCOVER = 1,
	DHCP_OFFER = 2,
	DHCP_REQUEST = 3,
	DHCP_DECLINE = 4,
	DHCP_ACK = 5,
	DHCP_NAK = 6,
	DHCP_RELEASE = 7,
};

enum {
	DHCP_OPT_PAD = 0,
	DHCP_OPT_SUBNET_MASK = 1,
	DHCP_OPT_ROUTER = 3,
	DHCP_OPT_DNS = 6,
	DHCP_OPT_HOSTNAME = 12,
	DHCP_OPT_DOMAIN = 15,
	DHCP_OPT_STATIC_ROUTES = 33,
	DHCP_OPT_REQUESTED_IP = 50,
	DHCP_OPT_LEASE_TIME = 51,
	DHCP_OPT_OVERLOAD = 52,
	DHCP_OPT_MSG_TYPE = 53,
	DHCP_OPT_SERVER_ID = 54,
	DHCP_OPT_PARAM_LIST = 55,
	DHCP_OPT_MAX_SIZE = 57,
	DHCP_OPT_T1 = 58,
	DHCP_OPT_T2 = 59,
	DHCP_OPT_CLIENT_ID = 61,
	DHCP_OPT_CLASSLESS_ROUTES = 121,
	DHCP_OPT_END = 255,
};

#define DHCP_FIXED_LEN 240 /* BOOTP header + magic cookie */
#define DHCP_MAX_MSG 1500

/* A parsed message.  Options are laid out per code in opt_buf, repeated occurrences of one
 * code concatenated (RFC 3396); the sname/file fields are read when option 52 says so. */
struct dhcp_msg {
	uint8_t op, htype, hlen;
	uint32_t xid;      /* host order */
	uint16_t flags;    /* host order */
	uint32_t ciaddr, yiaddr, siaddr, giaddr; /* network order */
	uint8_t chaddr[16];
	uint16_t opt_off[256];
	uint16_t opt_len[256];
	uint8_t opt_has[256];
	uint8_t opt_buf[DHCP_MAX_MSG * 2];
};

/* Parse a DHCP message (the UDP payload). -EINVAL on anything malformed. */
int berth_dhcp_parse(const uint8_t *buf, size_t len, struct dhcp_msg *ret);
/* The option's bytes (NULL when absent) and its length. */
const uint8_t *berth_dhcp_opt(const struct dhcp_msg *m, int code, size_t *ret_len);
/* A 4-byte option as a network-order u32; false when absent or of another length. */
bool berth_dhcp_opt_u32(const struct dhcp_msg *m, int code, uint32_t *ret);
/* The message type (option 53), 0 when absent. */
int berth_dhcp_msg_type(const struct dhcp_msg *m);

/* Building an outgoing message. */
struct dhcp_builder {
	uint8_t buf[DHCP_MAX_MSG];
	size_t len;
	bool overflow;
};
void berth_dhcp_build_start(struct dhcp_builder *b, int type, uint32_t xid, const uint8_t mac[6],
			    uint32_t ciaddr, bool broadcast);
void berth_dhcp_build_opt(struct dhcp_builder *b, int code, const void *data, size_t len);
/* Adds the end option; -EMSGSIZE when the options did not fit. */
int berth_dhcp_build_end(struct dhcp_builder *b);

/* Frame a DHCP payload in IPv4+UDP (68 -> 67) for a packet socket; returns the frame length,
 * -EMSGSIZE when out is too small.  saddr/daddr network order. */
int berth_dhcp_frame(const uint8_t *payload, size_t len, uint32_t saddr, uint32_t daddr,
		     uint8_t *out, size_t out_size);
/* Unframe an IPv4 packet from a packet socket: the UDP payload of a datagram to port 68, or
 * -EINVAL for anything else. */
int berth_dhcp_unframe(const uint8_t *pkt, size_t len, const uint8_t **ret_payload,
		       size_t *ret_len);

/* The CNI result (1.1.0 shape) of an ACK; code 5 when it lacks a usable subnet mask. */
struct berth_cni_result;
int berth_dhcp_ack_result(const uint8_t *ack, size_t ack_len, int priority,
			  struct berth_cni_result **ret, berth_error *err);

/* ---- the network config (the ipam section), parsed by plugin and daemon alike ---- */
struct dhcp_provide {
	uint8_t code;
	char *value; /* from "value", or from CNI_ARGS "fromArg" */
};

struct dhcp_conf {
	const char *socket_path; /* points into the json */
	uint8_t request[256];    /* the parameter request list */
	size_t n_request;
	struct dhcp_provide *provide;
	size_t n_provide;
	int priority;
	int64_t timeout_ms;       /* 0 = the daemon's default */
	int broadcast;            /* -1 = the daemon's default */
};

/* Parse config["ipam"] (cni_args: CNI_ARGS for "fromArg").  Code 7 naming the key on error;
 * nothing to free then. */
int berth_dhcp_conf_parse(json_t *config, const char *cni_args, struct dhcp_conf *ret,
			  berth_error *err);
void berth_dhcp_conf_free(struct dhcp_conf *c);
/* "dhcp-client-identifier", "subnet-mask", "routers", "host-name", "user-class",
 * "vendor-class-identifier", or 1..254. */
int berth_dhcp_option_code(const char *name);
/* containerID/netName/ifName, cut at 254 bytes, as the reference builds the client id. */
char *berth_dhcp_client_id(const char *container_id, const char *net_name, const char *ifname);

/* ---- plugin <-> daemon: one JSON object each way per connection ---- */
/* Write j then shut the write side down. */
int berth_dhcp_send(int fd, json_t *j, berth_error *err);
/* Read one JSON object up to EOF (at most 1 MiB). */
int berth_dhcp_recv(int fd, json_t **ret, berth_error *err);
