/* container.h - the docker CLI operations on one sandbox container, and its cgroup's figures. */
#ifndef SCE_CONTAINER_H
#define SCE_CONTAINER_H

#include <limits.h>
#include <stddef.h>

#include "config.h"
#include "request.h"

/* The byte the launcher prints on stdout and on stderr just before the program starts. */
#define CONTAINER_START_MARK '\036'

/* An idle container ends by itself after this long (its main process is a sleep); it is handed
 * out only while younger than IDLE_MAX_S, so a run may last IDLE_SECONDS - IDLE_MAX_S at most
 * (config.c refuses a longer timeout_s). */
#define IDLE_SECONDS 3600
#define IDLE_MAX_S (IDLE_SECONDS - 300)
/* The in-container KILL backstop of a run: timeout_s + this. */
#define RUN_BACKSTOP_S 30

struct container {
	enum language lang;
	char name[96];  /* sce-<instance>-<pid>-<random> */
	char id[80];    /* docker's 64 hex digits, once created */
	int removed;    /* docker rm done already (a run cut short): only the record is left */
};

/*
 * The docker command lines. Only the config and the fixed language table reach them; the
 * program's source goes to the container on stdin.
 *   create: docker run --detach, every restriction of the sandbox, idle (sleep) until used;
 *   exec:   docker exec --interactive, the launcher and the language's interpreter (the code
 *           only chooses between fixed command lines: see node_cmd in container.c).
 */
#define DOCKER_ARGV_MAX 72
struct docker_argv {
	char *argv[DOCKER_ARGV_MAX];
	char label[128], memory[32], pids[32], nofile[64], fsize[64], backstop[32], idle[64];
	char seccomp[PATH_MAX + 16];
};
void container_create_argv(struct docker_argv *a, const struct config *cfg,
			   const struct container *ct);
void container_exec_argv(struct docker_argv *a, const struct config *cfg,
			 const struct container *ct, const char *code, size_t code_len);

/* A new name for a container of lang (ct->id left empty). */
void container_init(struct container *ct, const struct config *cfg, enum language lang);

/*
 * container_create() starts ct with `docker run --detach` and fills ct->id. Returns 0, or -1
 * with err holding a message fit for a client (docker's own words go to the log).
 * container_remove() kills and removes it (docker rm --force); returns 0 when it is gone.
 */
int container_create(const struct config *cfg, struct container *ct, char *err, size_t errlen);
int container_remove(const struct config *cfg, const char *name);
/* container_running(): 1 when the container is running, 0 when it is not (or gone), -1 when
 * docker can't say. */
int container_running(const struct config *cfg, const char *name);

/* The client's message for docker's stderr when a container could not be made or used. */
void container_failure(const struct config *cfg, enum language lang, const char *docker_err,
		       char *err, size_t errlen);

/* What the container's cgroup counted: -1 where unknown. */
struct figures {
	long long memory_peak;  /* bytes */
	long long cpu_ns;       /* CPU time of all its processes */
	long long oom_kills;    /* processes the OOM killer killed in it */
};
void container_figures(const struct config *cfg, const char *id, struct figures *f);

#endif
