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

/* Appends msg to line (of size len, from n on) as one line of text: control characters (a
 * program's escape sequences, line breaks) and DEL as \xNN, C1 controls as \u00NN; a message
 * longer than the line is cut, never inside an escape. */
static void append_escaped(char *line, size_t len, size_t n, const char *msg)
{
	const unsigned char *p = (const unsigned char *)msg;

	for (; *p && n + 7 < len; p++) {
		if (*p < 0x20 || *p == 0x7f) {
			n += (size_t)snprintf(line + n, len - n, "\\x%02x", *p);
		} else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
			n += (size_t)snprintf(line + n, len - n, "\\u%04x", p[1]); /* U+0080-U+009F */
			p++;
		} else {
			line[n++] = (char)*p;
		}
	}
	line[n] = '\0';
}

void log_msg(const char *fmt, ...)
{
	char line[4096], msg[2048], when[32] = "";
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
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	for (size_t len = strlen(msg); len && (msg[len - 1] == '\n' || msg[len - 1] == '\r');)
		msg[--len] = '\0'; /* a message's own final line break */
	append_escaped(line, sizeof(line) - 1, (size_t)n, msg);
	strcat(line, "\n");
	fputs(line, stderr);
	fflush(stderr);
}
