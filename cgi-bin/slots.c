/* slots.c - counted slots as flocks on small files, crash-safe by construction. */
#include "slots.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lockfile.h"
#include "spawn.h"

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

/* Waits up to ms for the client to leave: 1 when it has. */
static int client_left(int gone_fd, int ms)
{
	struct pollfd pfd = {.fd = gone_fd, .events = POLLIN};

	if (gone_fd < 0) {
		struct timespec pause = {0, (long)ms * 1000 * 1000};

		nanosleep(&pause, NULL);
		return 0;
	}
	return poll(&pfd, 1, ms) > 0 && pfd.revents;
}

enum slot_result slot_take(const char *dir, const char *key, int n, int64_t deadline_ms,
			   int gone_fd, int *fd, char *err, size_t errlen)
{
	char path[PATH_MAX];
	int *fds = NULL, i, opened = 0, left;
	enum slot_result ret = SLOT_ERROR;

	*fd = -1;
	if (n <= 0)
		return SLOT_TAKEN;
	fds = malloc(sizeof(*fds) * (size_t)n);
	if (!fds) {
		snprintf(err, errlen, "out of memory");
		return SLOT_ERROR;
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
	for (;;) {
		for (i = 0; i < n; i++) {
			if (!lockfile_try(fds[i], key, err, errlen)) {
				*fd = fds[i];
				fds[i] = -1;
				ret = SLOT_TAKEN;
				goto out;
			}
			if (errno != EWOULDBLOCK)
				goto out;
		}
		left = (int)(deadline_ms - mono_ms());
		if (left <= 0) {
			ret = SLOT_BUSY;
			goto out;
		}
		if (client_left(gone_fd, left < SLOT_POLL_MS ? left : SLOT_POLL_MS)) {
			ret = SLOT_GONE;
			goto out;
		}
	}
out:
	for (i = 0; i < opened; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(fds);
	return ret;
}

void slot_release(int fd)
{
	lockfile_unlock(fd);
}
