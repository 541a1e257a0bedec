/* sandbox.h - runs one program in its own locked-down container, with a deadline. */
#ifndef SCE_SANDBOX_H
#define SCE_SANDBOX_H

#include <stddef.h>

#include "config.h"
#include "container.h"
#include "request.h"

enum run_status { RUN_OK, RUN_ERROR, RUN_TIMEOUT, RUN_MEMORY };

struct run_result {
	char *output;         /* stdout: valid UTF-8, no NUL, malloc'd */
	char *error;          /* stderr, then the service's message for a timeout or memory limit */
	int exit_code;        /* the program's; -2 on timeout */
	enum run_status status;
	long duration_ms;     /* from the start of the program to its end */
	int truncated;        /* stdout or stderr went over the output limit */
	int warm;             /* the container came from the warm pool */
	int stale;            /* a warm container had died: the pool wants a sweep */
	int failure;          /* when not run: the HTTP status (503 unavailable, 500 broken,
				 499 the client went away) */
	struct figures used;  /* memory peak and CPU time of the container; -1 unknown */
	struct container ct;  /* the container: hand it to pool_done() once the answer is out */
	int has_container;
};

#define RUN_RESULT_INIT { .output = NULL }

/* "ok", "error", "timeout", "memory_limit" */
const char *run_status_name(enum run_status status);

/*
 * sandbox_run() runs code in a container of its own (from the warm pool, or made now). The
 * program gets cfg->timeout_s seconds from the moment it starts. The run is abandoned (and the
 * container removed at once) when intr says so: the service stopping, or the client gone.
 *
 * Returns 0 when the program ran, whatever its outcome: res filled, release it with
 * run_result_release(); or -1 when the sandbox could not run it (docker missing or failing,
 * image missing, stopped): err then holds a message fit for the client (details in the log).
 * Either way, when res->has_container the caller passes res->ct to pool_done() — after
 * answering, to keep the removal off the client's time.
 */
struct interrupt;
int sandbox_run(const struct config *cfg, enum language lang, const char *code, size_t code_len,
		const struct interrupt *intr, struct run_result *res, char *err, size_t errlen);
void run_result_release(struct run_result *res);

#endif
