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
#include <time.h>
#include <unistd.h>

#include "lockfile.h"
#include "spawn.h"

/* An entry of the line found without its lock is taken as its waiter's only when it is younger
 * than this (the waiter creates it, then locks it); older, its waiter is dead and it is removed. */
#define LINE_GRACE_NS (200LL * 1000 * 1000)

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

static long long mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* One waiting process's place in the line of its key. */
struct line {
	char dir[PATH_MAX]; /* <dir>/line */
	const char *key;
	char mine[NAME_MAX + 1]; /* "<key>.<ticket>.<pid>"; "" while not in the line */
	int fd;                  /* mine, locked for as long as it waits */
	int watch;               /* inotify on the slots and the line; -1: none (then polled) */
};

/* Whether the entry name (of the line's key) is a live waiter's: its file locked, or too young
 * to be locked yet (*young set). A dead one is removed. */
static int waiting(DIR *d, const char *name, size_t klen, int *young)
{
	long long ticket = strtoll(name + klen + 1, NULL, 10);
	int fd = openat(dirfd(d), name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC), live = 0;

	if (fd < 0)
		return 0; /* gone meanwhile */
	if (flock(fd, LOCK_SH | LOCK_NB))
		live = errno == EWOULDBLOCK || errno == EINTR;
	else if (mono_ns() - ticket < LINE_GRACE_NS)
		live = *young = 1;
	else
		unlinkat(dirfd(d), name, 0);
	close(fd);
	return live;
}

/* 0 when no live waiter of the key came before line->mine (before anyone while not in the
 * line), 1 when one did (*young set when that one could be dead and must be looked at again),
 * -1 when the line cannot be read (err says why). */
static int someone_ahead(struct line *line, int *young, char *err, size_t errlen)
{
	size_t klen = strlen(line->key);
	struct dirent *e;
	int ahead = 0;
	DIR *d;

	*young = 0;
	d = opendir(line->dir);
	if (!d) {
		snprintf(err, errlen, "cannot read %s: %s", line->dir, strerror(errno));
		return -1;
	}
	while (!ahead && (e = readdir(d)))
		if (!strncmp(e->d_name, line->key, klen) && e->d_name[klen] == '.' &&
		    (!line->mine[0] || strcmp(e->d_name, line->mine) < 0))
			ahead = waiting(d, e->d_name, klen, young);
	closedir(d);
	return ahead;
}

/* Joins the line: the watch first, so that no freed slot and no waiter leaving goes unseen,
 * then an entry locked for as long as this process waits. */
static int line_join(struct line *line, const char *dir, char *err, size_t errlen)
{
	char path[PATH_MAX];

	line->watch = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (line->watch >= 0 && (inotify_add_watch(line->watch, dir, IN_CLOSE_WRITE) < 0 ||
				 inotify_add_watch(line->watch, line->dir, IN_CLOSE_WRITE | IN_DELETE) < 0)) {
		close(line->watch);
		line->watch = -1;
	}
	snprintf(line->mine, sizeof(line->mine), "%s.%020lld.%ld", line->key, mono_ns(),
		 (long)getpid());
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", line->dir, line->mine) >= sizeof(path)) {
		snprintf(err, errlen, "slot path too long");
		goto fail;
	}
	line->fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, LOCKFILE_MODE);
	if (line->fd < 0) {
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		goto fail;
	}
	while (flock(line->fd, LOCK_EX) && errno == EINTR)
		;
	return 0;
fail:
	line->mine[0] = '\0';
	return -1;
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

/* Waits up to ms for a slot to be freed, a waiter to leave the line or the client to leave
 * (SLOT_POLL_MS at most, soon or when the line cannot be watched): 1 when the
 * client has left. */
static int line_wait(struct line *line, int gone_fd, int ms, int soon)
{
	struct pollfd pfd[2] = { { .fd = gone_fd, .events = POLLIN },
				 { .fd = line->watch, .events = POLLIN } };
	char events[4096] __attribute__((aligned(__alignof__(struct inotify_event))));

	if (line->watch < 0 || soon)
		ms = ms < SLOT_POLL_MS ? ms : SLOT_POLL_MS;
	if (poll(pfd, 2, ms) > 0 && pfd[0].revents)
		return 1;
	while (line->watch >= 0 && read(line->watch, events, sizeof(events)) > 0)
		;
	return 0;
}

/* Takes a free one of the n open slot files: 0 (*fd set), 1 when all are taken, -1 on error. */
static int take_free(int *fds, int n, const char *key, int *fd, char *err, size_t errlen)
{
	int i;

	for (i = 0; i < n; i++) {
		if (!lockfile_try(fds[i], key, err, errlen)) {
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
static int turn(struct line *line, int *fds, int n, int *fd, int *young, char *err, size_t errlen)
{
	int ahead = someone_ahead(line, young, err, errlen);

	return ahead ? ahead : take_free(fds, n, line->key, fd, err, errlen);
}

enum slot_result slot_take(const char *dir, const char *key, int n, int64_t deadline_ms,
			   int gone_fd, int *fd, char *err, size_t errlen)
{
	struct line line = { .key = key, .fd = -1, .watch = -1 };
	char path[PATH_MAX];
	int *fds = NULL, i, opened = 0, young = 0, left, r;
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
	/* Nobody waiting: a free slot is taken at once. Else this process joins the line and looks
	 * again (a slot freed before its watch began is seen then), and again at each wake. */
	r = turn(&line, fds, n, fd, &young, err, errlen);
	if (r == 1)
		r = line_join(&line, dir, err, errlen) ? -1 : turn(&line, fds, n, fd, &young, err, errlen);
	while (r == 1 && (left = (int)(deadline_ms - mono_ms())) > 0) {
		if (line_wait(&line, gone_fd, left, young)) {
			ret = SLOT_GONE;
			goto out;
		}
		r = turn(&line, fds, n, fd, &young, err, errlen);
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
	char path[PATH_MAX];
	struct dirent *e;
	const char *dot;
	int young;
	DIR *d;

	if ((size_t)snprintf(path, sizeof(path), "%s/line", dir) >= sizeof(path) || !(d = opendir(path)))
		return;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.' && (dot = strchr(e->d_name, '.')))
			waiting(d, e->d_name, (size_t)(dot - e->d_name), &young);
	closedir(d);
}

void slot_release(int fd)
{
	lockfile_unlock(fd);
}
