/* history_store.c - reads and atomically rewrites history.json under an flock. */
#include "history_store.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lockfile.h"
#include "log.h"


cJSON *history_read_new(const char *path, int *corrupt, char *err, size_t errlen)
{
	return history_read_kept_new(path, NULL, NULL, corrupt, err, errlen);
}

cJSON *history_read_kept_new(const char *path, int *kept_fd, struct stat *kept_st, int *corrupt,
			     char *err, size_t errlen)
{
	struct stat st;
	char *buf = NULL;
	cJSON *arr = NULL;
	size_t got = 0;
	int fd, bad = 0;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return cJSON_CreateArray();
	if (fd < 0) {
		bad = errno == ELOOP;
		snprintf(err, errlen, "cannot open history: %s", strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		bad = 1;
		snprintf(err, errlen, "history is not a regular file");
		goto out;
	}
	if (st.st_size > HISTORY_MAX_BYTES) {
		bad = 1;
		snprintf(err, errlen, "history is too large");
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(err, errlen, "cannot read history: %s", strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	arr = cJSON_ParseWithLengthOpts(buf, got + 1, NULL, 1);
	if (!cJSON_IsArray(arr)) {
		bad = 1;
		snprintf(err, errlen, "history is not a JSON array");
		cJSON_Delete(arr);
		arr = NULL;
	}
out:
	if (corrupt)
		*corrupt = bad;
	free(buf);
	if (arr && fd >= 0 && kept_fd) {
		*kept_fd = fd;
		*kept_st = st;
	} else if (fd >= 0) {
		close(fd);
	}
	return arr;
}

/* The first keep items of arr, in a new array; the rest is deleted with arr. Linear in size. */
static cJSON *keep_newest(cJSON *arr, int keep)
{
	cJSON *kept = cJSON_CreateArray(), *item;
	int i;

	for (i = 0; kept && i < keep && (item = cJSON_DetachItemFromArray(arr, 0)); i++)
		cJSON_AddItemToArray(kept, item);
	cJSON_Delete(arr);
	return kept;
}

/* Opens the directory of path (its name into dir) and writes the prefix of the files of path's
 * own there, "<before><file name><after>"; NULL when it cannot. */
static DIR *open_dir_of(const char *path, char *dir, size_t dirlen, const char *before,
			const char *after, char *prefix, size_t prefixlen)
{
	const char *slash = strrchr(path, '/');

	if (!slash || (size_t)(slash - path) >= dirlen || strlen(slash + 1) > NAME_MAX)
		return NULL;
	snprintf(dir, dirlen, "%.*s", slash == path ? 1 : (int)(slash - path), path);
	snprintf(prefix, prefixlen, "%s%s%s", before, slash + 1, after);
	return opendir(dir);
}

/* Temp files of a writer killed before its rename. Called with the lock held, so no writer is
 * busy with one. */
static void remove_stale_temps(const char *path)
{
	char dir[PATH_MAX], prefix[NAME_MAX + 8], stale[PATH_MAX];
	struct dirent *e;
	DIR *d = open_dir_of(path, dir, sizeof(dir), ".", ".tmp", prefix, sizeof(prefix));

	if (!d)
		return;
	while ((e = readdir(d)))
		if (!strncmp(e->d_name, prefix, strlen(prefix)) &&
		    (size_t)snprintf(stale, sizeof(stale), "%s/%s", dir, e->d_name) < sizeof(stale) &&
		    !unlink(stale))
			log_msg("history: removed %s, left by a writer that died", stale);
	closedir(d);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Removes the files set aside but the HISTORY_ASIDE_KEEP newest (their names sort by time), so
 * that a history that keeps going bad does not fill the disk. */
static void prune_aside(const char *path)
{
	char dir[PATH_MAX], prefix[NAME_MAX + 16], old[PATH_MAX], *names[256];
	struct dirent *e;
	size_t n = 0, i;
	DIR *d = open_dir_of(path, dir, sizeof(dir), "", ".corrupt-", prefix, sizeof(prefix));

	if (!d)
		return;
	while ((e = readdir(d)) && n < sizeof(names) / sizeof(names[0]))
		if (!strncmp(e->d_name, prefix, strlen(prefix)) && (names[n] = strdup(e->d_name)))
			n++;
	closedir(d);
	qsort(names, n, sizeof(names[0]), by_name);
	for (i = 0; i < n; i++) {
		if (i + HISTORY_ASIDE_KEEP < n &&
		    (size_t)snprintf(old, sizeof(old), "%s/%s", dir, names[i]) < sizeof(old) && !unlink(old))
			log_msg("history: removed %s (only the %d newest set aside are kept)", old,
				HISTORY_ASIDE_KEEP);
		free(names[i]);
	}
}

static void set_aside(const char *path, const char *why)
{
	static unsigned seq;
	char aside[PATH_MAX];
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	if ((size_t)snprintf(aside, sizeof(aside), "%s.corrupt-%04d%02d%02d%02d%02d%02d-%ld-%u",
			     path, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
			     tm.tm_min, tm.tm_sec, (long)getpid(), seq++) >= sizeof(aside) ||
	    rename(path, aside)) {
		log_msg("history %s: %s; could not set it aside: %s", path, why, strerror(errno));
		return;
	}
	log_msg("history %s: %s; set aside as %s, starting afresh", path, why, aside);
	prune_aside(path);
}

int history_append(const char *path, int keep, int lock_ms, cJSON *entry, char *err,
		   size_t errlen)
{
	char why[256], lock_path[PATH_MAX];
	char *text = NULL;
	cJSON *arr = NULL;
	int lock_fd, corrupt = 0, ret = -1;

	if ((size_t)snprintf(lock_path, sizeof(lock_path), "%s.lock", path) >= sizeof(lock_path)) {
		snprintf(err, errlen, "history path too long");
		cJSON_Delete(entry);
		return -1;
	}
	lock_fd = lockfile_lock(lock_path, lock_ms, err, errlen);
	if (lock_fd < 0) {
		cJSON_Delete(entry);
		return -1;
	}
	remove_stale_temps(path);
	arr = history_read_new(path, &corrupt, why, sizeof(why));
	if (!arr && !corrupt) {
		snprintf(err, errlen, "%s", why);
		cJSON_Delete(entry);
		goto out;
	}
	if (!arr) {
		set_aside(path, why);
		arr = cJSON_CreateArray();
	}
	if (!arr || !cJSON_InsertItemInArray(arr, 0, entry)) {
		snprintf(err, errlen, "out of memory");
		cJSON_Delete(entry);
		goto out;
	}
	arr = keep_newest(arr, keep);
	text = arr ? cJSON_PrintUnformatted(arr) : NULL;
	if (!text) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	ret = lockfile_replace(path, text, strlen(text), 1, err, errlen);
out:
	cJSON_free(text);
	cJSON_Delete(arr);
	lockfile_unlock(lock_fd);
	return ret;
}
