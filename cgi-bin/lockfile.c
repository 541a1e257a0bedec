/* lockfile.c - flock on a lock file with a bounded wait; atomic replacement of a file. */
#include "lockfile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "spawn.h"

int lockfile_open(const char *path, char *err, size_t errlen)
{
	struct stat st;
	int fd, saved;

	fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC,
		  LOCKFILE_MODE);
	if (fd < 0) {
		saved = errno;
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(saved));
		errno = saved;
		return -1;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s is not a regular file", path);
		close(fd);
		errno = EINVAL;
		return -1;
	}
	return fd;
}

/* One try at the flock op (LOCK_EX or LOCK_SH) without waiting: as lockfile_try(). */
static int try_as(int fd, int op, const char *path, char *err, size_t errlen)
{
	int saved;

	while (flock(fd, op | LOCK_NB)) {
		saved = errno;
		if (saved == EINTR)
			continue;
		if (saved != EWOULDBLOCK)
			snprintf(err, errlen, "cannot lock %s: %s", path, strerror(saved));
		errno = saved;
		return -1;
	}
	return 0;
}

int lockfile_try(int fd, const char *path, char *err, size_t errlen)
{
	return try_as(fd, LOCK_EX, path, err, errlen);
}

static int lock_as(const char *path, int op, int wait_ms, char *err, size_t errlen)
{
	struct timespec pause = {0, 2 * 1000 * 1000};
	int64_t deadline = mono_ms() + wait_ms;
	int fd, saved;

	fd = lockfile_open(path, err, errlen);
	if (fd < 0)
		return -1;
	while (try_as(fd, op, path, err, errlen)) {
		saved = errno;
		if (saved != EWOULDBLOCK) {
			close(fd);
			errno = saved;
			return -1;
		}
		if (mono_ms() >= deadline) {
			snprintf(err, errlen, "%s busy for %d ms", path, wait_ms);
			close(fd);
			errno = EWOULDBLOCK;
			return -1;
		}
		nanosleep(&pause, NULL);
		if (pause.tv_nsec < 20 * 1000 * 1000)
			pause.tv_nsec *= 2;
	}
	return fd;
}

int lockfile_lock(const char *path, int wait_ms, char *err, size_t errlen)
{
	return lock_as(path, LOCK_EX, wait_ms, err, errlen);
}

int lockfile_share(const char *path, int wait_ms, char *err, size_t errlen)
{
	return lock_as(path, LOCK_SH, wait_ms, err, errlen);
}

void lockfile_unlock(int fd)
{
	if (fd >= 0)
		close(fd);
}

static int write_all(int fd, const char *s, size_t n)
{
	while (n) {
		ssize_t w = write(fd, s, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

static void sync_dir(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	int dfd;

	snprintf(dir, sizeof(dir), "%.*s", slash ? (slash == path ? 1 : (int)(slash - path)) : 1,
		 slash ? path : ".");
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
}

int lockfile_replace(const char *path, const char *data, size_t len, int durable, char *err,
		     size_t errlen)
{
	char tmp[PATH_MAX];
	const char *slash = strrchr(path, '/');
	int fd, ret = -1, n;

	/* Hidden (".<name>.tmpXXXXXX"): a listing of the directory skips it. */
	n = slash ? snprintf(tmp, sizeof(tmp), "%.*s/.%s.tmpXXXXXX", (int)(slash - path), path,
			     slash + 1)
		  : snprintf(tmp, sizeof(tmp), ".%s.tmpXXXXXX", path);
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		snprintf(err, errlen, "path too long: %s", path);
		return -1;
	}
	fd = mkostemp(tmp, O_CLOEXEC); /* mode 0600 = LOCKFILE_MODE */
	if (fd < 0) {
		snprintf(err, errlen, "cannot create a temp file beside %s: %s", path,
			 strerror(errno));
		return -1;
	}
	if (write_all(fd, data, len) || (durable && fsync(fd))) {
		snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
		close(fd);
		goto out;
	}
	if (close(fd)) {
		snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (rename(tmp, path)) {
		snprintf(err, errlen, "cannot replace %s: %s", path, strerror(errno));
		goto out;
	}
	tmp[0] = '\0';
	if (durable)
		sync_dir(path);
	ret = 0;
out:
	if (tmp[0])
		unlink(tmp);
	return ret;
}
