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
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lockfile.h"
#include "log.h"
#include "spawn.h"

#define SWEEP_EVERY_S 60
#define LISTING_MAX (1 << 20)

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

static const char *const state_dirs[] = { "", "/pool", "/pool/python", "/pool/javascript",
					  "/owned", "/clients", "/runs" };

static void make_dirs(const struct config *cfg)
{
	char path[PATH_MAX];
	size_t i;

	for (i = 0; i < sizeof(state_dirs) / sizeof(state_dirs[0]); i++)
		if ((size_t)snprintf(path, sizeof(path), "%s%s", cfg->state_dir, state_dirs[i]) <
		    sizeof(path))
			mkdir(path, LOCKFILE_DIR_MODE);
}

int pool_check_state(const struct config *cfg, char *err, size_t errlen)
{
	char path[PATH_MAX];
	struct stat st;
	size_t i;

	make_dirs(cfg);
	for (i = 0; i < sizeof(state_dirs) / sizeof(state_dirs[0]); i++) {
		if ((size_t)snprintf(path, sizeof(path), "%s%s", cfg->state_dir, state_dirs[i]) >=
		    sizeof(path)) {
			snprintf(err, errlen, "state_dir %s: path too long", cfg->state_dir);
			return -1;
		}
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

/* The records lock is held for a few file operations at a time: a wait this long means a stuck
 * holder, and the caller goes on without it (no claim, no sweep). */
#define RECORDS_LOCK_MS 3000

/* An flock on <state_dir>/<name>: waiting up to RECORDS_LOCK_MS, or only if free. Returns the
 * descriptor or -1. */
static int lock_file(const struct config *cfg, const char *name, int wait)
{
	char path[PATH_MAX], err[PATH_MAX + 64];
	int fd;

	if (record_path(path, sizeof(path), cfg, name, NULL))
		return -1;
	fd = lockfile_lock(path, wait ? RECORDS_LOCK_MS : 0, err, sizeof(err));
	if (fd < 0 && wait)
		log_msg("%s", err);
	return fd;
}

/* Every move of a record (and the sweep's look at one) happens under this lock, held briefly. */
static int lock_records(const struct config *cfg)
{
	return lock_file(cfg, "records.lock", 1);
}

static void unlock(int fd)
{
	lockfile_unlock(fd);
}

/* Writes "<pid> <id>" to path, atomically (a temp file renamed over it); 0 or -1. */
static int write_record(const struct config *cfg, const char *path, long pid, const char *id)
{
	char text[128], err[PATH_MAX + 64];
	int n = snprintf(text, sizeof(text), "%ld %s\n", pid, id);

	(void)cfg;
	if (lockfile_replace(path, text, (size_t)n, 0, err, sizeof(err))) {
		log_msg("%s", err);
		return -1;
	}
	return 0;
}

/* Reads "<pid> <id>" from a record this service's user wrote; pid 0 and id "" when unreadable,
 * not ours, or not a record (the id must be docker's 64 hex digits, or "-" before it is known). */
static void read_record(const char *path, long *pid, char *id)
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

/* Makes a new container with an owned record; 0 or -1 with err. */
static int make_owned(const struct config *cfg, enum language lang, struct container *ct,
		      char *err, size_t errlen)
{
	char rec[PATH_MAX];
	int lock, ok;

	container_init(ct, cfg, lang);
	make_dirs(cfg);
	lock = lock_records(cfg);
	ok = lock >= 0 && !record_path(rec, sizeof(rec), cfg, "owned", ct->name) &&
	     !write_record(cfg, rec, (long)getpid(), "-");
	unlock(lock);
	if (!ok) {
		log_msg("cannot write a record in %s/owned: %s", cfg->state_dir, strerror(errno));
		snprintf(err, errlen, "service unavailable: cannot keep track of containers");
		return -1;
	}
	if (container_create(cfg, ct, err, errlen)) {
		unlink(rec); /* what a failed docker run may have left has no record: a stray */
		return -1;
	}
	if (write_record(cfg, rec, (long)getpid(), ct->id)) {
		snprintf(err, errlen, "service unavailable: cannot keep track of containers");
		pool_done(cfg, ct); /* made but not recorded: removed now, or left to the sweep */
		return -1;
	}
	return 0;
}

static int too_old(const char *path)
{
	struct stat st;

	return !stat(path, &st) && time(NULL) - st.st_mtime > IDLE_MAX_S;
}

/* A record's name is one of this instance's containers: "sce-<instance>-<pid>-<16 hex>" (an
 * instance "a" does not take the names of an instance "a-b"). */
static int our_name(const struct config *cfg, const char *name)
{
	size_t n = strlen(cfg->instance), pid;
	const char *p = name + 5 + n;

	if (strlen(name) >= sizeof(((struct container *)0)->name) || strncmp(name, "sce-", 4) ||
	    strncmp(name + 4, cfg->instance, n) || name[4 + n] != '-')
		return 0;
	pid = strspn(p, "0123456789"); /* as container_init() makes them: <pid>-<16 hex digits> */
	return pid && p[pid] == '-' && strspn(p + pid + 1, "0123456789abcdef") == 16 && !p[pid + 17];
}

int pool_claim(const struct config *cfg, enum language lang, struct container *ct)
{
	char dir[PATH_MAX], from[PATH_MAX], to[PATH_MAX], id[80];
	struct dirent *e;
	DIR *d;
	long pid;
	int ret = 1, lock;

	if (record_path(dir, sizeof(dir), cfg, pool_dir(lang), NULL))
		return 1;
	/* Without the lock a sweep could take the record between the rename and the rewrite: no
	 * lock, no claim (the run makes a new container). */
	lock = lock_records(cfg);
	if (lock < 0)
		return 1;
	d = opendir(dir);
	while (d && ret && (e = readdir(d))) {
		if (e->d_name[0] == '.' || !our_name(cfg, e->d_name) ||
		    record_path(from, sizeof(from), cfg, pool_dir(lang), e->d_name) ||
		    record_path(to, sizeof(to), cfg, "owned", e->d_name) || too_old(from))
			continue; /* an old one is left to the sweep */
		/* The rename is the claim: of two claimers, the second finds nothing to rename. */
		if (rename(from, to))
			continue;
		read_record(to, &pid, id);
		if (strlen(id) != 64 || write_record(cfg, to, (long)getpid(), id)) {
			unlink(to); /* a container without a record: the sweep removes it */
			continue;
		}
		memset(ct, 0, sizeof(*ct));
		ct->lang = lang;
		strcpy(ct->name, e->d_name);
		strcpy(ct->id, id);
		ret = 0;
	}
	unlock(lock);
	if (d)
		closedir(d);
	return ret;
}

int pool_get(const struct config *cfg, enum language lang, int warm_ok, struct container *ct,
	     int *warm, char *err, size_t errlen)
{
	*warm = warm_ok && pool_claim(cfg, lang, ct) == 0;
	if (*warm)
		return 0;
	return make_owned(cfg, lang, ct, err, errlen);
}

/* Makes the next due sweep run (it was recent, but there is something for it). */
static void sweep_soon(const struct config *cfg)
{
	char lock[PATH_MAX];

	if (!record_path(lock, sizeof(lock), cfg, "sweep.lock", NULL) && truncate(lock, 0))
		log_msg("cannot mark %s: %s", lock, strerror(errno));
}

int pool_done(const struct config *cfg, const struct container *ct)
{
	char rec[PATH_MAX];
	int lock;

	if (record_path(rec, sizeof(rec), cfg, "owned", ct->name))
		return -1;
	if (ct->removed || container_remove(cfg, ct->name) == 0) {
		lock = lock_records(cfg);
		unlink(rec);
		unlock(lock);
		return 0;
	}
	/* Docker could not remove it (the engine down?): leave it to the sweep, as a container of
	 * no live process, and make that sweep due. */
	write_record(cfg, rec, 0, ct->id[0] ? ct->id : "-");
	sweep_soon(cfg);
	return -1;
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

int pool_size(const struct config *cfg, enum language lang)
{
	char dir[PATH_MAX];

	return record_path(dir, sizeof(dir), cfg, pool_dir(lang), NULL) ? 0 : count_entries(dir);
}

void pool_refill(const struct config *cfg, const volatile sig_atomic_t *stop, int (*waiting)(void))
{
	static const enum language langs[] = { LANG_PYTHON, LANG_JAVASCRIPT };
	size_t i;

	make_dirs(cfg);
	for (i = 0; i < 2; i++) {
		enum language lang = langs[i];
		int want = lang == LANG_JAVASCRIPT ? cfg->warm_javascript : cfg->warm_python;
		int lock = -1, records;
		char rec[PATH_MAX], to[PATH_MAX], err[256];

		if (want > 0)
			lock = lock_file(cfg, lang == LANG_JAVASCRIPT ? "pool/javascript.lock"
								  : "pool/python.lock", 0);
		while (lock >= 0 && pool_size(cfg, lang) < want && !(stop && *stop) &&
		       !(waiting && waiting())) {
			struct container ct;

			if (make_owned(cfg, lang, &ct, err, sizeof(err))) {
				log_msg("warm pool (%s) not refilled: %s", language_name(lang), err);
				break;
			}
			records = lock_records(cfg);
			if (records < 0 || record_path(rec, sizeof(rec), cfg, "owned", ct.name) ||
			    record_path(to, sizeof(to), cfg, pool_dir(lang), ct.name) || rename(rec, to)) {
				unlock(records);
				pool_done(cfg, &ct);
				break;
			}
			unlock(records);
		}
		unlock(lock);
	}
}

static int alive(long pid)
{
	return pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
}

/* Where the record of a container is, with the records lock held: 1 idle (pool), 2 owned by a
 * live process, 3 owned by a dead one, 0 none; path set to it. */
static int record_of(const struct config *cfg, const char *name, char *path, size_t len)
{
	char id[80];
	long pid;

	if (!record_path(path, len, cfg, "pool/python", name) && !access(path, F_OK))
		return 1;
	if (!record_path(path, len, cfg, "pool/javascript", name) && !access(path, F_OK))
		return 1;
	if (!record_path(path, len, cfg, "owned", name) && !access(path, F_OK)) {
		read_record(path, &pid, id);
		return alive(pid) ? 2 : 3;
	}
	return 0;
}

/* Takes a container for removal under the records lock: decides whether it is a stray and, if
 * so, records it as owned by this process, so that no run can claim it meanwhile. */
static int take_stray(const struct config *cfg, const char *name, const char *state,
		      int everything)
{
	char path[PATH_MAX], owned[PATH_MAX];
	int lock = lock_records(cfg), where, stray;

	if (lock < 0)
		return 0; /* not without the lock: a claim may be half done */
	where = record_of(cfg, name, path, sizeof(path));
	stray = everything || where == 0 || where == 3 ||
		(where == 1 && (!strcmp(state, "exited") || !strcmp(state, "dead") || too_old(path)));
	if (stray && !record_path(owned, sizeof(owned), cfg, "owned", name) &&
	    write_record(cfg, owned, (long)getpid(), "-") == 0 && where == 1)
		unlink(path);
	unlock(lock);
	return stray;
}

/* Records whose container is gone (idle ones, or owned by a dead process), but those written
 * after the listing; all of them when everything is set. */
static void drop_orphan_records(const struct config *cfg, const char *sub, const char *listed,
				time_t listed_at, int everything)
{
	char dir[PATH_MAX], path[PATH_MAX], id[80], needle[NAME_MAX + 4];
	struct dirent *e;
	struct stat st;
	long pid;
	DIR *d;
	int lock;

	if (record_path(dir, sizeof(dir), cfg, sub, NULL))
		return;
	lock = lock_records(cfg);
	if (lock < 0 || !(d = opendir(dir))) {
		unlock(lock);
		return;
	}
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' || record_path(path, sizeof(path), cfg, sub, e->d_name))
			continue;
		snprintf(needle, sizeof(needle), "\n%s ", e->d_name);
		read_record(path, &pid, id);
		if (!everything &&
		    (strstr(listed, needle) || (!strcmp(sub, "owned") && alive(pid)) ||
		     (!stat(path, &st) && st.st_mtime >= listed_at - 1)))
			continue; /* its container is there, its owner lives, or it is newer */
		unlink(path);
	}
	unlock(lock);
	closedir(d);
}

/* Temp files (".<name>.tmpXXXXXX") a process killed between writing and renaming left in the
 * state directories: none is that old but a dead writer's. */
#define STALE_TEMP_S 60
static void remove_stale_temps(const struct config *cfg)
{
	char dir[PATH_MAX], path[PATH_MAX];
	struct dirent *e;
	struct stat st;
	size_t i;
	DIR *d;

	for (i = 0; i < sizeof(state_dirs) / sizeof(state_dirs[0]); i++) {
		if ((size_t)snprintf(dir, sizeof(dir), "%s%s", cfg->state_dir, state_dirs[i]) >=
			    sizeof(dir) ||
		    !(d = opendir(dir)))
			continue;
		while ((e = readdir(d)))
			if (e->d_name[0] == '.' && strstr(e->d_name, ".tmp") &&
			    (size_t)snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) < sizeof(path) &&
			    !lstat(path, &st) && S_ISREG(st.st_mode) &&
			    time(NULL) - st.st_mtime > STALE_TEMP_S && !unlink(path))
				log_msg("sweep: removed %s, left by a writer that died", path);
		closedir(d);
	}
}

/* `docker ps` of the instance into buf (starting with a newline); 0, or -1 (also when cut). */
static int list_containers(const struct config *cfg, char *buf, size_t len)
{
	char label[160];
	char *argv[] = { (char *)cfg->docker, "ps", "--all", "--no-trunc", "--filter", label,
			 "--format", "{{.Names}} {{.State}}", NULL };

	snprintf(label, sizeof(label), "label=org.safe-code-executor.instance=%s", cfg->instance);
	buf[0] = '\n';
	if (spawn_capture(cfg->docker, argv, 15000, buf + 1, len - 2) != 0 ||
	    strlen(buf + 1) >= len - 3) /* full: maybe cut */
		return -1;
	strcat(buf, "\n");
	return 0;
}

void pool_sweep(const struct config *cfg, enum sweep how)
{
	int everything = how == SWEEP_EVERYTHING, lock, removed = 0;
	char *listing = NULL, *copy = NULL, *line, *save = NULL;
	struct stat st;
	time_t listed_at;

	make_dirs(cfg);
	lock = lock_file(cfg, "sweep.lock", 0);
	if (lock < 0)
		return;
	if (how == SWEEP_DUE && !fstat(lock, &st) && st.st_size &&
	    time(NULL) - st.st_mtime < SWEEP_EVERY_S)
		goto out;
	if (ftruncate(lock, 1) || futimens(lock, NULL)) /* size 1: swept, at its mtime */
		goto out;
	listing = malloc(LISTING_MAX);
	copy = malloc(LISTING_MAX);
	listed_at = time(NULL);
	if (!listing || !copy || list_containers(cfg, listing, LISTING_MAX)) {
		log_msg("sweep: cannot list the containers");
		goto out;
	}
	strcpy(copy, listing);
	for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char state[32];

		struct container stray = { 0 };

		if (sscanf(line, "%95s %31s", stray.name, state) != 2 ||
		    !take_stray(cfg, stray.name, state, everything))
			continue;
		removed += pool_done(cfg, &stray) == 0; /* taken as ours: removed like a used one */
	}
	drop_orphan_records(cfg, "pool/python", listing, listed_at, everything);
	drop_orphan_records(cfg, "pool/javascript", listing, listed_at, everything);
	drop_orphan_records(cfg, "owned", listing, listed_at, everything);
	remove_stale_temps(cfg);
	if (removed)
		log_msg("sweep: removed %d container(s) %s", removed,
			everything ? "of the instance" : "without a live owner");
out:
	free(listing);
	free(copy);
	unlock(lock);
}
