/* languages.c - reads and checks languages.conf, the table of the languages the service runs. */
#include "languages.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conffile.h"
#include "utf8.h"

enum kind { L_NAME, L_LABEL, L_IMAGE, L_WORDS, L_FILE, L_COMMAND, L_INT, L_YESNO };

struct key {
	const char *name;
	enum kind kind;
	size_t off, size;
	long min, max;
	int required;
};

#define STR(f, k, req) { #f, k, offsetof(struct language, f), sizeof(((struct language *)0)->f), 0, 0, req }
#define INT(f, lo, hi) { #f, L_INT, offsetof(struct language, f), sizeof(int), lo, hi, 0 }

static const struct key keys[] = {
	STR(label, L_LABEL, 1),
	STR(image, L_IMAGE, 1),
	STR(packages, L_WORDS, 0),
	STR(setup, L_FILE, 0),
	{ "version", L_COMMAND, offsetof(struct language, version_cmd),
	  sizeof(((struct language *)0)->version_cmd), 0, 0, 0 },
	STR(file, L_FILE, 1),
	STR(run, L_COMMAND, 1),
	STR(compile, L_COMMAND, 0),
	INT(warm, 0, 64),
	INT(timeout_s, 1, 3600),
	INT(compile_timeout_s, 1, 600),
	INT(memory_mb, 6, 1 << 20),
	INT(pids_limit, 8, 1 << 20),
	INT(build_mb, 1, 4096),
	{ "prestart", L_YESNO, offsetof(struct language, prestart), sizeof(int), 0, 1, 0 },
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

/* The API's name of a language: [a-z0-9][a-z0-9_+.-]*, as short as the buffer, and not ending
 * in ".lock" (pool/<name>.lock is the pool's refill lock). */
static int name_ok(const char *s)
{
	size_t n = strlen(s);

	if (!*s || n >= sizeof(((struct language *)0)->name) ||
	    !(islower((unsigned char)*s) || isdigit((unsigned char)*s)) ||
	    (n >= 5 && !strcmp(s + n - 5, ".lock")))
		return 0;
	for (; *s; s++)
		if (!islower((unsigned char)*s) && !isdigit((unsigned char)*s) && !strchr("_+.-", *s))
			return 0;
	return 1;
}

static const char *check(const struct key *k, const char *v)
{
	const char *p;

	switch (k->kind) {
	case L_LABEL: /* any text but control characters */
		if (!utf8_valid(v, strlen(v)))
			return "not valid UTF-8";
		for (p = v; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				return "must not hold control characters";
		return NULL;
	case L_IMAGE:
		return conffile_image_ok(v) ? NULL
					    : "may hold only letters, digits and ._:/@- and must not start with '-'";
	case L_WORDS: /* Debian package names, separated by spaces */
		for (p = v; *p; p++)
			if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p) && !strchr(".+- ", *p))
				return "not a list of Debian package names";
		return NULL;
	case L_FILE:
		if (!isalnum((unsigned char)*v) && *v != '_')
			return "must be a file name: letters, digits and _.-, not starting with . or -";
		for (p = v; *p; p++)
			if (!isalnum((unsigned char)*p) && !strchr("_.-", *p))
				return "must be a file name: letters, digits and _.-, not starting with . or -";
		return NULL;
	case L_COMMAND: /* words for an argv: printable ASCII */
		for (p = v; *p; p++)
			if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
				return "may hold only printable ASCII characters";
		return NULL;
	default:
		return NULL;
	}
}

struct reading {
	struct languages *langs;
	struct language *cur;
	int header_line[LANGUAGES_MAX];
	unsigned set[LANGUAGES_MAX]; /* bit i: keys[i] given */
	char msg[256];
};

static const char *on_pair(void *ctx, const char *section, const char *key, const char *val,
			   int line)
{
	struct reading *r = ctx;
	const struct key *k;
	char *end;
	long long n;
	int i;

	if (!key) { /* a new entry */
		if (!name_ok(section))
			return "a language's name may hold only a-z, 0-9 and _+.- (starting with a "
			       "letter or digit), at most 31 of them";
		if (languages_find(r->langs, section, strlen(section))) {
			snprintf(r->msg, sizeof(r->msg), "language \"%s\" is already defined", section);
			return r->msg;
		}
		if (r->langs->n == LANGUAGES_MAX) {
			snprintf(r->msg, sizeof(r->msg), "more than %d languages", LANGUAGES_MAX);
			return r->msg;
		}
		r->header_line[r->langs->n] = line;
		r->cur = &r->langs->list[r->langs->n++];
		snprintf(r->cur->name, sizeof(r->cur->name), "%s", section);
		return NULL;
	}
	if (!r->cur)
		return "expected \"[name]\" before the first key";
	for (k = keys; k < keys + NKEYS && strcmp(k->name, key); k++)
		;
	if (k == keys + NKEYS) {
		snprintf(r->msg, sizeof(r->msg), "unknown key \"%.64s\"", key);
		return r->msg;
	}
	i = (int)(k - keys);
	if (!*val) {
		snprintf(r->msg, sizeof(r->msg), "%s: empty value", key);
		return r->msg;
	}
	if (k->kind == L_INT) {
		errno = 0;
		n = strtoll(val, &end, 10);
		if (errno || end == val || *end || !isdigit((unsigned char)*val))
			snprintf(r->msg, sizeof(r->msg), "%s: not a whole number", key);
		else if (n < k->min || n > k->max)
			snprintf(r->msg, sizeof(r->msg), "%s: out of range (%ld to %ld)", key, k->min, k->max);
		else
			*(int *)((char *)r->cur + k->off) = (int)n;
	} else if (k->kind == L_YESNO) {
		if (strcmp(val, "yes") && strcmp(val, "no"))
			snprintf(r->msg, sizeof(r->msg), "%s: yes or no", key);
		else
			*(int *)((char *)r->cur + k->off) = !strcmp(val, "yes");
	} else if (strlen(val) >= k->size) {
		snprintf(r->msg, sizeof(r->msg), "%s: too long (at most %zu bytes)", key, k->size - 1);
	} else if (check(k, val)) {
		snprintf(r->msg, sizeof(r->msg), "%s: %s", key, check(k, val));
	} else {
		strcpy((char *)r->cur + k->off, val);
	}
	if (r->msg[0])
		return r->msg;
	r->set[r->langs->n - 1] |= 1u << i;
	return NULL;
}

int languages_load(struct languages *langs, const char *path, char *err, size_t errlen)
{
	struct reading r;
	size_t i;
	int l;

	memset(langs, 0, sizeof(*langs));
	memset(&r, 0, sizeof(r));
	r.langs = langs;
	if (conffile_read(path, on_pair, &r, err, errlen))
		return -1;
	if (langs->n == 0) {
		snprintf(err, errlen, "%s: no languages: add an entry such as [python]", path);
		return -1;
	}
	for (l = 0; l < langs->n; l++) {
		struct language *lang = &langs->list[l];
		char *argv[32], buf[512];

		for (i = 0; i < NKEYS; i++)
			if (keys[i].required && !(r.set[l] & (1u << i))) {
				snprintf(err, errlen, "%s:%d: [%s] has no \"%s\"", path, r.header_line[l],
					 lang->name, keys[i].name);
				return -1;
			}
		if (language_argv(lang->run, buf, sizeof(buf), argv, 32) == 0 ||
		    (lang->compile[0] && language_argv(lang->compile, buf, sizeof(buf), argv, 32) == 0)) {
			snprintf(err, errlen, "%s:%d: [%s]: a command has no words, or more than 31",
				 path, r.header_line[l], lang->name);
			return -1;
		}
		if (LANGUAGE_COMPILED(lang) && lang->prestart) {
			snprintf(err, errlen, "%s:%d: [%s]: prestart is for interpreters: a compiled "
				 "language's program is built before it runs", path, r.header_line[l],
				 lang->name);
			return -1;
		}
		if (LANGUAGE_COMPILED(lang) && !lang->build_mb)
			lang->build_mb = 64;
	}
	return 0;
}

const struct language *languages_find(const struct languages *langs, const char *name, size_t n)
{
	int i;

	for (i = 0; i < langs->n; i++)
		if (strlen(langs->list[i].name) == n && !memcmp(langs->list[i].name, name, n))
			return &langs->list[i];
	return NULL;
}

int language_argv(const char *command, char *buf, size_t size, char **argv, int max)
{
	int n = 0;
	char *p, *save = NULL;

	if ((size_t)snprintf(buf, size, "%s", command) >= size)
		return 0;
	for (p = strtok_r(buf, " ", &save); p; p = strtok_r(NULL, " ", &save)) {
		if (n == max - 1)
			return 0;
		argv[n++] = p;
	}
	argv[n] = NULL;
	return n;
}
