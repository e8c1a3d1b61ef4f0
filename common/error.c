// SPDX-License-Identifier: Apache-2.0
#define BERTH_ERROR_IMPL
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "berth/error.h"

static int ret_of(int errnum)
{
	return errnum > 0 ? -errnum : -EINVAL;
}

int berth_error_set(berth_error *err, int code, int errnum, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return ret_of(errnum);
	err->errnum = errnum > 0 ? errnum : EINVAL;
	err->code = code;
	err->details[0] = '\0';
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return ret_of(errnum);
}

int berth_error_errno(berth_error *err, int code, const char *fmt, ...)
{
	int errnum = errno;
	va_list ap;
	int n;

	if (!err)
		return ret_of(errnum);
	err->errnum = errnum > 0 ? errnum : EIO;
	err->code = code;
	err->details[0] = '\0';
	va_start(ap, fmt);
	n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < sizeof(err->msg))
		snprintf(err->msg + n, sizeof(err->msg) - n, ": %s", strerror(err->errnum));
	return -err->errnum;
}

void berth_error_details(berth_error *err, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return;
	va_start(ap, fmt);
	vsnprintf(err->details, sizeof(err->details), fmt, ap);
	va_end(ap);
}

int berth_error_prefix(berth_error *err, const char *fmt, ...)
{
	char prefix[BERTH_ERROR_MSG_MAX], old[BERTH_ERROR_MSG_MAX];
	va_list ap;

	if (!err)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	snprintf(err->msg, sizeof(err->msg), "%s: %s", prefix, old);
	return berth_error_ret(err);
}

void berth_error_clear(berth_error *err)
{
	if (err)
		memset(err, 0, sizeof(*err));
}

int berth_error_ret(const berth_error *err)
{
	return err && err->errnum > 0 ? -err->errnum : -EINVAL;
}
