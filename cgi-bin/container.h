/* container.h - every docker CLI command line of the service, the sandbox container's files on
 * the host, and its cgroup's figures. */
#ifndef SCE_CONTAINER_H
#define SCE_CONTAINER_H

#include <limits.h>
#include <stddef.h>

#include "config.h"

/* The byte the launcher prints on stdout and on stderr just before the program starts. */
#define CONTAINER_START_MARK '\036'
/* Compiled languages: the byte printed on stderr before the compile, and the one that brackets
 * the compile's milliseconds after it ("\034<ms>\034"); the compiler's messages are between. */
#define CONTAINER_COMPILE_MARK '\035'
#define CONTAINER_COMPILED_MARK '\034'
/* The most of the compiler's messages kept; more is dropped (and the answer says "truncated"). */
#define COMPILE_OUTPUT_MAX 65536

/* An idle container ends by itself after this long (its main process is a sleep); it is handed
 * out only while younger than IDLE_MAX_S, so a run may last IDLE_SECONDS - IDLE_MAX_S at most
 * (config.c refuses a longer timeout_s). */
#define IDLE_SECONDS 3600
#define IDLE_MAX_S (IDLE_SECONDS - 300)
/* The in-container KILL backstop of a run: timeout_s + this. */
#define RUN_BACKSTOP_S 30

struct container {
	const struct language *lang;
	char name[96];  /* sce-<instance>-<pid>-<random> */
	char id[80];    /* docker's 64 hex digits, once created */
	int removed;    /* docker rm done already (a run cut short): only the record is left */
};

/*
 * The docker command lines. Only the config and the table of languages reach them; the program
 * reaches the container as a file (container_put_program), its input on stdin.
 *   create: docker run --detach, every restriction of the sandbox, the container's directory of
 *           the host (<state_dir>/code/<name>) read-only at /code, idle (sleep) until used; a
 *           pre-started language's (prestart = yes) runs its run command at once, waiting;
 *   exec:   docker exec --interactive, the launcher, the language's compile (when it has one)
 *           and run commands; a pre-started language's, the program that brings the run's
 *           streams to the waiting command (images/attach.c).
 */
#define DOCKER_ARGV_MAX 96
struct docker_argv {
	char *argv[DOCKER_ARGV_MAX];
	char label[128], language[64], memory[32], pids[32], nofile[64], fsize[64], backstop[32],
		idle[64], compile_timeout[32], build[96];
	char seccomp[PATH_MAX + 16], mount[PATH_MAX + 64];
	char words[1024]; /* the table's commands, split */
};
void container_create_argv(struct docker_argv *a, const struct config *cfg,
			   const struct container *ct);
void container_exec_argv(struct docker_argv *a, const struct config *cfg,
			 const struct container *ct);

/* A new name for a container of lang (ct->id left empty). */
void container_init(struct container *ct, const struct config *cfg, const struct language *lang);

/*
 * container_create() makes ct's directory and starts ct with `docker run --detach`, filling
 * ct->id. Returns 0, or -1 with err holding a message fit for a client (docker's own words go
 * to the log); what it made is removed then.
 * container_remove() kills and removes it (docker rm --force), then its directory; returns 0
 * when it is gone.
 * container_remove_all() does the same for n containers with one docker command (which removes
 * them at once); 0 when docker removed them all (their directories are the caller's), -1 when
 * not (some may be gone: remove each on its own then).
 * container_put_program() writes the program into ct's directory as the language's file
 * (read-only to the container). 0, or -1 (logged).
 */
int container_create(const struct config *cfg, struct container *ct, char *err, size_t errlen);
int container_remove(const struct config *cfg, const char *name);
int container_remove_all(const struct config *cfg, const char *const *names, int n);
int container_put_program(const struct config *cfg, const struct container *ct, const char *code,
			  size_t len);
/* container_dir_remove() removes the directory of the container called name (and the program in
 * it); 0 when it is gone. */
int container_dir_remove(const struct config *cfg, const char *name);
/* container_running(): 1 when the container is running, 0 when it is not (or gone), -1 when
 * docker can't say. */
int container_running(const struct config *cfg, const char *name);

/* The client's message for docker's stderr when a container could not be made or used. */
void container_failure(const struct config *cfg, const struct language *lang,
		       const char *docker_err, char *err, size_t errlen);

/*
 * The engine as a whole:
 * container_list() puts "\n<name> <state>\n..." of every container of the instance in buf
 * (docker ps); 0, or -1 (also when it did not fit).
 * container_engine_ok() is 1 when the Docker engine answers (docker version).
 * container_images() asks for the images of the table (docker image inspect): 1 when all are
 * present, 0 when not, -1 when docker can't say; when versions is not NULL, versions[i] gets the
 * version label of langs->list[i]'s image ("" when it has none).
 */
int container_list(const struct config *cfg, char *buf, size_t len);
int container_engine_ok(const struct config *cfg);
int container_images(const struct config *cfg, char (*versions)[32]);

/* What the container's cgroup counted: -1 where unknown. */
struct figures {
	long long memory_peak;  /* bytes */
	long long cpu_ns;       /* CPU time of all its processes */
	long long oom_kills;    /* processes the OOM killer killed in it */
};
void container_figures(const struct config *cfg, const char *id, struct figures *f);

/* The image labels build-images.sh sets: the recipe's hash, and the language's version. */
#define IMAGE_RECIPE_LABEL "org.safe-code-executor.recipe"
#define IMAGE_VERSION_LABEL "org.safe-code-executor.version"

#endif
