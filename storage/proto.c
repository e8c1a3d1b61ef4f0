/* SPDX-License-Identifier: Apache-2.0 */
/* What both ends of the storage protocol share: its versions, layer ids and error codes. */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "berth/storage-proto.h"

const char *const berth_stor_versions[] = { "1.0.0", NULL };

bool berth_stor_id_valid(const char *id)
{
	size_t n;

	if (!id || !*id)
		return false;
	n = strlen(id);
	if (n > 128)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = id[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		if (alnum)
			continue;
		if (i == 0 || (c != '_' && c != '.' && c != '-'))
			return false;
	}
	return true;
}

int berth_stor_errno_code(int errnum)
{
	switch (errnum) {
	case ENOSPC:
	case EDQUOT:
		return BERTH_STOR_ERR_NO_SPACE;
	case EBUSY:
		return BERTH_STOR_ERR_BUSY;
	case EEXIST:
		return BERTH_STOR_ERR_EXISTS;
	case ENOTEMPTY:
		return BERTH_STOR_ERR_HAS_CHILDREN;
	case ENOENT:
		return BERTH_ERR_NOT_FOUND;
	case EOPNOTSUPP:
	case ENOSYS:
		return BERTH_STOR_ERR_NOT_SUPPORTED;
	case EAGAIN:
		return BERTH_ERR_TRY_AGAIN;
	default:
		return BERTH_ERR_IO;
	}
}

int berth_stor_code_errno(int code)
{
	switch (code) {
	case BERTH_ERR_INCOMPATIBLE_VERSION:
		return -EPROTONOSUPPORT;
	case BERTH_ERR_UNSUPPORTED_FIELD:
	case BERTH_ERR_INVALID_ENV:
	case BERTH_ERR_INVALID_CONFIG:
		return -EINVAL;
	case BERTH_ERR_NOT_FOUND:
		return -ENOENT;
	case BERTH_ERR_DECODE:
		return -EBADMSG;
	case BERTH_ERR_TRY_AGAIN:
		return -EAGAIN;
	case BERTH_STOR_ERR_EXISTS:
		return -EEXIST;
	case BERTH_STOR_ERR_HAS_CHILDREN:
		return -ENOTEMPTY;
	case BERTH_STOR_ERR_BUSY:
		return -EBUSY;
	case BERTH_STOR_ERR_NOT_SUPPORTED:
		return -EOPNOTSUPP;
	case BERTH_STOR_ERR_WRONG_FS:
		return -EXDEV;
	case BERTH_STOR_ERR_NO_SPACE:
		return -ENOSPC;
	case BERTH_STOR_ERR_UNSAFE_ARCHIVE:
		return -EPERM;
	default:
		return -EIO;
	}
}
