/* sweep.c - the sweep: containers, records and directories no live process accounts for. */
#include "sweep.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "container.h"
#include "log.h"
#include "pool.h"
#include "records.h"
#include "slots.h"

#define SWEEP_EVERY_S 60
#define LISTING_MAX (1 << 20)
/* Temp files (".<name>.tmpXXXXXX") and containers' directories without a record: none is that
 * old but a dead process's. */
#define STALE_S 60

void sweep_soon(const struct config *cfg)
{
	char lock[PATH_MAX];

	if (!records_path(lock, sizeof(lock), cfg, "sweep.lock", NULL) && truncate(lock, 0))
		log_msg("cannot mark %s: %s", lock, strerror(errno));
}

/* Calls fn(cfg, sub) for "owned", "done" and each pool/<language> directory there is (also of
 * languages no longer in the table). */
static void each_record_dir(const struct config *cfg, void (*fn)(const struct config *, const char *,
								  void *), void *arg)
{
	char dir[PATH_MAX], sub[NAME_MAX + 8];
	struct dirent *e;
	DIR *d;

	fn(cfg, "owned", arg);
	fn(cfg, "done", arg);
	if (records_path(dir, sizeof(dir), cfg, "pool", NULL) || !(d = opendir(dir)))
		return;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.' && (e->d_type == DT_DIR || e->d_type == DT_UNKNOWN)) {
			snprintf(sub, sizeof(sub), "pool/%s", e->d_name);
			fn(cfg, sub, arg);
		}
	closedir(d);
}

struct finding {
	const char *name;
	char path[PATH_MAX];
	int where; /* 1 idle (pool), 2 owned by a live process, 3 owned by a dead one, 4 handed to
		    * the keeper (done/), 0 none */
};

static void look_in(const struct config *cfg, const char *sub, void *arg)
{
	struct finding *f = arg;
	char path[PATH_MAX], id[80];
	long pid;

	if (f->where || records_path(path, sizeof(path), cfg, sub, f->name) || access(path, F_OK))
		return;
	strcpy(f->path, path);
	if (!strcmp(sub, "done")) {
		f->where = 4;
		return;
	}
	if (strcmp(sub, "owned")) {
		f->where = 1;
		return;
	}
	records_read(path, &pid, id);
	f->where = records_alive(pid) ? 2 : 3;
}

/* Takes a container for removal under the records lock: decides whether it is a stray and, if
 * so, records it as owned by this process, so that no run can claim it meanwhile. */
static int take_stray(const struct config *cfg, const char *name, const char *state,
		      int everything)
{
	struct finding f = { name, "", 0 };
	char owned[PATH_MAX];
	int lock = records_lock_all(cfg), stray;

	if (lock < 0)
		return 0; /* not without the lock: a claim may be half done */
	each_record_dir(cfg, look_in, &f);
	stray = everything || f.where == 0 || f.where == 3 ||
		(f.where == 1 && (!strcmp(state, "exited") || !strcmp(state, "dead") ||
				  records_too_old(f.path)));
	if (stray && !records_path(owned, sizeof(owned), cfg, "owned", name) &&
	    records_write(owned, (long)getpid(), "-") == 0 && (f.where == 1 || f.where == 4))
		unlink(f.path);
	records_unlock(lock);
	return stray;
}

struct listing {
	const char *text;
	time_t at;
	int everything;
};

/* Records whose container is gone (idle ones, or owned by a dead process), but those written
 * after the listing; all of them when everything is set. */
static void drop_orphan_records(const struct config *cfg, const char *sub, void *arg)
{
	const struct listing *l = arg;
	char dir[PATH_MAX], path[PATH_MAX], id[80], needle[NAME_MAX + 4];
	struct dirent *e;
	struct stat st;
	long pid;
	DIR *d;
	int lock;

	if (records_path(dir, sizeof(dir), cfg, sub, NULL))
		return;
	lock = records_lock_all(cfg);
	if (lock < 0 || !(d = opendir(dir))) {
		records_unlock(lock);
		return;
	}
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' || records_path(path, sizeof(path), cfg, sub, e->d_name))
			continue;
		snprintf(needle, sizeof(needle), "\n%s ", e->d_name);
		records_read(path, &pid, id);
		if (!l->everything &&
		    (strstr(l->text, needle) || (!strcmp(sub, "owned") && records_alive(pid)) ||
		     (!stat(path, &st) && st.st_mtime >= l->at - 1)))
			continue; /* its container is there, its owner lives, or it is newer */
		unlink(path);
	}
	records_unlock(lock);
	closedir(d);
}

/* Containers' directories (code/<name>) that no record accounts for: what a process killed
 * between making one and its record's end left. A young one may be a container being made. */
static void drop_orphan_dirs(const struct config *cfg, int everything)
{
	char dir[PATH_MAX];
	struct dirent *e;
	struct stat st;
	DIR *d;
	int lock;

	if (records_path(dir, sizeof(dir), cfg, "code", NULL) || !(d = opendir(dir)))
		return;
	while ((e = readdir(d))) {
		struct finding f = { e->d_name, "", 0 };

		if (e->d_name[0] == '.' || (!everything &&
		    (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) ||
		     time(NULL) - st.st_mtime <= STALE_S)))
			continue;
		/* one at a time under the lock, which a run making a container waits for */
		lock = records_lock_all(cfg);
		if (lock < 0)
			break;
		each_record_dir(cfg, look_in, &f);
		if (f.where == 0)
			container_dir_remove(cfg, e->d_name);
		records_unlock(lock);
	}
	closedir(d);
}

static void remove_stale_temps(const struct config *cfg, const char *sub, void *arg)
{
	char dir[PATH_MAX], path[PATH_MAX];
	struct dirent *e;
	struct stat st;
	DIR *d;

	(void)arg;
	if (records_path(dir, sizeof(dir), cfg, sub, NULL) || !(d = opendir(dir)))
		return;
	while ((e = readdir(d)))
		if (e->d_name[0] == '.' && strstr(e->d_name, ".tmp") &&
		    (size_t)snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) < sizeof(path) &&
		    !lstat(path, &st) && S_ISREG(st.st_mode) &&
		    time(NULL) - st.st_mtime > STALE_S && !unlink(path))
			log_msg("sweep: removed %s, left by a writer that died", path);
	closedir(d);
}

/* The client and run slots' directories: temp files and what dead waiters left in their lines. */
static void sweep_slots(const struct config *cfg)
{
	static const char *const subs[] = { "clients", "runs" };
	char dir[PATH_MAX];
	size_t i;

	for (i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		remove_stale_temps(cfg, subs[i], NULL);
		if (!records_path(dir, sizeof(dir), cfg, subs[i], NULL))
			slot_sweep_line(dir);
	}
}

void sweep(const struct config *cfg, enum sweep how)
{
	int everything = how == SWEEP_EVERYTHING, lock, making = -1, gate = -1, removed = 0;
	char *text = NULL, *copy = NULL, *line, *save = NULL;
	struct listing l;
	struct stat st;

	/* Everything: after the sweep that runs, and with no container being made meanwhile (its
	 * record, written after the listing, would be dropped with the others). */
	lock = records_lock(cfg, "sweep.lock", everything ? RECORDS_HALT_MS : 0);
	if (lock < 0 || (everything && (making = records_halt_making(cfg, &gate)) < 0))
		goto out;
	if (how == SWEEP_DUE && !fstat(lock, &st) && st.st_size &&
	    time(NULL) - st.st_mtime < SWEEP_EVERY_S)
		goto out;
	if (ftruncate(lock, 1) || futimens(lock, NULL)) /* size 1: swept, at its mtime */
		goto out;
	text = malloc(LISTING_MAX);
	copy = malloc(LISTING_MAX);
	l.at = time(NULL);
	if (!text || !copy || container_list(cfg, text, LISTING_MAX)) {
		log_msg("sweep: cannot list the containers");
		goto out;
	}
	strcpy(copy, text);
	for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		struct container stray = { 0 };
		char state[32];

		if (sscanf(line, "%95s %31s", stray.name, state) != 2 ||
		    !take_stray(cfg, stray.name, state, everything))
			continue;
		removed += pool_done(cfg, &stray) == 0; /* taken as ours: removed like a used one */
	}
	l.text = text;
	l.everything = everything;
	each_record_dir(cfg, drop_orphan_records, &l);
	drop_orphan_dirs(cfg, everything);
	each_record_dir(cfg, remove_stale_temps, NULL);
	remove_stale_temps(cfg, "", NULL);
	sweep_slots(cfg);
	if (removed)
		log_msg("sweep: removed %d container(s) %s", removed,
			everything ? "of the instance" : "without a live owner");
out:
	free(text);
	free(copy);
	records_unlock(making);
	records_unlock(gate);
	records_unlock(lock);
}
