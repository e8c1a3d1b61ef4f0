/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Internals of the fulltree store (storage/fulltree); the contract is include/berth/fulltree.h. */

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

#include "berth/error.h"
#include "berth/fulltree.h"

enum { FT_LOCK_NONE, FT_LOCK_SHARED, FT_LOCK_EXCLUSIVE };

/* Parse the options, check the backing filesystem, create the layout, take the store lock. */
int ft_open(const struct berth_ft_ops *ops, const struct berth_stor_call *call,
	    struct berth_ft *s, int lock, berth_error *err);
void ft_close(struct berth_ft *s);
int ft_relock(struct berth_ft *s, int lock, berth_error *err);
static inline void ft_closep(struct berth_ft *s)
{
	ft_close(s);
}
#define _cleanup_ft_ __attribute__((cleanup(ft_closep)))
#define FT_INIT { .rootfd = -1, .layersfd = -1, .lockfd = -1 }

/* 0 absent, 1 complete, 2 incomplete */
int ft_layer_state(struct berth_ft *s, const char *id);
/* A complete layer, or code 3. */
int ft_need_layer(struct berth_ft *s, const char *id, berth_error *err);
int ft_lock_layer(struct berth_ft *s, const char *id, int *ret_fd, berth_error *err);
/* A small file layers/<id>/<name>: its content (trailing newline stripped); -ENOENT absent. */
int ft_read(struct berth_ft *s, const char *id, const char *name, char **ret);
bool ft_has(struct berth_ft *s, const char *id, const char *name);
/* The layer's parent id (NULL for a base layer). */
char *ft_parent(struct berth_ft *s, const char *id);
/* root/layers/<id>/fs */
void ft_tree_path(struct berth_ft *s, const char *id, char *buf, size_t len);
/* Remove a layer: out of sight first (one rename into staging/), then its tree and the rest.
 * The caller holds the exclusive lock and has checked children and mounts. */
int ft_remove_layer(struct berth_ft *s, const char *id, berth_error *err);
/* Size strings: "16M", "1G", a number of bytes. */
int ft_parse_size(json_t *v, const char *what, uint64_t *ret, berth_error *err);

/* mounts (mount.c) */
struct ft_refs {
	int refs;
	bool ro;
};
void ft_refs_get(struct berth_ft *s, const char *id, struct ft_refs *ret);
int ft_refs_set(struct berth_ft *s, const char *id, const struct ft_refs *r, berth_error *err);
/* Referenced, or a read-only bind still in place. */
bool ft_is_mounted(struct berth_ft *s, const char *id);
/* Undo a read-only bind of the layer's tree, if there is one. */
void ft_unbind(struct berth_ft *s, const char *id);
/* MOUNTS' specs of a complete layer (also CREATE's with args.mounts). */
int ft_mount_specs(struct berth_ft *s, const char *id, bool ro, json_t **ret, berth_error *err);
