/* slots.c - counted slots as flocks on small files, crash-safe by construction. */
#include "slots.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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
		f = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0600);
		if (f < 0) {
			snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
			return -1;
		}
		if (!flock(f, LOCK_EX | LOCK_NB)) {
			*fd = f;
			return 0;
		}
		close(f);
		if (errno != EWOULDBLOCK) {
			snprintf(err, errlen, "cannot lock %s: %s", path, strerror(errno));
			return -1;
		}
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
	if (mkdir(dir, 0700) && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
		return -1;
	}
	while ((r = try_slots(dir, key, n, fd, err, errlen)) == 1 && mono_ms() < deadline)
		nanosleep(&pause, NULL);
	return r;
}

void slot_release(int fd)
{
	if (fd >= 0)
		close(fd);
}
