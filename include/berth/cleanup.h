/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <dirent.h>

#define _cleanup_(f) __attribute__((cleanup(f)))

static inline void berth_freep(void *p)
{
	free(*(void **)p);
}
static inline void berth_closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}
static inline void berth_fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}
static inline void berth_closedirp(DIR **d)
{
	if (*d)
		closedir(*d);
}
/* free() a NULL-terminated array of strings and the array itself */
static inline void berth_strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}
static inline void berth_strv_freep(char ***v)
{
	berth_strv_free(*v);
}

#define _cleanup_free_ _cleanup_(berth_freep)
#define _cleanup_close_ _cleanup_(berth_closep)
#define _cleanup_fclose_ _cleanup_(berth_fclosep)
#define _cleanup_closedir_ _cleanup_(berth_closedirp)
#define _cleanup_strv_ _cleanup_(berth_strv_freep)

/* Ownership transfer out of a _cleanup_ variable. */
#define TAKE_PTR(p)                                                                                \
	({                                                                                         \
		__typeof__(p) _tp = (p);                                                           \
		(p) = NULL;                                                                        \
		_tp;                                                                               \
	})
#define TAKE_FD(fd)                                                                                \
	({                                                                                         \
		int _tf = (fd);                                                                    \
		(fd) = -1;                                                                         \
		_tf;                                                                               \
	})

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define STREQ(a, b) (strcmp((a), (b)) == 0)
