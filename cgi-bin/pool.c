/* pool.c - the warm pool of idle containers, their records, and the sweep of strays. */
#include "pool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "spawn.h"

#define SWEEP_EVERY_S 60

static int record_path(char *buf, size_t len, const struct config *cfg, const char *sub,
		       const char *name)
{
	int n = name ? snprintf(buf, len, "%s/%s/%s", cfg->state_dir, sub, name)
		     : snprintf(buf, len, "%s/%s", cfg->state_dir, sub);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

static const char *pool_dir(enum language lang)
{
	return lang == LANG_JAVASCRIPT ? "pool/javascript" : "pool/python";
}

static void make_dirs(const struct config *cfg)
{
	static const char *const dirs[] = { "", "/pool", "/pool/python", "/pool/javascript", "/owned" };
	char path[PATH_MAX];
	size_t i;

	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		if ((size_t)snprintf(path, sizeof(path), "%s%s", cfg->state_dir, dirs[i]) < sizeof(path))
			mkdir(path, 0700);
}

/* Writes "<our pid> <id>" to path (replacing it); 0 or -1. */
static int write_record(const char *path, const char *id)
{
	char text[128];
	int fd, n, ret = -1;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	n = snprintf(text, sizeof(text), "%ld %s\n", (long)getpid(), id);
	if (write(fd, text, (size_t)n) == n)
		ret = 0;
	close(fd);
	return ret;
}

/* Reads "<pid> <id>"; pid 0 and id "" when unreadable. */
static void read_record(const char *path, long *pid, char *id, size_t idlen)
{
	char text[128] = "";
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, text, sizeof(text) - 1) : -1;

	if (fd >= 0)
		close(fd);
	text[n > 0 ? n : 0] = '\0';
	*pid = 0;
	id[0] = '\0';
	if (sscanf(text, "%ld %79s", pid, id) < 2)
		id[0] = '\0';
	(void)idlen;
}

/* Makes a new container with an owned record; 0 or -1 with err. */
static int make_owned(const struct config *cfg, enum language lang, struct container *ct,
		      char *err, size_t errlen)
{
	char rec[PATH_MAX];

	container_init(ct, cfg, lang);
	make_dirs(cfg);
	if (record_path(rec, sizeof(rec), cfg, "owned", ct->name) || write_record(rec, "-")) {
		log_msg("cannot write %s: %s", rec, strerror(errno));
		snprintf(err, errlen, "service unavailable: cannot keep track of containers");
		return -1;
	}
	if (container_create(cfg, ct, err, errlen) || write_record(rec, ct->id)) {
		unlink(rec);
		return -1;
	}
	return 0;
}

/* Claims an idle container of lang: 0 with ct filled, 1 when there is none. */
static int claim(const struct config *cfg, enum language lang, struct container *ct)
{
	char dir[PATH_MAX], from[PATH_MAX], to[PATH_MAX];
	struct dirent *e;
	DIR *d;
	int ret = 1;

	if (record_path(dir, sizeof(dir), cfg, pool_dir(lang), NULL))
		return 1;
	d = opendir(dir);
	if (!d)
		return 1;
	while ((e = readdir(d))) {
		long pid;

		if (e->d_name[0] == '.' || strlen(e->d_name) >= sizeof(ct->name))
			continue;
		if (record_path(from, sizeof(from), cfg, pool_dir(lang), e->d_name) ||
		    record_path(to, sizeof(to), cfg, "owned", e->d_name) || rename(from, to))
			continue; /* another process took it */
		memset(ct, 0, sizeof(*ct));
		ct->lang = lang;
		strcpy(ct->name, e->d_name);
		read_record(to, &pid, ct->id, sizeof(ct->id));
		write_record(to, ct->id);
		ret = 0;
		break;
	}
	closedir(d);
	return ret;
}

int pool_get(const struct config *cfg, enum language lang, struct container *ct, int *warm,
	     char *err, size_t errlen)
{
	*warm = claim(cfg, lang, ct) == 0;
	if (*warm)
		return 0;
	return make_owned(cfg, lang, ct, err, errlen);
}

void pool_done(const struct config *cfg, const struct container *ct)
{
	char rec[PATH_MAX], lock[PATH_MAX];
	int fd;

	if (record_path(rec, sizeof(rec), cfg, "owned", ct->name))
		return;
	if (container_remove(cfg, ct->name) == 0) {
		unlink(rec);
		return;
	}
	/* Docker could not remove it (the engine down?): leave it to the next sweep, as a
	 * container of no live process, and make that sweep due. */
	fd = open(rec, O_WRONLY | O_TRUNC | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0) {
		dprintf(fd, "0 %s\n", ct->id[0] ? ct->id : "-");
		close(fd);
	}
	if (!record_path(lock, sizeof(lock), cfg, "sweep.lock", NULL))
		truncate(lock, 0);
}

static int count_entries(const char *dir);

int pool_size(const struct config *cfg, enum language lang)
{
	char dir[PATH_MAX];

	return record_path(dir, sizeof(dir), cfg, pool_dir(lang), NULL) ? 0 : count_entries(dir);
}

static int count_entries(const char *dir)
{
	struct dirent *e;
	DIR *d = opendir(dir);
	int n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* Holds an flock on <state_dir>/<name> if free; returns the descriptor or -1. */
static int try_lock(const struct config *cfg, const char *name)
{
	char path[PATH_MAX];
	int fd;

	if (record_path(path, sizeof(path), cfg, name, NULL))
		return -1;
	fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB)) {
		close(fd);
		fd = -1;
	}
	return fd;
}

void pool_refill(const struct config *cfg, const volatile sig_atomic_t *stop)
{
	static const enum language langs[] = { LANG_PYTHON, LANG_JAVASCRIPT };
	size_t i;

	make_dirs(cfg);
	for (i = 0; i < 2; i++) {
		enum language lang = langs[i];
		int want = lang == LANG_JAVASCRIPT ? cfg->warm_javascript : cfg->warm_python;
		char dir[PATH_MAX], rec[PATH_MAX], to[PATH_MAX], err[256];
		int lock = want > 0 ? try_lock(cfg, lang == LANG_JAVASCRIPT ? "pool/javascript.lock"
									      : "pool/python.lock")
				    : -1;

		if (lock < 0 || record_path(dir, sizeof(dir), cfg, pool_dir(lang), NULL)) {
			if (lock >= 0)
				close(lock);
			continue;
		}
		while (count_entries(dir) < want && !(stop && *stop)) {
			struct container ct;

			if (make_owned(cfg, lang, &ct, err, sizeof(err))) {
				log_msg("warm pool (%s) not refilled: %s", language_name(lang), err);
				break;
			}
			if (record_path(rec, sizeof(rec), cfg, "owned", ct.name) ||
			    record_path(to, sizeof(to), cfg, pool_dir(lang), ct.name) || rename(rec, to)) {
				pool_done(cfg, &ct);
				break;
			}
		}
		close(lock);
	}
}

static int alive(long pid)
{
	return pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
}

/* Where the record of a container is: 1 idle (pool), 2 owned by a live process, 3 owned by a
 * dead one, 0 none. */
static int record_of(const struct config *cfg, const char *name, char *path, size_t len)
{
	long pid;
	char id[80];

	if (!record_path(path, len, cfg, "pool/python", name) && !access(path, F_OK))
		return 1;
	if (!record_path(path, len, cfg, "pool/javascript", name) && !access(path, F_OK))
		return 1;
	if (!record_path(path, len, cfg, "owned", name) && !access(path, F_OK)) {
		read_record(path, &pid, id, sizeof(id));
		return alive(pid) ? 2 : 3;
	}
	return 0;
}

/* Records whose container is gone (idle ones, or owned by a dead process); all of them when
 * everything is set. */
static void drop_orphan_records(const struct config *cfg, const char *sub, const char *listed,
				int everything)
{
	char dir[PATH_MAX], path[PATH_MAX], id[80], needle[NAME_MAX + 4];
	struct dirent *e;
	long pid;
	DIR *d;

	if (record_path(dir, sizeof(dir), cfg, sub, NULL) || !(d = opendir(dir)))
		return;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' ||
		    record_path(path, sizeof(path), cfg, sub, e->d_name))
			continue;
		snprintf(needle, sizeof(needle), "\n%s ", e->d_name);
		read_record(path, &pid, id, sizeof(id));
		if (!everything && (strstr(listed, needle) || (!strcmp(sub, "owned") && alive(pid))))
			continue; /* its container is there, or it is being made right now */
		unlink(path);
	}
	closedir(d);
}

void pool_sweep(const struct config *cfg, enum sweep how)
{
	int everything = how == SWEEP_EVERYTHING;
	char label[160], listing[65536] = "\n", path[PATH_MAX], *line, *save = NULL;
	char *argv[] = { (char *)cfg->docker, "ps", "--all", "--no-trunc", "--filter", label,
			 "--format", "{{.Names}} {{.State}}", NULL };
	struct stat st;
	int lock = try_lock(cfg, "sweep.lock"), removed = 0;

	if (lock < 0)
		return;
	if (how == SWEEP_DUE && !fstat(lock, &st) && st.st_size &&
	    time(NULL) - st.st_mtime < SWEEP_EVERY_S)
		goto out;
	if (write(lock, "", 0) < 0 || ftruncate(lock, 1)) /* size 1: swept once */
		goto out;
	futimens(lock, NULL);
	make_dirs(cfg);
	snprintf(label, sizeof(label), "label=org.safe-code-executor.instance=%s", cfg->instance);
	if (spawn_capture(cfg->docker, argv, 15000, listing + 1, sizeof(listing) - 1) != 0) {
		log_msg("sweep: docker ps failed");
		goto out;
	}
	for (line = strtok_r(listing + 1, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char name[96], state[32];
		int where;

		if (sscanf(line, "%95s %31s", name, state) != 2)
			continue;
		where = record_of(cfg, name, path, sizeof(path));
		if (!everything && (where == 2 || (where == 1 && !strcmp(state, "running"))))
			continue;
		container_remove(cfg, name);
		if (where)
			unlink(path);
		removed++;
	}
	/* strtok_r cut the listing: list it again for the record check. */
	if (spawn_capture(cfg->docker, argv, 15000, listing + 1, sizeof(listing) - 2) == 0) {
		strcat(listing, "\n");
		drop_orphan_records(cfg, "pool/python", listing, everything);
		drop_orphan_records(cfg, "pool/javascript", listing, everything);
		drop_orphan_records(cfg, "owned", listing, everything);
	}
	if (removed)
		log_msg("sweep: removed %d container(s) %s", removed,
			everything ? "left from before" : "without a live owner");
out:
	close(lock);
}
