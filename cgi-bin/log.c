/* log.c - writes one line per message to stderr, with the program name and pid. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *prog = "sce";

void log_init(const char *program)
{
	const char *slash = strrchr(program, '/');
	prog = slash ? slash + 1 : program;
}

void log_msg(const char *fmt, ...)
{
	char line[2048];
	va_list ap;
	int n;

	n = snprintf(line, sizeof(line), "%.64s[%ld]: ", prog, (long)getpid());
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
