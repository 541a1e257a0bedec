/* slots.c - counted slots as flocks on small files, crash-safe by construction. */
#include "slots.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
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

/* One pass over the n slots: 0 with *fd, 1 when all are taken, -1 on error. */
static int try_slots(const char *dir, const char *key, int n, int *fd, char *err, size_t errlen)
{
	char path[PATH_MAX];
	int i;

	for (i = 0; i < n; i++) {
		int f;

		if ((size_t)snprintf(path, sizeof(path), "%s/%s-%d", dir, key, i) >= sizeof(path)) {
			snprintf(err, errlen, "slot path too long");
			return -1;
		}
		f = lockfile_lock(path, 0, err, errlen);
		if (f >= 0) {
			*fd = f;
			return 0;
		}
		if (errno != EWOULDBLOCK)
			return -1;
	}
	return 1;
}

int slot_take(const char *dir, const char *key, int n, int wait_ms, int *fd, char *err,
	      size_t errlen)
{
	struct timespec pause = { 0, 20 * 1000 * 1000 };
	int64_t deadline = mono_ms() + wait_ms;
	int r;

	*fd = -1;
	if (n <= 0)
		return 0;
	if (mkdir(dir, LOCKFILE_DIR_MODE) && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
		return -1;
	}
	while ((r = try_slots(dir, key, n, fd, err, errlen)) == 1 && mono_ms() < deadline)
		nanosleep(&pause, NULL);
	return r;
}

void slot_release(int fd)
{
	lockfile_unlock(fd);
}
