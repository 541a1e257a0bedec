/* slots.c - counted slots as flocks on small files, crash-safe by construction, handed to those
 * who wait in the order they came. */
#include "slots.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lockfile.h"
#include "log.h"
#include "spawn.h"

/* A hidden entry (one being made) left unlocked this long was left by a waiter that died. */
#define LINE_STALE_S 60

void client_key(const char *addr, char *key, size_t keylen)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (; *addr; addr++)
		h = (h ^ (unsigned char)*addr) * 16777619u;
	snprintf(key, keylen, "client%u", (unsigned)(h % 1024));
}

static int slot_path(char *path, size_t len, const char *dir, const char *key, int i)
{
	return (size_t)snprintf(path, len, "%s/%s-%d", dir, key, i) < len ? 0 : -1;
}

/* One waiting process's place in the line of its key. */
struct line {
	char dir[PATH_MAX]; /* <dir>/line */
	const char *key;
	char mine[NAME_MAX + 1]; /* "<key>.<ticket>.<pid>"; "" while not in the line */
	int fd;                  /* mine, locked for as long as it waits */
	int watch;               /* inotify on the slots and the line; -1: none (then polled) */
};

/* Whether the entry name of the line d is held by a live waiter: 1 when it is locked, 0 when it
 * is not (its waiter died: it is removed, a hidden one only once stale) or is gone, -1 when it
 * cannot be looked at (err says why). */
static int waiting(DIR *d, const char *name, char *err, size_t errlen)
{
	int fd = openat(dirfd(d), name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC), live;
	int saved = errno;
	struct stat st;

	if (fd < 0 && saved != ENOENT)
		snprintf(err, errlen, "cannot open %s in the line: %s", name, strerror(saved));
	if (fd < 0)
		return saved == ENOENT ? 0 : -1;
	live = flock(fd, LOCK_SH | LOCK_NB) != 0; /* held; or not known: taken as held */
	if (!live && (name[0] != '.' ||
		      (!fstat(fd, &st) && time(NULL) - st.st_mtime > LINE_STALE_S)))
		unlinkat(dirfd(d), name, 0);
	close(fd);
	return live;
}

/* 0 when no live waiter of the key came before line->mine (before anyone while not in the
 * line), 1 when one did, -1 when the line cannot be read (err says why). */
static int someone_ahead(struct line *line, char *err, size_t errlen)
{
	size_t klen = strlen(line->key);
	struct dirent *e;
	int ahead = 0;
	DIR *d;

	d = opendir(line->dir);
	if (!d) {
		snprintf(err, errlen, "cannot read %s: %s", line->dir, strerror(errno));
		return -1;
	}
	while (!ahead && (e = readdir(d)))
		if (!strncmp(e->d_name, line->key, klen) && e->d_name[klen] == '.' &&
		    (!line->mine[0] || strcmp(e->d_name, line->mine) < 0))
			ahead = waiting(d, e->d_name, err, errlen);
	closedir(d);
	return ahead;
}

/* Joins the line: the watch first, so that no freed slot and no waiter leaving goes unseen,
 * then an entry made hidden, locked and only then renamed into the line, so that an entry
 * without its lock is always a dead waiter's. On failure line->fd is -1 and mine "". */
static int line_join(struct line *line, const char *dir, char *err, size_t errlen)
{
	char hidden[PATH_MAX], path[PATH_MAX];
	struct timespec now;
	int ret = -1, locked;

	line->watch = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (line->watch < 0 || inotify_add_watch(line->watch, dir, IN_CLOSE_WRITE) < 0 ||
	    inotify_add_watch(line->watch, line->dir, IN_CLOSE_WRITE | IN_DELETE) < 0) {
		log_msg("slots: cannot watch %s (%s): looking every %d ms", dir, strerror(errno),
			SLOT_POLL_MS);
		if (line->watch >= 0)
			close(line->watch);
		line->watch = -1;
	}
	clock_gettime(CLOCK_MONOTONIC, &now);
	snprintf(line->mine, sizeof(line->mine), "%s.%012lld%09ld.%ld", line->key,
		 (long long)now.tv_sec, now.tv_nsec, (long)getpid());
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", line->dir, line->mine) >= sizeof(path) ||
	    (size_t)snprintf(hidden, sizeof(hidden), "%s/.%s", line->dir, line->mine) >= sizeof(hidden)) {
		snprintf(err, errlen, "slot path too long");
		goto out;
	}
	line->fd = open(hidden, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, LOCKFILE_MODE);
	if (line->fd < 0) {
		snprintf(err, errlen, "cannot open %s: %s", hidden, strerror(errno));
		goto out;
	}
	while ((locked = flock(line->fd, LOCK_EX)) && errno == EINTR)
		;
	if (locked || rename(hidden, path)) {
		snprintf(err, errlen, "cannot enter %s: %s", path, strerror(errno));
		unlink(hidden);
		goto out;
	}
	ret = 0;
out:
	if (ret && line->fd >= 0)
		close(line->fd);
	if (ret) {
		line->fd = -1;
		line->mine[0] = '\0';
	}
	return ret;
}

static void line_leave(struct line *line)
{
	char path[PATH_MAX];

	if (line->fd >= 0 && (size_t)snprintf(path, sizeof(path), "%s/%s", line->dir, line->mine) <
				     sizeof(path))
		unlink(path);
	if (line->fd >= 0)
		close(line->fd);
	if (line->watch >= 0)
		close(line->watch);
}

/* Waits up to ms for a slot file to be closed, an entry to enter or leave the line or the
 * client to leave: 1 when the client has left. It looks again at least every SLOT_LOOK_MS
 * (every SLOT_POLL_MS when the line cannot be watched): a killed holder's file is closed
 * before its lock goes, so the close it wakes for can come too early. */
static int line_wait(struct line *line, int gone_fd, int ms)
{
	struct pollfd pfd[2] = { { .fd = gone_fd, .events = POLLIN },
				 { .fd = line->watch, .events = POLLIN } };
	char events[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	int most = line->watch < 0 ? SLOT_POLL_MS : SLOT_LOOK_MS;

	if (poll(pfd, 2, ms < most ? ms : most) > 0 && pfd[0].revents)
		return 1;
	while (line->watch >= 0 && read(line->watch, events, sizeof(events)) > 0)
		;
	return 0;
}

/* Takes a free one of the n open slot files of key in dir: 0 (*fd set), 1 when all are taken,
 * -1 on error (err says why). */
static int take_free(int *fds, int n, const char *dir, const char *key, int *fd, char *err,
		     size_t errlen)
{
	char path[PATH_MAX];
	int i;

	for (i = 0; i < n; i++) {
		slot_path(path, sizeof(path), dir, key, i);
		if (!lockfile_try(fds[i], path, err, errlen)) {
			*fd = fds[i];
			fds[i] = -1;
			return 0;
		}
		if (errno != EWOULDBLOCK)
			return -1;
	}
	return 1;
}

/* This process's turn: a free slot taken when no one waits before it. As take_free(). */
static int turn(struct line *line, int *fds, int n, const char *dir, int *fd, char *err,
		size_t errlen)
{
	int ahead = someone_ahead(line, err, errlen);

	return ahead ? ahead : take_free(fds, n, dir, line->key, fd, err, errlen);
}

enum slot_result slot_take(const char *dir, const char *key, int n, int64_t deadline_ms,
			   int gone_fd, int *fd, char *err, size_t errlen)
{
	struct line line = { .key = key, .fd = -1, .watch = -1 };
	char path[PATH_MAX];
	int *fds = NULL, i, opened = 0, left, r;
	enum slot_result ret = SLOT_ERROR;

	*fd = -1;
	if (n <= 0)
		return SLOT_TAKEN;
	fds = malloc(sizeof(*fds) * (size_t)n);
	if (!fds) {
		snprintf(err, errlen, "out of memory");
		return SLOT_ERROR;
	}
	if ((size_t)snprintf(line.dir, sizeof(line.dir), "%s/line", dir) >= sizeof(line.dir)) {
		snprintf(err, errlen, "slot path too long");
		goto out;
	}
	for (opened = 0; opened < n; opened++) {
		if (slot_path(path, sizeof(path), dir, key, opened)) {
			snprintf(err, errlen, "slot path too long");
			goto out;
		}
		fds[opened] = lockfile_open(path, err, errlen);
		if (fds[opened] < 0)
			goto out;
	}
	/* Nobody waiting: a free slot is taken at once. Else, unless it may not wait, this process
	 * joins the line and looks again (a slot freed before its watch began is seen then), and
	 * again at each wake. */
	r = turn(&line, fds, n, dir, fd, err, errlen);
	if (r == 1 && deadline_ms > mono_ms())
		r = line_join(&line, dir, err, errlen) ? -1 : turn(&line, fds, n, dir, fd, err, errlen);
	while (r == 1 && (left = (int)(deadline_ms - mono_ms())) > 0) {
		if (line_wait(&line, gone_fd, left)) {
			ret = SLOT_GONE;
			goto out;
		}
		r = turn(&line, fds, n, dir, fd, err, errlen);
	}
	ret = r == 0 ? SLOT_TAKEN : r == 1 ? SLOT_BUSY : SLOT_ERROR;
out:
	line_leave(&line);
	for (i = 0; i < opened; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(fds);
	return ret;
}

void slot_sweep_line(const char *dir)
{
	char path[PATH_MAX], err[PATH_MAX + 64];
	struct dirent *e;
	DIR *d;

	if ((size_t)snprintf(path, sizeof(path), "%s/line", dir) >= sizeof(path) || !(d = opendir(path)))
		return;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			waiting(d, e->d_name, err, sizeof(err));
	closedir(d);
}

void slot_release(int fd)
{
	if (fd >= 0) /* unlocked before the close, whose event wakes the next waiter */
		flock(fd, LOCK_UN);
	lockfile_unlock(fd);
}
