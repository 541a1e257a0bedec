/* languages.h - the languages the service runs: one table, read from languages.conf. */
#ifndef SCE_LANGUAGES_H
#define SCE_LANGUAGES_H

#include <stddef.h>

#define LANGUAGES_MAX 16

/*
 * One entry of languages.conf ("[name]" and its keys; see conf/languages.conf). Limits not set
 * in the entry are the config's (timeout_s, memory_mb, pids_limit, compile_timeout_s) once
 * config_load() has returned.
 */
struct language {
	char name[32];          /* the API's "language" value: [a-z0-9][a-z0-9_+.-]* */
	char label[64];         /* what the page shows */
	char image[256];        /* the sandbox image */
	char packages[512];     /* Debian packages the image is built from (build-images.sh) */
	char setup[128];        /* a script in images/ run on the image's tree once built, or "" */
	char version_cmd[256];  /* prints the version when the image is built (build-images.sh) */
	char file[64];          /* the program's file name in the container's /code */
	char run[512];          /* the command that runs it, split at spaces (no shell) */
	char compile[512];      /* the command that compiles it, or "": not compiled */
	int warm;               /* idle containers kept ready */
	int timeout_s;          /* the program's run time */
	int compile_timeout_s;  /* the compile's time (compiled languages) */
	int memory_mb;          /* memory of a container (+ swap: none) */
	int pids_limit;         /* processes and threads in a container */
	int build_mb;           /* a writable tmpfs at /build of this size (compiled languages), 0 */
	int prestart;           /* its run command is started with the container and waits (yes) */
};

struct languages {
	struct language list[LANGUAGES_MAX];
	int n;
};

/*
 * languages_load() reads the table at path into langs (the order of the file). Errors: -1 with
 * "PATH:LINE: what is wrong" in err: an unknown key, a bad value, a missing required key (label,
 * image, file, run), a name given twice, more than LANGUAGES_MAX entries, or none at all.
 *
 * languages_find() returns the entry named name (n bytes), or NULL.
 */
int languages_load(struct languages *langs, const char *path, char *err, size_t errlen);
const struct language *languages_find(const struct languages *langs, const char *name, size_t n);

/* Whether a language compiles its program before running it. */
#define LANGUAGE_COMPILED(l) ((l)->compile[0] != '\0')

/*
 * language_argv() splits a command of the table (run or compile) at spaces into argv, at most
 * max - 1 words and NULL; buf (size bytes) holds the words. Returns the number of words.
 */
int language_argv(const char *command, char *buf, size_t size, char **argv, int max);

#endif
