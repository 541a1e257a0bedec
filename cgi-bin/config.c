/* config.c - reads the key = value configuration file and checks every value. */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "container.h"
#include "history_store.h"
#include "origin.h"

#ifndef SCE_DEFAULT_CONFIG
#define SCE_DEFAULT_CONFIG "/etc/safe-code-executor/sce.conf"
#endif

enum kind { K_STR, K_PATH, K_FILE, K_ABS, K_IMAGE, K_NAME, K_TOKEN, K_INT, K_SIZE, K_CPUS, K_BIND,
	     K_HOSTS, K_ORIGINS };

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
	STR(python_image, K_IMAGE),
	STR(javascript_image, K_IMAGE),
	STR(instance, K_NAME),
	STR(runtime, K_IMAGE),
	STR(seccomp_profile, K_FILE),
	STR(history_path, K_PATH),
	STR(state_dir, K_PATH),
	STR(cgroup_root, K_PATH),
	STR(allowed_hosts, K_HOSTS),
	STR(allowed_origins, K_ORIGINS),
	STR(api_token, K_TOKEN),
	INT(per_client_runs, 0, 64), /* a wait holds one descriptor per slot */
	INT(per_client_waiting, 0, 256),
	INT(max_runs, 0, 256),
	INT(queue_wait_ms, 0, 60000),
	INT(warm_python, 0, 64),
	INT(warm_javascript, 0, 64),
	INT(history_size, 1, 50), /* 50 entries of the largest size stay within the 64 MiB a reader takes */
	INT(history_lock_ms, 0, 60000),
	INT(timeout_s, 1, 3600),
	INT(start_timeout_s, 1, 600),
	INT(memory_mb, 6, 1 << 20),
	INT(pids_limit, 8, 1 << 20),
	STR(cpus, K_CPUS),
	INT(nofile, 16, 1 << 20),
	INT(fsize_kb, 0, 1 << 30),
	{ "output_limit", K_SIZE, offsetof(struct config, output_limit), sizeof(size_t), 1, 64L << 20 },
	INT(max_code_chars, 1, 1 << 20),
	{ "max_body", K_SIZE, offsetof(struct config, max_body), sizeof(size_t), 1, 64L << 20 },
};

void config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	strcpy(cfg->bind, "127.0.0.1");
	cfg->port = 5000;
	cfg->workers = 32;
	strcpy(cfg->docker, "/usr/bin/docker");
	strcpy(cfg->python_image, "sce-python:3.11");
	strcpy(cfg->javascript_image, "sce-node:18");
	strcpy(cfg->instance, "default");
	strcpy(cfg->runtime, "runc");
	strcpy(cfg->seccomp_profile, "/etc/safe-code-executor/seccomp.json");
	strcpy(cfg->history_path, "/var/lib/safe-code-executor/history.json");
	strcpy(cfg->state_dir, "/var/lib/safe-code-executor");
	strcpy(cfg->cgroup_root, "/sys/fs/cgroup");
	cfg->per_client_runs = 2;
	cfg->per_client_waiting = 18;
	cfg->queue_wait_ms = 20000;
	cfg->warm_python = 2;
	cfg->warm_javascript = 2;
	cfg->history_size = 10;
	cfg->history_lock_ms = 2000;
	cfg->timeout_s = 10;
	cfg->start_timeout_s = 30;
	cfg->memory_mb = 128;
	cfg->pids_limit = 64;
	strcpy(cfg->cpus, "1.0");
	cfg->nofile = 256;
	cfg->fsize_kb = 1024;
	cfg->output_limit = 65536;
	cfg->max_code_chars = 5000;
	cfg->max_body = 65536;
}

const char *config_path(void)
{
	const char *p = getenv("SCE_CONFIG");
	return p && *p ? p : SCE_DEFAULT_CONFIG;
}

/* Image names and labels go into docker's argv: letters, digits and ._:/@- only, never a leading '-'. */
static int image_name_ok(const char *s)
{
	if (!*s || *s == '-')
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("._:/@-", *s))
			return 0;
	return 1;
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

static int cpus_ok(const char *s)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	return !errno && end != s && !*end && v >= 0.01 && v <= 1024 && isdigit((unsigned char)*s);
}

/* Removes "." and ".." segments and repeated slashes from an absolute path, in place, without
 * looking at the file system (the directories need not exist yet). */
static void tidy_path(char *path)
{
	char *out = path, *in = path;

	while (*in) {
		size_t len;

		while (*in == '/')
			in++;
		len = strcspn(in, "/");
		if (len == 0)
			break;
		if (len == 1 && in[0] == '.') {
			/* skip */
		} else if (len == 2 && in[0] == '.' && in[1] == '.') {
			while (out > path && *--out != '/')
				;
		} else {
			*out++ = '/';
			memmove(out, in, len);
			out += len;
		}
		in += len;
	}
	if (out == path)
		*out++ = '/';
	*out = '\0';
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
		if (*val == '/') {
			if (strlen(val) >= k->size)
				return "too long";
			strcpy(field, val);
		} else if ((size_t)snprintf(field, k->size, "%s/%s", dir, val) >= k->size) {
			return "too long";
		}
		tidy_path(field);
		return NULL;
	case K_IMAGE:
		if (!image_name_ok(val))
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

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* The line where key was set (0: the default). */
static int line_of(const int *set_at, const char *key)
{
	size_t i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (!strcmp(keys[i].name, key))
			return set_at[i];
	return 0;
}

/* Values that are each in range but contradict each other; -1 with err naming the later line. */
static int check_together(const struct config *cfg, const char *path, const int *set_at,
			  char *err, size_t errlen)
{
	/* An entry holds the code and both streams, JSON-escaped: at most 6 bytes a byte (\u001b),
	 * and 4 bytes a character of code, escaped as well, plus its other fields. */
	unsigned long long entry = 2ULL * cfg->output_limit * 6 + (unsigned long long)cfg->max_code_chars * 24 + 4096;
	int a = line_of(set_at, "output_limit"), b = line_of(set_at, "history_size"),
	    c = line_of(set_at, "max_code_chars"), line = a > b ? a : b;

	line = line > c ? line : c;
	if (entry * (unsigned long long)cfg->history_size > HISTORY_MAX_BYTES) {
		snprintf(err, errlen, "%s:%d: history_size %d with output_limit %zu and max_code_chars %d: "
				      "entries could add up to more than the %ld MiB a history file may "
				      "hold; lower one of them", path, line, cfg->history_size,
			 cfg->output_limit, cfg->max_code_chars, HISTORY_MAX_BYTES >> 20);
		return -1;
	}
	if (cfg->timeout_s + cfg->start_timeout_s + RUN_BACKSTOP_S > IDLE_SECONDS - IDLE_MAX_S) {
		a = line_of(set_at, "timeout_s");
		b = line_of(set_at, "start_timeout_s");
		snprintf(err, errlen, "%s:%d: timeout_s: at most %d with start_timeout_s %d: a warm "
				      "container is handed out until %d s old and ends at %d s",
			 path, a > b ? a : b,
			 IDLE_SECONDS - IDLE_MAX_S - RUN_BACKSTOP_S - cfg->start_timeout_s,
			 cfg->start_timeout_s, IDLE_MAX_S, IDLE_SECONDS);
		return -1;
	}
	if (cfg->per_client_runs && cfg->per_client_runs + cfg->per_client_waiting >= cfg->workers) {
		a = line_of(set_at, "per_client_runs");
		b = line_of(set_at, "per_client_waiting");
		c = line_of(set_at, "workers");
		line = a > b ? a : b;
		snprintf(err, errlen, "%s:%d: per_client_runs %d + per_client_waiting %d must stay below "
				      "workers %d, or one address could hold every worker",
			 path, line > c ? line : c, cfg->per_client_runs, cfg->per_client_waiting,
			 cfg->workers);
		return -1;
	}
	return 0;
}

int config_load(struct config *cfg, const char *path, char *err, size_t errlen)
{
	FILE *f = NULL;
	char line[4096], dir[PATH_MAX];
	int set_at[sizeof(keys) / sizeof(keys[0])] = { 0 };
	char cwd[PATH_MAX];
	size_t i;
	int n;
	const char *slash;
	int lineno = 0, ret = -1;

	config_defaults(cfg);
	/* The file's directory, absolute: relative paths in the file are taken from there. */
	slash = strrchr(path, '/');
	if (*path == '/')
		n = snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 : (int)(slash - path), path);
	else if (!getcwd(cwd, sizeof(cwd)))
		goto toolong;
	else if (slash)
		n = snprintf(dir, sizeof(dir), "%s/%.*s", cwd, (int)(slash - path), path);
	else
		n = snprintf(dir, sizeof(dir), "%s", cwd);
	if (n < 0 || (size_t)n >= sizeof(dir))
		goto toolong;
	tidy_path(dir);

	f = fopen(path, "re");
	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	while (fgets(line, sizeof(line), f)) {
		char *key, *val, *eq, *hash;
		const char *why = NULL;

		lineno++;
		if (!strchr(line, '\n') && !feof(f)) {
			snprintf(err, errlen, "%s:%d: line too long", path, lineno);
			goto out;
		}
		hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		key = trim(line);
		if (!*key)
			continue;
		eq = strchr(key, '=');
		if (!eq) {
			snprintf(err, errlen, "%s:%d: expected \"key = value\"", path, lineno);
			goto out;
		}
		*eq = '\0';
		key = trim(key);
		val = trim(eq + 1);
		for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			if (!strcmp(keys[i].name, key))
				break;
		if (i == sizeof(keys) / sizeof(keys[0])) {
			snprintf(err, errlen, "%s:%d: unknown key \"%.64s\"", path, lineno, key);
			goto out;
		}
		if (!*val)
			why = "empty value";
		else
			why = set_value(cfg, &keys[i], val, dir);
		if (why) {
			snprintf(err, errlen, "%s:%d: %s: %s", path, lineno, key, why);
			goto out;
		}
		set_at[i] = lineno;
	}
	if (ferror(f)) {
		snprintf(err, errlen, "%s: read error", path);
		goto out;
	}
	/* Files named in the config must be there (checked once the last setting is known). */
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (keys[i].kind == K_FILE && set_at[i] &&
		    access((char *)cfg + keys[i].off, R_OK)) {
			snprintf(err, errlen, "%s:%d: %s: cannot read %s", path, set_at[i], keys[i].name,
				 (char *)cfg + keys[i].off);
			goto out;
		}
	}
	if (check_together(cfg, path, set_at, err, errlen))
		goto out;
	if (cfg->max_runs == 0) {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);
		cfg->max_runs = cpus > 0 ? (int)(cpus * 2) : 2;
	}
	ret = 0;
	goto out;
toolong:
	snprintf(err, errlen, "%s: path too long", path);
out:
	if (f)
		fclose(f);
	return ret;
}
