/* marks.h - where the parts of a run's stderr are: docker's words, the compiler's messages
 * between the compile marks, the program's own after the start mark. */
#ifndef SCE_MARKS_H
#define SCE_MARKS_H

#include <stddef.h>

#include "spawn.h"

/*
 * marks_program_from() returns where the program's stderr begins: just after the launcher's
 * start mark (what is before it is docker's, or the compiler's); the whole capture's length
 * when there is no mark.
 *
 * marks_compile() finds a compiled language's part of stderr: the compiler's messages
 * [from, to) after the compile mark, then "\034<ms>\034" once it ended (ended set, ms its
 * figure; -1 when not ended). It looks in the first upto bytes only (what comes before the
 * program's start mark, and before docker's words once a container was removed), and only when
 * compiled is set: a program's own stderr is never taken for a compiler's.
 */
struct compile_part {
	int seen, ended;
	size_t from, to;
	long ms;
};

size_t marks_program_from(const struct capture *err);
void marks_compile(const struct capture *err, size_t upto, int compiled, struct compile_part *cp);

#endif
