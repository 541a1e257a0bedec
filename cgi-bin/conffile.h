/* conffile.h - reads the "key = value" files of the service (sce.conf, languages.conf). */
#ifndef SCE_CONFFILE_H
#define SCE_CONFFILE_H

#include <stddef.h>

/*
 * conffile_read() reads path line by line: "#" starts a comment, blank lines are skipped, a line
 * "[name]" opens a section, any other line is "key = value" (spaces around both trimmed). For
 * each pair it calls on(ctx, section, key, value, line), section "" before the first header (or
 * in a file without sections); a header calls on(ctx, name, NULL, NULL, line). on returns NULL,
 * or what is wrong with the line.
 *
 * dir_of() puts the absolute directory of path in dir (relative paths in a file are taken from
 * there).
 *
 * Errors: -1 with "PATH:LINE: what is wrong" (or why the file can't be read) in err.
 */
typedef const char *(*conffile_fn)(void *ctx, const char *section, const char *key,
				   const char *value, int line);
int conffile_read(const char *path, conffile_fn on, void *ctx, char *err, size_t errlen);
int conffile_dir_of(const char *path, char *dir, size_t len);

/* Removes "." and ".." segments and repeated slashes from an absolute path, in place, without
 * looking at the file system (the directories need not exist yet). */
void conffile_tidy_path(char *path);

/* Sets dst (size bytes) to value, taken relative to dir unless absolute, tidied; -1 when too
 * long. */
int conffile_path(char *dst, size_t size, const char *dir, const char *value);

/* Whether s may name an image (or a runtime) in docker's argv: letters, digits and ._:/@- only,
 * never a leading '-'. */
int conffile_image_ok(const char *s);

#endif
