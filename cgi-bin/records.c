/* records.c - the state directories, and the records of containers: paths, locks, reads, writes. */
#include "records.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "container.h"
#include "lockfile.h"
#include "log.h"

int records_path(char *buf, size_t len, const struct config *cfg, const char *sub, const char *name)
{
	int n = name ? snprintf(buf, len, "%s/%s/%s", cfg->state_dir, sub, name)
		     : snprintf(buf, len, "%s/%s", cfg->state_dir, sub);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

void records_pool(char *buf, size_t len, const struct language *lang)
{
	snprintf(buf, len, "pool/%s", lang->name);
}

/* The state directories, in the order they are made: the fixed ones, then one pool directory
 * per language. i from 0 while it returns 0. */
static const char *const fixed_dirs[] = { "", "pool", "owned", "done", "clients", "clients/line",
					       "runs", "runs/line", "code" };
#define NFIXED (sizeof(fixed_dirs) / sizeof(fixed_dirs[0]))

static int state_dir(const struct config *cfg, int i, char *path, size_t len)
{
	char pool[64];

	if ((size_t)i < NFIXED)
		return records_path(path, len, cfg, fixed_dirs[i], NULL);
	if (i - (int)NFIXED >= cfg->langs.n)
		return 1;
	records_pool(pool, sizeof(pool), &cfg->langs.list[i - NFIXED]);
	return records_path(path, len, cfg, pool, NULL);
}

int records_check_state(const struct config *cfg, char *err, size_t errlen)
{
	char path[PATH_MAX];
	struct stat st;
	int i, r;

	for (i = 0; (r = state_dir(cfg, i, path, sizeof(path))) != 1; i++) {
		if (r) {
			snprintf(err, errlen, "state_dir %s: path too long", cfg->state_dir);
			return -1;
		}
		mkdir(path, LOCKFILE_DIR_MODE);
		errno = 0;
		if (lstat(path, &st) || !S_ISDIR(st.st_mode)) {
			snprintf(err, errlen, "%s: not a directory of the service's (%s)", path,
				 errno ? strerror(errno) : "a symlink or a file");
			return -1;
		}
		if (st.st_uid != geteuid() || (st.st_mode & 022)) {
			snprintf(err, errlen,
				 "%s: owned by uid %ld with mode %04o; the service (uid %ld) must own its "
				 "state and no one else may write there (chown %ld %s; chmod go-w %s)",
				 path, (long)st.st_uid, (unsigned)(st.st_mode & 07777), (long)geteuid(),
				 (long)geteuid(), path, path);
			return -1;
		}
	}
	return 0;
}

/* <state_dir>/<name> locked (shared or not), waiting up to wait_ms; logged when it waited. */
static int lock_as(const struct config *cfg, const char *name, int shared, int wait_ms)
{
	char path[PATH_MAX], err[PATH_MAX + 64];
	int fd;

	if (records_path(path, sizeof(path), cfg, name, NULL))
		return -1;
	fd = (shared ? lockfile_share : lockfile_lock)(path, wait_ms, err, sizeof(err));
	if (fd < 0 && wait_ms)
		log_msg("%s", err);
	return fd;
}

int records_lock(const struct config *cfg, const char *name, int wait_ms)
{
	return lock_as(cfg, name, 0, wait_ms);
}

int records_lock_all(const struct config *cfg)
{
	return records_lock(cfg, "records.lock", RECORDS_LOCK_MS);
}

void records_unlock(int fd)
{
	lockfile_unlock(fd);
}

/* making.lock is held shared by each container being made for a pool; making.gate lets a sweep
 * of everything in ahead of the makers that come after it (flock has no queue). */
int records_making(const struct config *cfg)
{
	int gate = records_lock(cfg, "making.gate", RECORDS_LOCK_MS);
	int fd = gate < 0 ? -1 : lock_as(cfg, "making.lock", 1, RECORDS_LOCK_MS);

	records_unlock(gate);
	return fd;
}

int records_halt_making(const struct config *cfg, int *gate)
{
	int fd;

	*gate = records_lock(cfg, "making.gate", RECORDS_LOCK_MS);
	fd = *gate < 0 ? -1 : lock_as(cfg, "making.lock", 0, RECORDS_HALT_MS);
	if (fd < 0) {
		records_unlock(*gate);
		*gate = -1;
	}
	return fd;
}

int records_write(const char *path, long pid, const char *id)
{
	char text[128], err[PATH_MAX + 64];
	int n = snprintf(text, sizeof(text), "%ld %s\n", pid, id);

	if (lockfile_replace(path, text, (size_t)n, 0, err, sizeof(err))) {
		log_msg("%s", err);
		return -1;
	}
	return 0;
}

void records_read(const char *path, long *pid, char *id)
{
	char text[128] = "";
	struct stat st;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	ssize_t n = -1;

	if (fd >= 0 && !fstat(fd, &st) && S_ISREG(st.st_mode) && st.st_uid == geteuid())
		n = read(fd, text, sizeof(text) - 1);
	if (fd >= 0)
		close(fd);
	text[n > 0 ? n : 0] = '\0';
	*pid = 0;
	id[0] = '\0';
	if (sscanf(text, "%ld %79s", pid, id) < 2 ||
	    (strcmp(id, "-") && (strlen(id) != 64 || strspn(id, "0123456789abcdef") != 64))) {
		*pid = 0;
		id[0] = '\0';
	}
}

int records_our_name(const struct config *cfg, const char *name)
{
	size_t n = strlen(cfg->instance), pid;
	const char *p = name + 5 + n;

	if (strlen(name) >= sizeof(((struct container *)0)->name) || strncmp(name, "sce-", 4) ||
	    strncmp(name + 4, cfg->instance, n) || name[4 + n] != '-')
		return 0;
	pid = strspn(p, "0123456789"); /* as container_init() makes them: <pid>-<16 hex digits> */
	return pid && p[pid] == '-' && strspn(p + pid + 1, "0123456789abcdef") == 16 && !p[pid + 17];
}

int records_alive(long pid)
{
	return pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
}

int records_too_old(const char *path)
{
	struct stat st;

	return !stat(path, &st) && time(NULL) - st.st_mtime > IDLE_MAX_S;
}
