/* history.c - the history backends: the file, or Redis with entries waiting in a file while it
 * is away. */
#include "history.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "history_redis.h"
#include "history_store.h"
#include "lockfile.h"
#include "log.h"

#define REDIS(cfg) (!strcmp((cfg)->history_backend, "redis"))

/* Entries waiting for Redis: one line each, "<score> <entry's JSON>", oldest first. */
struct waiting {
	char *buf;
	const char *texts[HISTORY_WAITING_MAX + 1];
	long long scores[HISTORY_WAITING_MAX + 1];
	size_t n;
};

static int waiting_path(const struct config *cfg, char *path, size_t size, const char *suffix)
{
	return (size_t)snprintf(path, size, "%s/history-waiting%s", cfg->state_dir, suffix) >= size;
}

/* The whole file (NUL-terminated) into *buf; "" when there is none. */
static int read_all(const char *path, char **buf, size_t *len, char *err, size_t errlen)
{
	struct stat st;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);

	*buf = NULL;
	*len = 0;
	if (fd < 0 && errno == ENOENT)
		return (*buf = calloc(1, 1)) ? 0 : -1;
	if (fd < 0 || fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size > HISTORY_MAX_BYTES ||
	    !(*buf = malloc((size_t)st.st_size + 1))) {
		snprintf(err, errlen, "cannot read %s", path);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	while (*len < (size_t)st.st_size) {
		n = read(fd, *buf + *len, (size_t)st.st_size - *len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) { /* an error, or shorter than it was: not the whole file */
			snprintf(err, errlen, "cannot read %s", path);
			free(*buf);
			*buf = NULL;
			close(fd);
			return -1;
		}
		*len += (size_t)n;
	}
	(*buf)[*len] = '\0';
	close(fd);
	return 0;
}

/* Whether text is one JSON object (what is sent to Redis is joined into /history's array). */
static int json_object(const char *text)
{
	cJSON *o = cJSON_ParseWithOpts(text, NULL, 1);
	int ok = cJSON_IsObject(o);

	cJSON_Delete(o);
	return ok;
}

/* Reads the waiting entries (a line that is not one is dropped, and logged). */
static int waiting_read(const struct config *cfg, struct waiting *w, char *err, size_t errlen)
{
	char path[PATH_MAX], *line, *next, *end;
	size_t len;

	memset(w, 0, sizeof(*w));
	if (waiting_path(cfg, path, sizeof(path), "") ||
	    read_all(path, &w->buf, &len, err, errlen))
		return -1;
	for (line = w->buf; *line; line = next) {
		next = strchr(line, '\n');
		next = next ? (*next = '\0', next + 1) : line + strlen(line);
		w->scores[w->n] = strtoll(line, &end, 10);
		if (end == line || *end != ' ' || !json_object(end + 1)) {
			log_msg("history: dropped a line of %s that is not an entry", path);
			continue;
		}
		w->texts[w->n] = end + 1;
		if (w->n < HISTORY_WAITING_MAX)
			w->n++;
		else { /* the newest are kept: shift the oldest out */
			memmove(w->texts, w->texts + 1, HISTORY_WAITING_MAX * sizeof(w->texts[0]));
			memmove(w->scores, w->scores + 1, HISTORY_WAITING_MAX * sizeof(w->scores[0]));
		}
	}
	return 0;
}

/* Rewrites the file with the newest cfg->history_size entries of w (none: empty). */
static int waiting_write(const struct config *cfg, const struct waiting *w, char *err, size_t errlen)
{
	char path[PATH_MAX], *text = NULL;
	size_t i, from = w->n > (size_t)cfg->history_size ? w->n - (size_t)cfg->history_size : 0,
		  total = 1, len = 0;
	int ret = -1;

	for (i = from; i < w->n; i++)
		total += strlen(w->texts[i]) + 24;
	if (waiting_path(cfg, path, sizeof(path), "") || !(text = malloc(total))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (i = from; i < w->n; i++)
		len += (size_t)snprintf(text + len, total - len, "%lld %s\n", w->scores[i], w->texts[i]);
	ret = lockfile_replace(path, text, len, 1, err, errlen);
	free(text);
	return ret;
}

/* Sends w's entries to Redis and empties the file: 0; or -1 (err filled), the file untouched. */
static int send_waiting(const struct config *cfg, struct waiting *w, size_t had, char *err,
			size_t errlen)
{
	if (!w->n || history_redis_add(cfg, w->texts, w->scores, w->n, err, errlen))
		return w->n ? -1 : 0;
	if (had) {
		log_msg("history: %zu entries that waited for redis sent", had);
		w->n = 0;
		if (waiting_write(cfg, w, err, errlen))
			log_msg("history: the entries sent still wait: %s", err); /* sent again: once */
	}
	return 0;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int record_shared(const struct config *cfg, const char *text, char *err, size_t errlen)
{
	char lock[PATH_MAX], why[256];
	struct waiting w;
	size_t had;
	int fd, ret = -1;

	if (waiting_path(cfg, lock, sizeof(lock), ".lock")) {
		snprintf(err, errlen, "state_dir too long");
		return -1;
	}
	fd = lockfile_lock(lock, cfg->history_lock_ms, err, errlen);
	if (fd < 0)
		return -1;
	if (waiting_read(cfg, &w, err, errlen))
		goto out;
	had = w.n;
	if (w.n == HISTORY_WAITING_MAX) {
		memmove(w.texts, w.texts + 1, (HISTORY_WAITING_MAX - 1) * sizeof(w.texts[0]));
		memmove(w.scores, w.scores + 1, (HISTORY_WAITING_MAX - 1) * sizeof(w.scores[0]));
		w.n--;
	}
	w.texts[w.n] = text;
	w.scores[w.n++] = now_ms();
	if (!send_waiting(cfg, &w, had, why, sizeof(why))) {
		ret = 0;
		goto out;
	}
	if (!had)
		log_msg("history: %s; entries wait in %s/history-waiting", why, cfg->state_dir);
	ret = waiting_write(cfg, &w, err, errlen);
out:
	free(w.buf);
	lockfile_unlock(fd);
	return ret;
}

int history_record(const struct config *cfg, cJSON *entry, char *err, size_t errlen)
{
	char *text;
	int ret;

	if (!REDIS(cfg))
		return history_append(cfg->history_path, cfg->history_size, cfg->history_lock_ms,
				      entry, err, errlen);
	text = cJSON_PrintUnformatted(entry);
	/* This host's own copy: what /history answers while Redis is away. */
	if (history_append(cfg->history_path, cfg->history_size, cfg->history_lock_ms, entry, err,
			   errlen))
		log_msg("history: this host's copy not updated: %s", err);
	if (!text) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	ret = record_shared(cfg, text, err, errlen);
	cJSON_free(text);
	return ret;
}

void history_flush(const struct config *cfg)
{
	char lock[PATH_MAX], err[256];
	struct waiting w;
	int fd;

	if (!REDIS(cfg) || history_waiting(cfg) <= 0 || waiting_path(cfg, lock, sizeof(lock), ".lock"))
		return;
	fd = lockfile_lock(lock, 0, err, sizeof(err)); /* busy: a run is sending them */
	if (fd < 0)
		return;
	if (!waiting_read(cfg, &w, err, sizeof(err)))
		send_waiting(cfg, &w, w.n, err, sizeof(err));
	free(w.buf);
	lockfile_unlock(fd);
}

long history_waiting(const struct config *cfg)
{
	char path[PATH_MAX], err[256], *buf, *p;
	size_t len;
	long n = 0;

	if (!REDIS(cfg))
		return 0;
	if (waiting_path(cfg, path, sizeof(path), "") || read_all(path, &buf, &len, err, sizeof(err)))
		return -1;
	for (p = buf; (p = strchr(p, '\n')); p++)
		n++;
	free(buf);
	return n;
}

int history_degraded(const struct config *cfg)
{
	char err[256];

	return REDIS(cfg) && history_redis_ping(cfg, err, sizeof(err));
}

/* The text of the history file this process read last, kept with the file open (so that its
 * inode cannot be reused by a newer file): the file is only ever replaced whole (renamed over),
 * so while the path still names the same inode, with the same size and modification time, its
 * text is the same, and /history answers it without a read or a parse. */
static struct {
	int fd;
	struct stat st;
	char *text;
	size_t len;
} last = { .fd = -1 };

static int same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

static void forget_last(void)
{
	if (last.fd >= 0)
		close(last.fd);
	cJSON_free(last.text);
	last.fd = -1;
	last.text = NULL;
}

/* A copy of text (len bytes), with a final newline. */
static char *line_new(const char *text, size_t len, size_t *out_len)
{
	char *out = malloc(len + 2);

	if (out) {
		memcpy(out, text, len);
		out[len] = '\n';
		out[len + 1] = '\0';
		*out_len = len + 1;
	}
	return out;
}

/* This host's file, as a JSON array text. */
static char *file_newest_new(const struct config *cfg, size_t *len, int *unreadable, char *err,
			     size_t errlen)
{
	struct stat now, st;
	cJSON *arr;
	char *text = NULL, *out;
	int fd = -1;

	if (last.text && !lstat(cfg->history_path, &now) && same_file(&now, &last.st))
		return line_new(last.text, last.len, len);
	arr = history_read_kept_new(cfg->history_path, &fd, &st, unreadable, err, errlen);
	if (arr && !(text = cJSON_PrintUnformatted(arr)))
		snprintf(err, errlen, "out of memory");
	cJSON_Delete(arr);
	out = text ? line_new(text, strlen(text), len) : NULL;
	if (text && !out)
		snprintf(err, errlen, "out of memory");
	forget_last();
	if (out && fd >= 0) { /* kept for the next request */
		last.fd = fd;
		last.st = st;
		last.text = text;
		last.len = strlen(text);
	} else {
		if (fd >= 0)
			close(fd);
		cJSON_free(text);
	}
	return out;
}

char *history_newest_new(const struct config *cfg, size_t *len, int *degraded, int *unreadable,
			 char *err, size_t errlen)
{
	char *text;

	*degraded = *unreadable = 0;
	if (REDIS(cfg)) {
		text = history_redis_newest_new(cfg, len, err, errlen);
		if (text)
			return text;
		log_msg("history: %s; answering this host's own copy", err);
		*degraded = 1;
	}
	return file_newest_new(cfg, len, unreadable, err, errlen);
}
