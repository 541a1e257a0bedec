/* config.h - the service's settings, read once at start-up from one "key = value" file. */
#ifndef SCE_CONFIG_H
#define SCE_CONFIG_H

#include <limits.h>
#include <stddef.h>

#include "languages.h"

struct config {
	char bind[64];                 /* address the web server listens on (used by scripts) */
	int port;                      /* port the web server listens on (used by scripts) */
	int workers;                   /* run.fcgi processes: simultaneous runs (used by scripts) */
	char docker[PATH_MAX];         /* absolute path of the docker CLI */
	char languages[PATH_MAX];      /* the table of languages (default: languages.conf beside
					  the config file) */
	struct languages langs;        /* read from it, limits filled in from the values below */
	char instance[64];             /* value of the label every container carries */
	char host_label[192];          /* "<host name>/<instance>": the X-SCE-Host header and each
					  history entry's "host" (not a key: made by config_load) */
	char runtime[64];              /* OCI runtime docker uses: runc, or runsc (gVisor) */
	char seccomp_profile[PATH_MAX]; /* seccomp profile given to docker; must be readable */
	char history_path[PATH_MAX];   /* absolute path of history.json */
	char state_dir[PATH_MAX];      /* absolute path of the service's own state (slots, pool) */
	char engine_state_dir[PATH_MAX]; /* state_dir as the Docker engine's host sees it (the
					    service in a container of its own); "" = state_dir */
	char cgroup_root[PATH_MAX];    /* where the cgroup file systems are mounted */
	char allowed_hosts[1024];      /* Host names answered ("" = loopback names and bind; "*" any) */
	char allowed_origins[2048];    /* origins whose pages may call the API (CORS); "" = none */
	char api_token[129];           /* required as "Authorization: Bearer <token>"; "" = none */
	char front_addresses[512];     /* addresses of the front (load balancer) before this host:
					  from them X-Forwarded-For names the client; when set,
					  /run is taken from them only. "" = no front */
	int per_client_runs;           /* simultaneous runs per client address; 0 = no cap */
	int per_client_waiting;        /* requests of one address waiting for a run; more: 429 */
	int max_runs;                  /* simultaneous runs in all; 0 = twice the CPUs */
	int queue_wait_ms;             /* longest wait for a run slot before a 503 */
	int history_size;              /* entries kept in history.json */
	int history_lock_ms;           /* longest wait for the history lock */
	char history_backend[8];       /* "file" (history_path alone) or "redis" (shared by hosts) */
	char redis_host[256];          /* the Redis server of the "redis" backend */
	int redis_port;
	char redis_key[128];           /* the sorted set holding the entries */
	char redis_password_file[PATH_MAX]; /* AUTH password, the file's first line; "" = none */
	int redis_timeout_ms;          /* connect and reply timeout of each Redis call */
	int timeout_s;                 /* run time allowed to the user's program */
	int compile_timeout_s;         /* time allowed to a compile (compiled languages) */
	int start_timeout_s;           /* time allowed for a container to start */
	int memory_mb;                 /* memory = memory+swap of a container */
	int pids_limit;                /* processes and threads in a container */
	char cpus[16];                 /* CPU quota of a container, e.g. "1.0" */
	int nofile;                    /* open-file limit in a container */
	int fsize_kb;                  /* largest file a container may write, KiB */
	size_t output_limit;           /* bytes of stdout, and of stderr, kept */
	int max_code_chars;            /* longest program, in Unicode characters */
	int max_stdin_bytes;           /* longest program input, bytes of UTF-8 */
	int history_stdin_bytes;       /* bytes of the input kept in a history entry */
	size_t max_body;               /* largest request body accepted, bytes (0: what the longest
					  code and input take, escaped: config_body_needed()) */
};

/*
 * config_defaults() fills cfg with the built-in defaults (and no languages).
 *
 * config_load() applies defaults, then the file at path, then the table of languages it names
 * (languages). Relative paths in the file are taken relative to the file's directory. A key
 * of an older config that the table replaced (python_image, warm_javascript...) is an error that
 * names its replacement.
 * Errors: returns -1 and writes "PATH:LINE: what is wrong" (or why the file can't be read) to err.
 *
 * config_body_needed() is the largest body a valid request can have: the longest code and input,
 * each character escaped in the longest way JSON allows, and the other fields.
 *
 * config_path() returns $SCE_CONFIG when set and non-empty, else the compiled-in default.
 */
void config_defaults(struct config *cfg);
/* config_host_label() fills cfg->host_label from the host name and cfg->instance. */
void config_host_label(struct config *cfg);
int config_load(struct config *cfg, const char *path, char *err, size_t errlen);
const char *config_path(void);
size_t config_body_needed(const struct config *cfg);

#endif
