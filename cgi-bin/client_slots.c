/* client_slots.c - per-client run slots as flocks on small files, crash-safe by construction. */
#include "client_slots.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define BUCKETS 1024

static unsigned bucket(const char *addr)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (; *addr; addr++)
		h = (h ^ (unsigned char)*addr) * 16777619u;
	return h % BUCKETS;
}

int client_slot_take(const char *dir, const char *addr, int n, int *fd, char *err, size_t errlen)
{
	char path[PATH_MAX];
	unsigned b = bucket(addr);
	int i;

	*fd = -1;
	if (n <= 0)
		return 0;
	if ((size_t)snprintf(path, sizeof(path), "%s/clients", dir) >= sizeof(path)) {
		snprintf(err, errlen, "state directory path too long");
		return -1;
	}
	if ((mkdir(dir, 0700) && errno != EEXIST) || (mkdir(path, 0700) && errno != EEXIST)) {
		snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
		return -1;
	}
	for (i = 0; i < n; i++) {
		int f;

		if ((size_t)snprintf(path, sizeof(path), "%s/clients/%u-%d", dir, b, i) >= sizeof(path)) {
			snprintf(err, errlen, "state directory path too long");
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

void client_slot_release(int fd)
{
	if (fd >= 0)
		close(fd);
}
