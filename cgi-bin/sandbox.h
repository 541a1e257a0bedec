/* sandbox.h - runs one program in a fresh, locked-down Docker container, with a deadline. */
#ifndef SCE_SANDBOX_H
#define SCE_SANDBOX_H

#include <limits.h>
#include <signal.h>
#include <stddef.h>

#include "config.h"
#include "request.h"

enum run_status { RUN_OK, RUN_ERROR, RUN_TIMEOUT, RUN_MEMORY };

struct run_result {
	char *output;         /* stdout: valid UTF-8, no NUL, malloc'd */
	char *error;          /* stderr, then the service's message for a timeout or memory limit */
	int exit_code;        /* the program's; -2 on timeout */
	enum run_status status;
	long duration_ms;     /* from the start of the program to its end */
	int truncated;        /* stdout or stderr went over the output limit */
};

#define RUN_RESULT_INIT { NULL, NULL, 0, RUN_OK, 0, 0 }

/* "ok", "error", "timeout", "memory_limit" */
const char *run_status_name(enum run_status status);

/*
 * The docker command line for one run. Only the config and the fixed language table reach it;
 * the program's source goes to the container on stdin.
 */
#define DOCKER_ARGV_MAX 64
struct docker_argv {
	char *argv[DOCKER_ARGV_MAX];
	char name[128], label[128], memory[32], pids[32], nofile[64], fsize[64], backstop[32];
	char seccomp[PATH_MAX + 16];
};

/* Fills a for a container called name running lang. */
void sandbox_argv(struct docker_argv *a, const struct config *cfg, enum language lang,
		  const char *name);

/*
 * sandbox_run() runs code in a new container and removes the container before returning.
 * The program gets cfg->timeout_s seconds from the moment it starts; the container gets
 * cfg->start_timeout_s to start. The run is abandoned (and the container removed) when intr
 * says so: the service stopping, or the client gone.
 *
 * Returns 0 when the program ran, whatever its outcome (res filled; release it with
 * run_result_release()), or -1 when the sandbox could not run it (docker missing or failing,
 * image missing, stopped): err then holds a message fit for the client, and the details went
 * to the log.
 */
struct interrupt;
int sandbox_run(const struct config *cfg, enum language lang, const char *code, size_t code_len,
		const struct interrupt *intr, struct run_result *res, char *err, size_t errlen);
void run_result_release(struct run_result *res);

#endif
