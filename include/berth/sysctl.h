/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stddef.h>

#include "berth/error.h"

/*
 * /proc/sys/net/... (the values belong to the netns of the caller when the file is opened).
 * key is "net/ipv4/ip_forward" or "net.ipv4.ip_forward"; only net/ keys are accepted and no
 * component may be "." or ".." (interface names may contain dots: use the '/' form for them).
 */
int berth_sysctl_write(const char *key, const char *value, berth_error *err);
/* Value without the trailing newline into buf. */
int berth_sysctl_read(const char *key, char *buf, size_t len, berth_error *err);
/* The same inside the netns nsfd (-1: current). */
int berth_sysctl_write_in(int nsfd, const char *key, const char *value, berth_error *err);
int berth_sysctl_read_in(int nsfd, const char *key, char *buf, size_t len, berth_error *err);
