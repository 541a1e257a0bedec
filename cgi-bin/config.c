/* config.c - reads the key = value configuration file and checks every value. */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conffile.h"
#include "container.h"
#include "history_store.h"
#include "origin.h"

#ifndef SCE_DEFAULT_CONFIG
#define SCE_DEFAULT_CONFIG "/etc/safe-code-executor/sce.conf"
#endif

enum kind { K_STR, K_PATH, K_FILE, K_ABS, K_IMAGE, K_NAME, K_TOKEN, K_INT, K_SIZE, K_CPUS, K_BIND,
	     K_HOSTS, K_ORIGINS, K_ADDRS, K_BACKEND, K_RKEY };

struct key {
	const char *name;
	enum kind kind;
	size_t off;
	size_t size; /* for strings: buffer size */
	long min, max;
};

#define STR(f, k) { #f, k, offsetof(struct config, f), sizeof(((struct config *)0)->f), 0, 0 }
#define INT(f, lo, hi) { #f, K_INT, offsetof(struct config, f), sizeof(int), lo, hi }

static const struct key keys[] = {
	STR(bind, K_BIND),
	INT(port, 1, 65535),
	INT(workers, 1, 256),
	STR(docker, K_ABS),
	STR(languages, K_FILE),
	STR(instance, K_NAME),
	STR(runtime, K_IMAGE),
	STR(seccomp_profile, K_FILE),
	STR(history_path, K_PATH),
	STR(state_dir, K_PATH),
	STR(engine_state_dir, K_PATH),
	STR(cgroup_root, K_PATH),
	STR(allowed_hosts, K_HOSTS),
	STR(allowed_origins, K_ORIGINS),
	STR(api_token, K_TOKEN),
	STR(front_addresses, K_ADDRS),
	INT(per_client_runs, 0, 64), /* a wait holds one descriptor per slot */
	INT(per_client_waiting, 0, 256),
	INT(max_runs, 0, 256),
	INT(queue_wait_ms, 0, 60000),
	INT(history_size, 1, 50), /* 50 entries of the largest size stay within the 64 MiB a reader takes */
	INT(history_lock_ms, 0, 60000),
	STR(history_backend, K_BACKEND),
	STR(redis_host, K_BIND),
	INT(redis_port, 1, 65535),
	STR(redis_key, K_RKEY),
	STR(redis_password_file, K_FILE),
	INT(redis_timeout_ms, 10, 10000),
	INT(timeout_s, 1, 3600),
	INT(compile_timeout_s, 1, 600),
	INT(start_timeout_s, 1, 600),
	INT(memory_mb, 6, 1 << 20),
	INT(pids_limit, 8, 1 << 20),
	STR(cpus, K_CPUS),
	INT(nofile, 16, 1 << 20),
	INT(fsize_kb, 0, 1 << 30),
	{ "output_limit", K_SIZE, offsetof(struct config, output_limit), sizeof(size_t), 1, 64L << 20 },
	INT(max_code_chars, 1, 1 << 20),
	INT(max_stdin_bytes, 0, 16 << 20),
	INT(history_stdin_bytes, 0, 1 << 20),
	{ "max_body", K_SIZE, offsetof(struct config, max_body), sizeof(size_t), 0, 256L << 20 },
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

/* Keys of older configs, and what took their place. */
static const struct replaced {
	const char *key, *now;
} replaced[] = {
	{ "python_image", "\"image\" in the [python] entry of languages.conf" },
	{ "javascript_image", "\"image\" in the [javascript] entry of languages.conf" },
	{ "warm_python", "\"warm\" in the [python] entry of languages.conf" },
	{ "warm_javascript", "\"warm\" in the [javascript] entry of languages.conf" },
};

void config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	strcpy(cfg->bind, "127.0.0.1");
	cfg->port = 5000;
	cfg->workers = 32;
	strcpy(cfg->docker, "/usr/bin/docker");
	strcpy(cfg->languages, "languages.conf"); /* beside the config file: config_load() */
	strcpy(cfg->instance, "default");
	strcpy(cfg->runtime, "runc");
	strcpy(cfg->seccomp_profile, "/etc/safe-code-executor/seccomp.json");
	strcpy(cfg->history_path, "/var/lib/safe-code-executor/history.json");
	strcpy(cfg->state_dir, "/var/lib/safe-code-executor");
	strcpy(cfg->cgroup_root, "/sys/fs/cgroup");
	cfg->per_client_runs = 2;
	cfg->per_client_waiting = 18;
	cfg->queue_wait_ms = 20000;
	cfg->history_size = 10;
	cfg->history_lock_ms = 2000;
	strcpy(cfg->history_backend, "file");
	strcpy(cfg->redis_host, "127.0.0.1");
	cfg->redis_port = 6379;
	strcpy(cfg->redis_key, "sce:history");
	cfg->redis_timeout_ms = 100;
	cfg->timeout_s = 10;
	cfg->compile_timeout_s = 10;
	cfg->start_timeout_s = 30;
	cfg->memory_mb = 128;
	cfg->pids_limit = 64;
	strcpy(cfg->cpus, "1.0");
	cfg->nofile = 256;
	cfg->fsize_kb = 1024;
	cfg->output_limit = 65536;
	cfg->max_code_chars = 5000;
	cfg->max_stdin_bytes = 65536;
	cfg->history_stdin_bytes = 4096;
	cfg->max_body = 0;
}

/* Longest JSON escapes: 12 bytes for a character outside the BMP ("\ud83d\ude00"), 6 for a byte
 * of input ("\u0000"); and room for the field names, the language and the JSON around them. */
size_t config_body_needed(const struct config *cfg)
{
	return (size_t)cfg->max_code_chars * 12 + (size_t)cfg->max_stdin_bytes * 6 + 4096;
}

void config_host_label(struct config *cfg)
{
	char host[128] = "";

	if (gethostname(host, sizeof(host) - 1))
		strcpy(host, "unknown");
	host[sizeof(host) - 1] = '\0';
	snprintf(cfg->host_label, sizeof(cfg->host_label), "%s/%s", host, cfg->instance);
}

const char *config_path(void)
{
	const char *p = getenv("SCE_CONFIG");
	return p && *p ? p : SCE_DEFAULT_CONFIG;
}

/* Part of a container name, as docker wants them: [a-zA-Z0-9][a-zA-Z0-9_.-]*. */
static int name_ok(const char *s)
{
	if (!isalnum((unsigned char)*s))
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("_.-", *s))
			return 0;
	return 1;
}

/* An API token: 16 to 128 characters that need no quoting in a header. */
static int token_ok(const char *s)
{
	size_t n = strlen(s);

	if (n < 16 || n > 128)
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("-._~+/=", *s))
			return 0;
	return 1;
}

/* Where a web server listens: an IPv4 or IPv6 address, or a host name (it goes into the web
 * servers' configs as it is). */
static int bind_ok(const char *s)
{
	unsigned char addr[16];
	const char *p;

	if (inet_pton(AF_INET, s, addr) == 1 || inet_pton(AF_INET6, s, addr) == 1)
		return 1;
	if (!isalnum((unsigned char)*s) || strlen(s) > 253)
		return 0;
	for (p = s; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-')
			return 0;
	return 1;
}

/* Addresses of a front: IPv4 or IPv6 addresses, separated by spaces. */
static int addrs_ok(const char *s)
{
	char one[64];
	unsigned char addr[16];
	size_t n;
	int any = 0;

	for (s += strspn(s, " \t"); *s; s += strspn(s, " \t")) {
		n = strcspn(s, " \t");
		if (n >= sizeof(one))
			return 0;
		memcpy(one, s, n);
		one[n] = '\0';
		if (inet_pton(AF_INET, one, addr) != 1 && inet_pton(AF_INET6, one, addr) != 1)
			return 0;
		any = 1;
		s += n;
	}
	return any;
}

static int backend_ok(const char *s)
{
	return !strcmp(s, "file") || !strcmp(s, "redis");
}

/* A Redis key: letters, digits and _.:- (no quoting in any client). */
static int rkey_ok(const char *s)
{
	return *s && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-") ==
			     strlen(s);
}

static int cpus_ok(const char *s)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	return !errno && end != s && !*end && v >= 0.01 && v <= 1024 && isdigit((unsigned char)*s);
}

/* The kinds of string a function checks, and what is said of a value that fails. */
static const struct check {
	enum kind kind;
	int (*ok)(const char *value);
	const char *why;
} checks[] = {
	{ K_NAME, name_ok, "may hold only letters, digits and _.- and must start with a letter or digit" },
	{ K_TOKEN, token_ok, "must be 16 to 128 letters, digits or -._~+/=" },
	{ K_BIND, bind_ok, "not an IP address or a host name" },
	{ K_HOSTS, origin_hosts_valid, "not a list of host names (no ports; IPv6 addresses in brackets) or *" },
	{ K_ORIGINS, origin_origins_valid, "not a list of origins such as https://course.example.org or "
					   "http://127.0.0.1:8080 (scheme, host, optional port; no path)" },
	{ K_CPUS, cpus_ok, "not a number of CPUs between 0.01 and 1024" },
	{ K_ADDRS, addrs_ok, "not a list of IP addresses separated by spaces" },
	{ K_BACKEND, backend_ok, "must be file or redis" },
	{ K_RKEY, rkey_ok, "may hold only letters, digits and _.:-" },
};

/* Applies one value; returns NULL or what is wrong with it. */
static const char *set_value(struct config *cfg, const struct key *k, const char *val, const char *dir)
{
	char *field = (char *)cfg + k->off;
	const struct check *c;
	char *end;
	long long n;

	switch (k->kind) {
	case K_INT:
	case K_SIZE:
		errno = 0;
		n = strtoll(val, &end, 10);
		if (errno || end == val || *end || !isdigit((unsigned char)*val))
			return "not a whole number";
		if (n < k->min || n > k->max)
			return "out of range";
		if (k->kind == K_INT)
			*(int *)field = (int)n;
		else
			*(size_t *)field = (size_t)n;
		return NULL;
	case K_PATH:
	case K_FILE:
		return conffile_path(field, k->size, dir, val) ? "too long" : NULL;
	case K_IMAGE:
		if (!conffile_image_ok(val))
			return "may hold only letters, digits and ._:/@- and must not start with '-'";
		/* fall through */
	case K_ABS:
		if (k->kind == K_ABS && *val != '/')
			return "must be an absolute path";
		/* fall through */
	case K_STR:
		if (strlen(val) >= k->size)
			return "too long";
		strcpy(field, val);
		return NULL;
	default:
		for (c = checks; c < checks + sizeof(checks) / sizeof(checks[0]); c++)
			if (c->kind == k->kind) {
				if (!c->ok(val) || strlen(val) >= k->size)
					return c->why;
				strcpy(field, val);
				return NULL;
			}
	}
	return "unknown kind";
}

/* The line where key was set (0: the default). */
static int line_of(const int *set_at, const char *key)
{
	size_t i;

	for (i = 0; i < NKEYS; i++)
		if (!strcmp(keys[i].name, key))
			return set_at[i];
	return 0;
}

static int later(int a, int b)
{
	return a > b ? a : b;
}

/* Values that are each in range but contradict each other; -1 with err naming the later line. */
static int check_together(const struct config *cfg, const char *path, const int *set_at,
			  char *err, size_t errlen)
{
	/* An entry holds the code, the kept input and both streams and the compiler's messages,
	 * JSON-escaped: at most 6 bytes a byte (\u001b), 12 a character of code, plus its other
	 * fields. */
	unsigned long long messages = cfg->output_limit > COMPILE_OUTPUT_MAX + 128 ? cfg->output_limit
									  : COMPILE_OUTPUT_MAX + 128;
	unsigned long long entry = (2ULL * cfg->output_limit + messages) * 6 +
				   (unsigned long long)cfg->max_code_chars * 12 +
				   (unsigned long long)cfg->history_stdin_bytes * 6 + 4096;
	int line = later(later(line_of(set_at, "output_limit"), line_of(set_at, "history_size")),
			 later(line_of(set_at, "max_code_chars"), line_of(set_at, "history_stdin_bytes")));
	int i;

	if (entry * (unsigned long long)cfg->history_size > HISTORY_MAX_BYTES) {
		snprintf(err, errlen, "%s:%d: history_size %d with output_limit %zu, max_code_chars %d "
				      "and history_stdin_bytes %d: entries could add up to more than the "
				      "%ld MiB a history file may hold; lower one of them", path, line,
			 cfg->history_size, cfg->output_limit, cfg->max_code_chars,
			 cfg->history_stdin_bytes, HISTORY_MAX_BYTES >> 20);
		return -1;
	}
	for (i = 0; i < cfg->langs.n; i++) {
		const struct language *l = &cfg->langs.list[i];
		int compile = LANGUAGE_COMPILED(l) ? l->compile_timeout_s : 0;

		if (l->timeout_s + compile + cfg->start_timeout_s + RUN_BACKSTOP_S <=
		    IDLE_SECONDS - IDLE_MAX_S)
			continue;
		snprintf(err, errlen, "%s:%d: [%s]: timeout_s %d with compile_timeout_s %d and "
				      "start_timeout_s %d: more than %d s in all (a warm container is "
				      "handed out until %d s old and ends at %d s)", path,
			 later(later(line_of(set_at, "timeout_s"), line_of(set_at, "compile_timeout_s")),
			       line_of(set_at, "start_timeout_s")),
			 l->name, l->timeout_s, compile, cfg->start_timeout_s,
			 IDLE_SECONDS - IDLE_MAX_S - RUN_BACKSTOP_S, IDLE_MAX_S, IDLE_SECONDS);
		return -1;
	}
	if (cfg->per_client_runs && cfg->per_client_runs + cfg->per_client_waiting >= cfg->workers) {
		snprintf(err, errlen, "%s:%d: per_client_runs %d + per_client_waiting %d must stay below "
				      "workers %d, or one address could hold every worker",
			 path, later(later(line_of(set_at, "per_client_runs"),
					   line_of(set_at, "per_client_waiting")), line_of(set_at, "workers")),
			 cfg->per_client_runs, cfg->per_client_waiting, cfg->workers);
		return -1;
	}
	if (cfg->max_body && cfg->max_body < config_body_needed(cfg)) {
		snprintf(err, errlen, "%s:%d: max_body %zu is less than the %zu bytes the longest code "
				      "and input may take (leave it out to have that)", path,
			 later(line_of(set_at, "max_body"), later(line_of(set_at, "max_code_chars"),
								   line_of(set_at, "max_stdin_bytes"))),
			 cfg->max_body, config_body_needed(cfg));
		return -1;
	}
	if (strpbrk(cfg->state_dir, ",\"") || strpbrk(cfg->engine_state_dir, ",\"")) {
		line = strpbrk(cfg->state_dir, ",\"") ? line_of(set_at, "state_dir")
						      : line_of(set_at, "engine_state_dir");
		snprintf(err, errlen, "%s:%d: %s: must not hold ',' or '\"' (it is mounted into the "
				      "containers)", path, line,
			 strpbrk(cfg->state_dir, ",\"") ? "state_dir" : "engine_state_dir");
		return -1;
	}
	return 0;
}

struct reading {
	struct config *cfg;
	const char *dir;
	int set_at[NKEYS];
	char msg[512];
};

static const char *on_pair(void *ctx, const char *section, const char *key, const char *val,
			   int line)
{
	struct reading *r = ctx;
	const char *why;
	size_t i;

	(void)section;
	if (!key)
		return "sce.conf has no sections (the languages are in languages.conf)";
	for (i = 0; i < sizeof(replaced) / sizeof(replaced[0]); i++)
		if (!strcmp(replaced[i].key, key)) {
			snprintf(r->msg, sizeof(r->msg), "%s: no longer a key here: use %s", key,
				 replaced[i].now);
			return r->msg;
		}
	for (i = 0; i < NKEYS && strcmp(keys[i].name, key); i++)
		;
	if (i == NKEYS) {
		snprintf(r->msg, sizeof(r->msg), "unknown key \"%.64s\"", key);
		return r->msg;
	}
	why = *val ? set_value(r->cfg, &keys[i], val, r->dir) : "empty value";
	if (why) {
		snprintf(r->msg, sizeof(r->msg), "%s: %s", key, why);
		return r->msg;
	}
	r->set_at[i] = line;
	return NULL;
}

/* Limits an entry of the table does not set are the config's. */
static void fill_limits(struct config *cfg)
{
	int i;

	for (i = 0; i < cfg->langs.n; i++) {
		struct language *l = &cfg->langs.list[i];

		if (!l->timeout_s)
			l->timeout_s = cfg->timeout_s;
		if (!l->compile_timeout_s)
			l->compile_timeout_s = cfg->compile_timeout_s;
		if (!l->memory_mb)
			l->memory_mb = cfg->memory_mb;
		if (!l->pids_limit)
			l->pids_limit = cfg->pids_limit;
	}
}

int config_load(struct config *cfg, const char *path, char *err, size_t errlen)
{
	struct reading r;
	char dir[PATH_MAX];
	size_t i;

	memset(&r, 0, sizeof(r));
	config_defaults(cfg);
	if (conffile_dir_of(path, dir, sizeof(dir))) {
		snprintf(err, errlen, "%s: path too long", path);
		return -1;
	}
	r.cfg = cfg;
	r.dir = dir;
	if (conffile_read(path, on_pair, &r, err, errlen))
		return -1;
	if (!line_of(r.set_at, "languages") &&
	    conffile_path(cfg->languages, sizeof(cfg->languages), dir, "languages.conf")) {
		snprintf(err, errlen, "%s: path too long", path);
		return -1;
	}
	/* Files named in the config must be there (checked once the last setting is known). */
	for (i = 0; i < NKEYS; i++) {
		if (keys[i].kind == K_FILE && r.set_at[i] && access((char *)cfg + keys[i].off, R_OK)) {
			snprintf(err, errlen, "%s:%d: %s: cannot read %s", path, r.set_at[i], keys[i].name,
				 (char *)cfg + keys[i].off);
			return -1;
		}
	}
	if (languages_load(&cfg->langs, cfg->languages, err, errlen))
		return -1;
	fill_limits(cfg);
	if (check_together(cfg, path, r.set_at, err, errlen))
		return -1;
	if (cfg->max_runs == 0) {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);
		cfg->max_runs = cpus > 0 ? (int)(cpus * 2) : 2;
	}
	if (cfg->max_body == 0)
		cfg->max_body = config_body_needed(cfg);
	config_host_label(cfg);
	return 0;
}
