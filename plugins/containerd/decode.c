/* SPDX-License-Identifier: Apache-2.0 */
/* Request decoding and validation: protobuf-c unpacks containerd's messages, this file makes
 * sure that what the service sees is what the sender meant (no string cut at a NUL byte, UTF-8
 * as proto3 requires, containerd's label limits, the fields each method needs). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "github.com/containerd/containerd/api/services/snapshots/v1/snapshots.pb-c.h"
#include "snapshotter.h"

const char *const snap_method_names[SNAP_M_COUNT] = {
	[SNAP_M_PREPARE] = "Prepare", [SNAP_M_VIEW] = "View",	[SNAP_M_MOUNTS] = "Mounts",
	[SNAP_M_COMMIT] = "Commit",   [SNAP_M_REMOVE] = "Remove", [SNAP_M_STAT] = "Stat",
	[SNAP_M_UPDATE] = "Update",   [SNAP_M_LIST] = "List",	[SNAP_M_USAGE] = "Usage",
	[SNAP_M_CLEANUP] = "Cleanup",
};

int snap_method_lookup(const char *path, size_t len)
{
	static const char prefix[] = "/" SNAP_SERVICE "/";
	const size_t pl = sizeof(prefix) - 1;

	if (len <= pl || memcmp(path, prefix, pl) != 0)
		return -1;
	for (int i = 0; i < SNAP_M_COUNT; i++)
		if (strlen(snap_method_names[i]) == len - pl &&
		    memcmp(path + pl, snap_method_names[i], len - pl) == 0)
			return i;
	return -1;
}

const ProtobufCMessageDescriptor *snap_request_desc(enum snap_method m)
{
	switch (m) {
	case SNAP_M_PREPARE:
		return &containerd__services__snapshots__v1__prepare_snapshot_request__descriptor;
	case SNAP_M_VIEW:
		return &containerd__services__snapshots__v1__view_snapshot_request__descriptor;
	case SNAP_M_MOUNTS:
		return &containerd__services__snapshots__v1__mounts_request__descriptor;
	case SNAP_M_COMMIT:
		return &containerd__services__snapshots__v1__commit_snapshot_request__descriptor;
	case SNAP_M_REMOVE:
		return &containerd__services__snapshots__v1__remove_snapshot_request__descriptor;
	case SNAP_M_STAT:
		return &containerd__services__snapshots__v1__stat_snapshot_request__descriptor;
	case SNAP_M_UPDATE:
		return &containerd__services__snapshots__v1__update_snapshot_request__descriptor;
	case SNAP_M_LIST:
		return &containerd__services__snapshots__v1__list_snapshots_request__descriptor;
	case SNAP_M_USAGE:
		return &containerd__services__snapshots__v1__usage_request__descriptor;
	case SNAP_M_CLEANUP:
		return &containerd__services__snapshots__v1__cleanup_request__descriptor;
	default:
		return NULL;
	}
}

int snap_fail(struct snap_status *st, int code, const char *fmt, ...)
{
	va_list ap;

	st->code = code;
	va_start(ap, fmt);
	vsnprintf(st->msg, sizeof(st->msg), fmt, ap);
	va_end(ap);
	/* one line: whatever a driver or a caller put in */
	for (char *p = st->msg; *p; p++)
		if (*p == '\n' || *p == '\r' || *p == '\t')
			*p = ' ';
	return -1;
}

int snap_fail_driver(struct snap_status *st, const char *what, const berth_error *err)
{
	int code;

	switch (err->code) {
	case BERTH_ERR_NOT_FOUND:
		code = SNAP_NOT_FOUND;
		break;
	case BERTH_STOR_ERR_EXISTS:
		code = SNAP_ALREADY_EXISTS;
		break;
	case BERTH_STOR_ERR_HAS_CHILDREN:
	case BERTH_STOR_ERR_BUSY:
		code = SNAP_FAILED_PRECONDITION;
		break;
	case BERTH_ERR_TRY_AGAIN:
		code = SNAP_UNAVAILABLE;
		break;
	case BERTH_STOR_ERR_NOT_SUPPORTED:
		code = SNAP_UNIMPLEMENTED;
		break;
	case BERTH_STOR_ERR_NO_SPACE:
		code = SNAP_RESOURCE_EXHAUSTED;
		break;
	case BERTH_ERR_INVALID_CONFIG:
	case BERTH_ERR_UNSUPPORTED_FIELD:
		code = SNAP_INVALID_ARGUMENT;
		break;
	default:
		code = SNAP_UNKNOWN;
	}
	return snap_fail(st, code, "%s: storage driver: %s", what,
			 err->msg[0] ? err->msg : "failed");
}

const char *snap_quote(const char *s, size_t max, char *buf, size_t len)
{
	size_t o = 0, i;

	if (len < 8)
		return "";
	buf[o++] = '"';
	for (i = 0; s && s[i] && i < max && o + 6 < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f || c == '"' || c == '\\')
			o += (size_t)snprintf(buf + o, len - o, "\\x%02x", c);
		else
			buf[o++] = (char)c;
	}
	if (s && s[i] && o + 5 < len) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}

/*
 * Every block protobuf-c allocates while unpacking carries its size in front.  A string field
 * is allocated as exactly its wire length + 1, so a string whose strlen() is shorter had a NUL
 * byte inside: the service would see a different key than the one sent.
 */
struct blk {
	size_t size;
	max_align_t align[];
};

static void *blk_alloc(void *data, size_t size)
{
	struct blk *b;

	(void)data;
	if (size > SNAP_MESSAGE_MAX * 2u)
		return NULL;
	b = malloc(sizeof(*b) + size);
	if (!b)
		return NULL;
	b->size = size;
	return b->align;
}

static void blk_free(void *data, void *p)
{
	(void)data;
	if (p)
		free((char *)p - offsetof(struct blk, align));
}

static ProtobufCAllocator blk_allocator = { .alloc = blk_alloc, .free = blk_free };

static bool utf8_valid(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		unsigned char c = s[i];
		uint32_t cp, min;
		size_t k;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			k = 1, cp = c & 0x1f, min = 0x80;
		} else if (c >= 0xe0 && c <= 0xef) {
			k = 2, cp = c & 0x0f, min = 0x800;
		} else if (c >= 0xf0 && c <= 0xf4) {
			k = 3, cp = c & 0x07, min = 0x10000;
		} else {
			return false;
		}
		if (n - i <= k)
			return false;
		for (size_t j = 1; j <= k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + j] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += k + 1;
	}
	return true;
}

/* A decoded string: "" (absent) or one we allocated; no NUL inside, UTF-8. */
static int check_string(const char *what, const char *s, struct snap_status *st)
{
	size_t n;

	if (!s || s == protobuf_c_empty_string)
		return 0;
	n = strlen(s);
	if (((const struct blk *)(s - offsetof(struct blk, align)))->size != n + 1)
		return snap_fail(st, SNAP_INVALID_ARGUMENT, "%s contains a NUL byte", what);
	if (!utf8_valid((const unsigned char *)s, n))
		return snap_fail(st, SNAP_INVALID_ARGUMENT, "%s is not valid UTF-8", what);
	return 0;
}

static int check_key(const char *what, const char *s, bool required, struct snap_status *st)
{
	if (check_string(what, s, st) < 0)
		return -1;
	if (required && (!s || !*s))
		return snap_fail(st, SNAP_INVALID_ARGUMENT, "%s is required", what);
	if (s && strlen(s) > SNAP_KEY_MAX)
		return snap_fail(st, SNAP_INVALID_ARGUMENT, "%s is %zu bytes, more than %d", what,
				 strlen(s), SNAP_KEY_MAX);
	return 0;
}

int snap_check_label(const char *key, const char *value, struct snap_status *st)
{
	char q[64];
	size_t n = strlen(key) + strlen(value);

	if (n > SNAP_LABEL_MAX)
		return snap_fail(st, SNAP_INVALID_ARGUMENT,
				 "label key and value greater than maximum size (%d bytes), key: %s",
				 SNAP_LABEL_MAX, snap_quote(key, 20, q, sizeof(q)));
	return 0;
}

/* Map entries of any of the request types: {base, key, value}. */
struct label_entry {
	ProtobufCMessage base;
	char *key;
	char *value;
};

static int check_labels(size_t n, void **entries, struct snap_status *st)
{
	for (size_t i = 0; i < n; i++) {
		const struct label_entry *e = entries[i];
		if (check_string("label key", e->key, st) < 0 ||
		    check_string("label value", e->value, st) < 0 ||
		    snap_check_label(e->key, e->value, st) < 0)
			return -1;
		/* a repeated key is a map's last-one-wins in protobuf; the service keeps the last */
	}
	return 0;
}

static int validate(enum snap_method m, ProtobufCMessage *msg, struct snap_status *st)
{
	switch (m) {
	case SNAP_M_PREPARE: {
		Containerd__Services__Snapshots__V1__PrepareSnapshotRequest *r = (void *)msg;
		if (check_string("snapshotter", r->snapshotter, st) < 0 ||
		    check_key("key", r->key, true, st) < 0 ||
		    check_key("parent", r->parent, false, st) < 0)
			return -1;
		return check_labels(r->n_labels, (void **)r->labels, st);
	}
	case SNAP_M_VIEW: {
		Containerd__Services__Snapshots__V1__ViewSnapshotRequest *r = (void *)msg;
		if (check_string("snapshotter", r->snapshotter, st) < 0 ||
		    check_key("key", r->key, true, st) < 0 ||
		    check_key("parent", r->parent, false, st) < 0)
			return -1;
		return check_labels(r->n_labels, (void **)r->labels, st);
	}
	case SNAP_M_COMMIT: {
		Containerd__Services__Snapshots__V1__CommitSnapshotRequest *r = (void *)msg;
		if (check_string("snapshotter", r->snapshotter, st) < 0 ||
		    check_key("name", r->name, true, st) < 0 ||
		    check_key("key", r->key, true, st) < 0)
			return -1;
		return check_labels(r->n_labels, (void **)r->labels, st);
	}
	case SNAP_M_MOUNTS: {
		Containerd__Services__Snapshots__V1__MountsRequest *r = (void *)msg;
		return check_string("snapshotter", r->snapshotter, st) < 0 ? -1
			: check_key("key", r->key, true, st);
	}
	case SNAP_M_REMOVE: {
		Containerd__Services__Snapshots__V1__RemoveSnapshotRequest *r = (void *)msg;
		return check_string("snapshotter", r->snapshotter, st) < 0 ? -1
			: check_key("key", r->key, true, st);
	}
	case SNAP_M_STAT: {
		Containerd__Services__Snapshots__V1__StatSnapshotRequest *r = (void *)msg;
		return check_string("snapshotter", r->snapshotter, st) < 0 ? -1
			: check_key("key", r->key, true, st);
	}
	case SNAP_M_USAGE: {
		Containerd__Services__Snapshots__V1__UsageRequest *r = (void *)msg;
		return check_string("snapshotter", r->snapshotter, st) < 0 ? -1
			: check_key("key", r->key, true, st);
	}
	case SNAP_M_UPDATE: {
		Containerd__Services__Snapshots__V1__UpdateSnapshotRequest *r = (void *)msg;
		if (check_string("snapshotter", r->snapshotter, st) < 0)
			return -1;
		if (!r->info)
			return snap_fail(st, SNAP_INVALID_ARGUMENT, "info is required");
		if ((int)r->info->kind < 0 || (int)r->info->kind > 3)
			return snap_fail(st, SNAP_INVALID_ARGUMENT,
					 "info.kind %d is not a snapshot kind", (int)r->info->kind);
		if (check_key("info.name", r->info->name, true, st) < 0 ||
		    check_key("info.parent", r->info->parent, false, st) < 0 ||
		    check_labels(r->info->n_labels, (void **)r->info->labels, st) < 0)
			return -1;
		if (r->update_mask)
			for (size_t i = 0; i < r->update_mask->n_paths; i++)
				if (check_string("update_mask path", r->update_mask->paths[i], st) <
				    0)
					return -1;
		return 0;
	}
	case SNAP_M_LIST: {
		Containerd__Services__Snapshots__V1__ListSnapshotsRequest *r = (void *)msg;
		if (check_string("snapshotter", r->snapshotter, st) < 0)
			return -1;
		for (size_t i = 0; i < r->n_filters; i++)
			if (check_string("filter", r->filters[i], st) < 0)
				return -1;
		return 0;
	}
	case SNAP_M_CLEANUP: {
		Containerd__Services__Snapshots__V1__CleanupRequest *r = (void *)msg;
		return check_string("snapshotter", r->snapshotter, st);
	}
	default:
		return snap_fail(st, SNAP_UNIMPLEMENTED, "unknown method");
	}
}

int snap_decode(enum snap_method m, const uint8_t *data, size_t len, ProtobufCMessage **ret,
		struct snap_status *st)
{
	const ProtobufCMessageDescriptor *d = snap_request_desc(m);
	ProtobufCMessage *msg;

	*ret = NULL;
	if (!d)
		return snap_fail(st, SNAP_UNIMPLEMENTED, "unknown method");
	if (len > SNAP_MESSAGE_MAX)
		return snap_fail(st, SNAP_INVALID_ARGUMENT, "request of %zu bytes is too large",
				 len);
	msg = protobuf_c_message_unpack(d, &blk_allocator, len, data);
	if (!msg)
		return snap_fail(st, SNAP_INVALID_ARGUMENT, "%s request: not a valid %s message",
				 snap_method_names[m], d->short_name);
	if (validate(m, msg, st) < 0) {
		snap_request_free(msg);
		return -1;
	}
	*ret = msg;
	return 0;
}

void snap_request_free(ProtobufCMessage *msg)
{
	if (msg)
		protobuf_c_message_free_unpacked(msg, &blk_allocator);
}
