/* marks.c - the launcher's marks in a run's stderr. */
#include "marks.h"

#include <stdlib.h>
#include <string.h>

#include "container.h"

size_t marks_program_from(const struct capture *err)
{
	const char *mark = err->buf ? memchr(err->buf, CONTAINER_START_MARK, err->len) : NULL;

	return mark ? (size_t)(mark - err->buf) + 1 : err->len;
}

void marks_compile(const struct capture *err, size_t upto, int compiled, struct compile_part *cp)
{
	const char *b = err->buf, *m, *e;
	char *end;
	long ms;

	memset(cp, 0, sizeof(*cp));
	cp->ms = -1;
	if (upto > err->len)
		upto = err->len;
	m = compiled && b ? memchr(b, CONTAINER_COMPILE_MARK, upto) : NULL;
	if (!m)
		return;
	cp->seen = 1;
	cp->from = (size_t)(m - b) + 1;
	cp->to = upto;
	e = memchr(m + 1, CONTAINER_COMPILED_MARK, upto - cp->from);
	if (!e)
		return;
	cp->to = (size_t)(e - b);
	ms = strtol(e + 1, &end, 10); /* the capture is NUL-terminated */
	if (end > e + 1 && (size_t)(end - b) < upto && *end == CONTAINER_COMPILED_MARK && ms >= 0) {
		cp->ms = ms;
		cp->ended = 1;
	}
}
