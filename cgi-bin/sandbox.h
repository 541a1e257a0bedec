/* sandbox.h - runs one program in its own locked-down container, with a deadline. */
#ifndef SCE_SANDBOX_H
#define SCE_SANDBOX_H

#include <stddef.h>

#include "config.h"
#include "container.h"
#include "run_stream.h"

enum run_status { RUN_OK, RUN_ERROR, RUN_TIMEOUT, RUN_MEMORY, RUN_COMPILE_ERROR };

struct interrupt;

/* What to run: the program in a language of the table, its input, and when to give up early. */
struct run_spec {
	const struct language *lang;
	const char *code;             /* code_len bytes */
	size_t code_len;
	const char *input;            /* the program's stdin: input_len bytes (may hold NUL) */
	size_t input_len;
	const struct interrupt *intr; /* the service stopping, or the client gone; may be NULL */
	struct run_stream *stream;    /* a streamed run, or NULL */
};

struct run_result {
	char *output;         /* stdout: valid UTF-8, no NUL, malloc'd */
	char *error;          /* stderr, then the service's message for a timeout or memory limit */
	char *compile_output; /* the compiler's messages ("" when not compiled), malloc'd */
	long compile_ms;      /* the compile's time; -1 when nothing was compiled */
	int exit_code;        /* the program's (the compiler's for a compile error); -2 on timeout */
	enum run_status status;
	long duration_ms;     /* from the start of the program to its end (0: it did not run) */
	int truncated;        /* stdout, stderr or the compiler's messages went over the limit */
	int warm;             /* the container came from the warm pool */
	int stale;            /* a warm container had died: the pool wants a sweep */
	int failure;          /* when not run: the HTTP status (503 unavailable: the program did
				 not start; 502 cut short; 500 broken; 499 the client went away) */
	struct figures used;  /* memory peak and CPU time (of the program's run) of the
				 container; -1 unknown */
	struct container ct;  /* the container: hand it to pool_done() once the answer is out */
	int has_container;
};

#define RUN_RESULT_INIT { .output = NULL }

/* "ok", "error", "timeout", "memory_limit", "compile_error" */
const char *run_status_name(enum run_status status);

/*
 * sandbox_run() runs spec->code in a container of its own (from the warm pool, or made now): the
 * program is put in the container's directory, compiled first when the language compiles, and
 * gets spec->input on its stdin, then end of file. The program gets its language's timeout_s
 * from the moment it starts (a compile its compile_timeout_s before that). The run is abandoned
 * (and the container removed at once) when spec->intr says so.
 *
 * Returns 0 when the program ran (or failed to compile), whatever its outcome: res filled,
 * release it with run_result_release(); or -1 when the sandbox could not run it (docker missing
 * or failing, image missing, stopped): err then holds a message fit for the client (details in
 * the log). Either way, when res->has_container the caller passes res->ct to pool_done() —
 * after answering, to keep the removal off the client's time.
 */
int sandbox_run(const struct config *cfg, const struct run_spec *spec, struct run_result *res,
		char *err, size_t errlen);
void run_result_release(struct run_result *res);

#endif
