/* conffile.c - the line reader shared by the config files: comments, sections, key = value. */
#include "conffile.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

void conffile_tidy_path(char *path)
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

int conffile_path(char *dst, size_t size, const char *dir, const char *value)
{
	int n = *value == '/' ? snprintf(dst, size, "%s", value)
			      : snprintf(dst, size, "%s/%s", dir, value);

	if (n < 0 || (size_t)n >= size)
		return -1;
	conffile_tidy_path(dst);
	return 0;
}

int conffile_dir_of(const char *path, char *dir, size_t len)
{
	char cwd[PATH_MAX];
	const char *slash = strrchr(path, '/');
	int n;

	if (*path == '/')
		n = snprintf(dir, len, "%.*s", slash == path ? 1 : (int)(slash - path), path);
	else if (!getcwd(cwd, sizeof(cwd)))
		return -1;
	else if (slash)
		n = snprintf(dir, len, "%s/%.*s", cwd, (int)(slash - path), path);
	else
		n = snprintf(dir, len, "%s", cwd);
	if (n < 0 || (size_t)n >= len)
		return -1;
	conffile_tidy_path(dir);
	return 0;
}

int conffile_image_ok(const char *s)
{
	if (!*s || *s == '-')
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("._:/@-", *s))
			return 0;
	return 1;
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

int conffile_read(const char *path, conffile_fn on, void *ctx, char *err, size_t errlen)
{
	char line[4096], section[64] = "";
	FILE *f = fopen(path, "re");
	const char *why;
	int lineno = 0, ret = -1;

	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		char *key, *val, *eq, *hash;
		size_t n;

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
		n = strlen(key);
		if (*key == '[') {
			if (key[n - 1] != ']' || n - 2 >= sizeof(section)) {
				snprintf(err, errlen, "%s:%d: expected \"[name]\"", path, lineno);
				goto out;
			}
			key[n - 1] = '\0';
			snprintf(section, sizeof(section), "%s", trim(key + 1));
			why = on(ctx, section, NULL, NULL, lineno);
		} else if (!(eq = strchr(key, '='))) {
			why = "expected \"key = value\"";
		} else {
			*eq = '\0';
			val = trim(eq + 1);
			key = trim(key);
			why = on(ctx, section, key, val, lineno);
		}
		if (why) {
			snprintf(err, errlen, "%s:%d: %s", path, lineno, why);
			goto out;
		}
	}
	if (ferror(f)) {
		snprintf(err, errlen, "%s: read error", path);
		goto out;
	}
	ret = 0;
out:
	fclose(f);
	return ret;
}
