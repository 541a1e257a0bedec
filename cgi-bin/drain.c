/* drain.c - the drain file, and waiting for the runs in flight to end. */
#include "drain.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lockfile.h"
#include "metrics.h"
#include "spawn.h"

static int drain_path(const struct config *cfg, char *path, size_t size)
{
	return (size_t)snprintf(path, size, "%s/draining", cfg->state_dir) >= size;
}

int drain_is_on(const struct config *cfg)
{
	char path[PATH_MAX];
	struct stat st;

	return !drain_path(cfg, path, sizeof(path)) && !lstat(path, &st);
}

int drain_start(const struct config *cfg, int wait_s, char *err, size_t errlen)
{
	struct timespec pause = { 0, 200 * 1000000L };
	char path[PATH_MAX];
	int64_t deadline = mono_ms() + wait_s * 1000LL;
	int fd, running, said = -1;

	if (drain_path(cfg, path, sizeof(path))) {
		snprintf(err, errlen, "state_dir too long");
		return -1;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, LOCKFILE_MODE);
	if (fd < 0) {
		snprintf(err, errlen, "cannot make %s: %s", path, strerror(errno));
		return -1;
	}
	close(fd);
	printf("draining %s: new runs are refused with 503 (the front moves them to another host), "
	       "/readyz answers 503\n", cfg->host_label);
	for (;;) {
		running = metrics_runs_in_flight(cfg);
		if (running != said && running > 0)
			printf("waiting for %d run%s in flight\n", running, running == 1 ? "" : "s");
		said = running;
		if (running == 0 || mono_ms() >= deadline)
			break;
		fflush(stdout);
		nanosleep(&pause, NULL);
	}
	if (running > 0)
		printf("%d run%s still in flight after %d s\n", running, running == 1 ? "" : "s", wait_s);
	else if (running < 0)
		printf("the runs in flight cannot be counted (/proc/locks unreadable): not known to be "
		       "drained\n");
	else
		printf("drained: no run in flight (--resume takes runs again)\n");
	fflush(stdout);
	return running != 0;
}

int drain_stop(const struct config *cfg, char *err, size_t errlen)
{
	char path[PATH_MAX];

	if (drain_path(cfg, path, sizeof(path)) || (unlink(path) && errno != ENOENT)) {
		snprintf(err, errlen, "cannot remove %s: %s", path, strerror(errno));
		return -1;
	}
	printf("%s takes runs again\n", cfg->host_label);
	return 0;
}
