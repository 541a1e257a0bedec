/* config.h - the service's settings, read once at start-up from one "key = value" file. */
#ifndef SCE_CONFIG_H
#define SCE_CONFIG_H

#include <limits.h>
#include <stddef.h>

struct config {
	char bind[64];                 /* address the web server listens on (used by scripts) */
	int port;                      /* port the web server listens on (used by scripts) */
	int workers;                   /* run.fcgi processes: simultaneous runs (used by scripts) */
	char docker[PATH_MAX];         /* absolute path of the docker CLI */
	char python_image[256];        /* image for language "python" */
	char javascript_image[256];    /* image for language "javascript" */
	char instance[64];             /* value of the label every container carries */
	char runtime[64];              /* OCI runtime docker uses: runc, or runsc (gVisor) */
	char seccomp_profile[PATH_MAX]; /* seccomp profile given to docker; must be readable */
	char history_path[PATH_MAX];   /* absolute path of history.json */
	char state_dir[PATH_MAX];      /* absolute path of the service's own state (slots, pool) */
	char cgroup_root[PATH_MAX];    /* where the cgroup file systems are mounted */
	char allowed_hosts[1024];      /* Host names answered ("" = loopback names and bind; "*" any) */
	char allowed_origins[2048];    /* origins whose pages may call the API (CORS); "" = none */
	char api_token[129];           /* required as "Authorization: Bearer <token>"; "" = none */
	int per_client_runs;           /* simultaneous runs per client address; 0 = no cap */
	int per_client_waiting;        /* requests of one address waiting for a run; more: 429 */
	int max_runs;                  /* simultaneous runs in all; 0 = twice the CPUs */
	int queue_wait_ms;             /* longest wait for a run slot before a 503 */
	int warm_python;               /* idle containers kept ready per language; 0 = none */
	int warm_javascript;
	int history_size;              /* entries kept in history.json */
	int history_lock_ms;           /* longest wait for the history lock */
	int timeout_s;                 /* run time allowed to the user's program */
	int start_timeout_s;           /* time allowed for a container to start */
	int memory_mb;                 /* memory = memory+swap of a container */
	int pids_limit;                /* processes and threads in a container */
	char cpus[16];                 /* CPU quota of a container, e.g. "1.0" */
	int nofile;                    /* open-file limit in a container */
	int fsize_kb;                  /* largest file a container may write, KiB */
	size_t output_limit;           /* bytes of stdout, and of stderr, kept */
	int max_code_chars;            /* longest program, in Unicode characters */
	size_t max_body;               /* largest request body accepted, bytes */
};

/*
 * config_defaults() fills cfg with the built-in defaults.
 *
 * config_load() applies defaults, then the file at path. Relative paths in the file are taken
 * relative to the file's directory.
 * Errors: returns -1 and writes "PATH:LINE: what is wrong" (or why the file can't be read) to err.
 *
 * config_path() returns $SCE_CONFIG when set and non-empty, else the compiled-in default.
 */
void config_defaults(struct config *cfg);
int config_load(struct config *cfg, const char *path, char *err, size_t errlen);
const char *config_path(void);

#endif
