/* log.c - writes one line per message to stderr, with the time, the program name and pid (which
 * the journal adds itself when stderr is the journal's). */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *prog = "sce";
static int to_journal;

/* systemd names the journal stream it connected as JOURNAL_STREAM=device:inode. */
static int stderr_is_journal(void)
{
	const char *v = getenv("JOURNAL_STREAM");
	unsigned long dev, ino;
	struct stat st;

	return v && sscanf(v, "%lu:%lu", &dev, &ino) == 2 && fstat(2, &st) == 0 &&
	       st.st_dev == (dev_t)dev && st.st_ino == (ino_t)ino;
}

void log_init(const char *program)
{
	const char *slash = strrchr(program, '/');
	prog = slash ? slash + 1 : program;
	to_journal = stderr_is_journal();
}

void log_msg(const char *fmt, ...)
{
	char line[2048], when[32] = "";
	time_t now = time(NULL);
	struct tm tm;
	va_list ap;
	int n = 0;

	if (!to_journal) {
		if (localtime_r(&now, &tm))
			strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S: ", &tm);
		n = snprintf(line, sizeof(line), "%s%.64s[%ld]: ", when, prog, (long)getpid());
	}
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	for (char *p = line + n; *p; p++) /* one line, whatever the message holds */
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	strcat(line, "\n");
	fputs(line, stderr);
	fflush(stderr);
}
