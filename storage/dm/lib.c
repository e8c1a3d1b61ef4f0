/* SPDX-License-Identifier: Apache-2.0 */
/* libdevmapper tasks with cookies, udev waits and libdevmapper's messages turned into errors. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libdevmapper.h>

#include "berth/cleanup.h"
#include "berth/dm.h"
#include "berth/log.h"

/* libdevmapper reports failures through its log callback only; keep the last error line so
 * that it can go into the berth_error instead of onto our stderr. */
static char last_msg[512];

static void dm_log_cb(int level, const char *file, int line, int dm_errno_or_class,
		      const char *f, ...)
{
	char buf[512];
	va_list ap;
	int lvl = level & 0x0f;

	va_start(ap, f);
	vsnprintf(buf, sizeof(buf), f, ap);
	va_end(ap);
	if (lvl <= 3) { /* _LOG_ERR and worse */
		snprintf(last_msg, sizeof(last_msg), "%s", buf);
		berth_log_debug("libdevmapper: %s", buf);
	} else if (lvl <= 4) {
		berth_log_debug("libdevmapper warning: %s", buf);
	}
}

void berth_dm_lib_init(bool udev_sync)
{
	dm_log_with_errno_init(dm_log_cb);
	dm_udev_set_sync_support(udev_sync ? 1 : 0);
}

bool berth_dm_udev_sync_supported(void)
{
	return dm_udev_get_sync_support() != 0;
}

static void dm_task_destroyp(struct dm_task **t)
{
	if (*t)
		dm_task_destroy(*t);
}
#define _cleanup_task_ _cleanup_(dm_task_destroyp)

static int task_fail(struct dm_task *t, berth_error *err, const char *what, const char *name)
{
	int e = t ? dm_task_get_errno(t) : 0;

	if (e <= 0)
		e = EIO;
	return berth_error_set(err, 0, e, "device-mapper %s %s: %s", what, name,
			       last_msg[0] ? last_msg : strerror(e));
}

static struct dm_task *task_new(int type, const char *name, berth_error *err)
{
	struct dm_task *t = dm_task_create(type);

	last_msg[0] = '\0';
	if (!t) {
		berth_error_set(err, 0, ENOMEM, "dm_task_create failed (is dm-mod loaded?)");
		return NULL;
	}
	if (name && !dm_task_set_name(t, name)) {
		berth_error_set(err, 0, EINVAL, "device-mapper: bad device name %s", name);
		dm_task_destroy(t);
		return NULL;
	}
	return t;
}

/* Run a task that changes device nodes and wait for udev (or let libdevmapper do the nodes
 * itself when udev is absent: that happens inside dm_udev_wait()). */
static int run_with_cookie(struct dm_task *t, const char *what, const char *name, berth_error *err)
{
	uint32_t cookie = 0;
	int ok;

	if (!dm_task_set_cookie(t, &cookie, 0))
		return task_fail(t, err, what, name);
	ok = dm_task_run(t);
	/* Always wait: the cookie's semaphore must be released even on failure. */
	dm_udev_wait(cookie);
	if (!ok)
		return task_fail(t, err, what, name);
	return 0;
}

int berth_dm_info(const char *name, struct berth_dm_info *ret, berth_error *err)
{
	_cleanup_task_ struct dm_task *t = task_new(DM_DEVICE_INFO, name, err);
	struct dm_info info;

	memset(ret, 0, sizeof(*ret));
	if (!t)
		return berth_error_ret(err);
	if (!dm_task_run(t))
		return task_fail(t, err, "info", name);
	if (!dm_task_get_info(t, &info))
		return task_fail(t, err, "info", name);
	ret->exists = info.exists;
	if (info.exists) {
		ret->suspended = info.suspended;
		ret->deferred_remove = info.deferred_remove;
		ret->open_count = info.open_count;
		ret->major = info.major;
		ret->minor = info.minor;
	}
	return 0;
}

int berth_dm_create(const char *name, uint64_t sectors, const char *target, const char *params,
		    bool read_only, berth_error *err)
{
	_cleanup_task_ struct dm_task *t = task_new(DM_DEVICE_CREATE, name, err);

	if (!t)
		return berth_error_ret(err);
	if (!dm_task_add_target(t, 0, sectors, target, params))
		return task_fail(t, err, "create", name);
	if (read_only && !dm_task_set_ro(t))
		return task_fail(t, err, "create", name);
	return run_with_cookie(t, "create", name, err);
}

int berth_dm_remove(const char *name, bool deferred, berth_error *err)
{
	_cleanup_task_ struct dm_task *t = NULL;
	struct berth_dm_info info;
	int r;

	r = berth_dm_info(name, &info, err);
	if (r < 0)
		return r;
	if (!info.exists)
		return 0;
	if (info.open_count > 0 && !deferred)
		return berth_error_set(err, BERTH_STOR_ERR_BUSY, EBUSY,
				       "device-mapper device %s is in use (open count %d)", name,
				       info.open_count);
	t = task_new(DM_DEVICE_REMOVE, name, err);
	if (!t)
		return berth_error_ret(err);
	if (info.open_count > 0 && !dm_task_deferred_remove(t))
		return task_fail(t, err, "deferred remove", name);
	r = run_with_cookie(t, "remove", name, err);
	if (r == -ENXIO || r == -ENODEV) { /* raced with a deferred removal completing */
		berth_error_clear(err);
		return 0;
	}
	if (r < 0)
		return r;
	return info.open_count > 0 ? 1 : 0;
}

int berth_dm_suspend(const char *name, berth_error *err)
{
	_cleanup_task_ struct dm_task *t = task_new(DM_DEVICE_SUSPEND, name, err);

	if (!t)
		return berth_error_ret(err);
	if (!dm_task_run(t))
		return task_fail(t, err, "suspend", name);
	return 0;
}

int berth_dm_resume(const char *name, berth_error *err)
{
	_cleanup_task_ struct dm_task *t = task_new(DM_DEVICE_RESUME, name, err);

	if (!t)
		return berth_error_ret(err);
	return run_with_cookie(t, "resume", name, err);
}

int berth_dm_message(const char *name, const char *msg, berth_error *err)
{
	_cleanup_task_ struct dm_task *t = task_new(DM_DEVICE_TARGET_MSG, name, err);

	if (!t)
		return berth_error_ret(err);
	if (!dm_task_set_sector(t, 0) || !dm_task_set_message(t, msg))
		return task_fail(t, err, "message", name);
	if (!dm_task_run(t)) {
		int r = task_fail(t, err, "message", name);
		berth_error_prefix(err, "\"%s\"", msg);
		return r;
	}
	return 0;
}

int berth_dm_status(const char *name, bool table, uint64_t *ret_len, char **ret_target,
		    char **ret_params, berth_error *err)
{
	_cleanup_task_ struct dm_task *t =
		task_new(table ? DM_DEVICE_TABLE : DM_DEVICE_STATUS, name, err);
	struct dm_info info;
	uint64_t start = 0, length = 0;
	char *target = NULL, *params = NULL;

	if (!t)
		return berth_error_ret(err);
	if (!dm_task_run(t))
		return task_fail(t, err, table ? "table" : "status", name);
	if (!dm_task_get_info(t, &info) || !info.exists)
		return berth_error_set(err, 0, ENXIO, "device-mapper device %s does not exist",
				       name);
	dm_get_next_target(t, NULL, &start, &length, &target, &params);
	if (!target)
		return berth_error_set(err, 0, ENXIO, "device-mapper device %s has no table", name);
	if (ret_len)
		*ret_len = length;
	if (ret_target)
		*ret_target = strdup(target);
	if (ret_params)
		*ret_params = strdup(params ? params : "");
	if ((ret_target && !*ret_target) || (ret_params && !*ret_params))
		return berth_error_set(err, 0, ENOMEM, "out of memory");
	return 0;
}

void berth_dm_driver_version(char *buf, size_t len)
{
	if (!dm_driver_version(buf, len))
		snprintf(buf, len, "%s", "");
}

void berth_dm_library_version(char *buf, size_t len)
{
	if (!dm_get_library_version(buf, len))
		snprintf(buf, len, "%s", "");
}

int berth_dm_pool_status_parse(const char *params, struct berth_dm_pool_status *ret)
{
	char held[32], mode[24], discard[32], nospace[32], check[32];
	int n;

	memset(ret, 0, sizeof(*ret));
	if (strncmp(params, "Fail", 4) == 0) {
		ret->failed = true;
		snprintf(ret->mode, sizeof(ret->mode), "Fail");
		return 0;
	}
	n = sscanf(params,
		   "%" SCNu64 " %" SCNu64 "/%" SCNu64 " %" SCNu64 "/%" SCNu64
		   " %31s %23s %31s %31s %31s",
		   &ret->transaction_id, &ret->meta_used, &ret->meta_total, &ret->data_used,
		   &ret->data_total, held, mode, discard, nospace, check);
	if (n < 7 || ret->meta_total == 0 || ret->data_total == 0)
		return -EINVAL;
	snprintf(ret->mode, sizeof(ret->mode), "%s", mode);
	ret->read_only = STREQ(mode, "ro");
	ret->out_of_space = STREQ(mode, "out_of_data_space");
	ret->needs_check = n >= 10 && STREQ(check, "needs_check");
	return 0;
}

int berth_dm_pool_table_parse(const char *params, struct berth_dm_pool_table *ret)
{
	int n;

	memset(ret, 0, sizeof(*ret));
	n = sscanf(params, "%63s %63s %" SCNu64 " %" SCNu64, ret->metadata_dev, ret->data_dev,
		   &ret->block_sectors, &ret->low_water);
	if (n < 4 || ret->block_sectors == 0)
		return -EINVAL;
	return 0;
}
