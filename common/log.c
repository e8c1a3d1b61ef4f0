// SPDX-License-Identifier: Apache-2.0
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include "berth/log.h"

static int log_level = -1;
static const char *log_prog = "berth";
static FILE *log_out;
static bool log_journal;

static int parse_level(const char *s)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };

	if (!s || !*s)
		return BERTH_LOG_WARN;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcasecmp(s, names[i]) == 0)
			return (int)i;
	if (strcasecmp(s, "warning") == 0)
		return BERTH_LOG_WARN;
	return BERTH_LOG_WARN;
}

void berth_log_init(const char *progname)
{
	const char *file = getenv("BERTH_LOG_FILE");

	if (progname) {
		const char *slash = strrchr(progname, '/');
		log_prog = slash ? slash + 1 : progname;
	}
	log_level = parse_level(getenv("BERTH_LOG_LEVEL"));
	if (file && *file && !log_out)
		log_out = fopen(file, "ae");
	/* stderr connected to journald (systemd sets JOURNAL_STREAM=dev:ino): a "<N>" prefix
	 * gives each line its syslog priority */
	{
		const char *js = getenv("JOURNAL_STREAM");
		unsigned long long dev, ino;
		struct stat st;

		log_journal = !log_out && js && sscanf(js, "%llu:%llu", &dev, &ino) == 2 &&
			      fstat(STDERR_FILENO, &st) == 0 &&
			      (unsigned long long)st.st_dev == dev &&
			      (unsigned long long)st.st_ino == ino;
	}
}

int berth_log_enabled(enum berth_log_level level)
{
	if (log_level < 0)
		berth_log_init(NULL);
	return (int)level <= log_level;
}

void berth_log(enum berth_log_level level, const char *fmt, ...)
{
	static const char *const tags[] = { "error", "warn", "info", "debug" };
	FILE *out;
	va_list ap;

	if (!berth_log_enabled(level))
		return;
	static const int prio[] = { 3, 4, 6, 7 }; /* syslog: err, warning, info, debug */
	out = log_out ? log_out : stderr;
	flockfile(out); /* one line per message, whatever other threads print */
	if (log_journal)
		fprintf(out, "<%d>", prio[level]);
	fprintf(out, "%s[%d]: %s: ", log_prog, (int)getpid(), tags[level]);
	va_start(ap, fmt);
	vfprintf(out, fmt, ap);
	va_end(ap);
	fputc('\n', out);
	fflush(out);
	funlockfile(out);
}
