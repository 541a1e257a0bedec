/* pool.c - the warm pool: containers made ahead, claimed once each, removed after their run. */
#include "pool.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "records.h"
#include "sweep.h"

/* Makes a new container with an owned record; 0 or -1 with err. */
static int make_owned(const struct config *cfg, const struct language *lang, struct container *ct,
		      char *err, size_t errlen)
{
	char rec[PATH_MAX];
	int lock, ok;

	container_init(ct, cfg, lang);
	lock = records_lock_all(cfg);
	ok = lock >= 0 && !records_path(rec, sizeof(rec), cfg, "owned", ct->name) &&
	     !records_write(rec, (long)getpid(), "-");
	records_unlock(lock);
	if (!ok) {
		log_msg("cannot write a record in %s/owned: %s", cfg->state_dir, strerror(errno));
		snprintf(err, errlen, "service unavailable: cannot keep track of containers");
		return -1;
	}
	if (container_create(cfg, ct, err, errlen)) {
		unlink(rec); /* what a failed docker run may have left has no record: a stray */
		return -1;
	}
	if (records_write(rec, (long)getpid(), ct->id)) {
		snprintf(err, errlen, "service unavailable: cannot keep track of containers");
		pool_done(cfg, ct); /* made but not recorded: removed now, or left to the sweep */
		return -1;
	}
	return 0;
}

int pool_claim(const struct config *cfg, const struct language *lang, struct container *ct)
{
	char pool[64], dir[PATH_MAX], from[PATH_MAX], to[PATH_MAX], id[80];
	struct dirent *e;
	DIR *d;
	long pid;
	int ret = 1, lock;

	records_pool(pool, sizeof(pool), lang);
	if (records_path(dir, sizeof(dir), cfg, pool, NULL))
		return 1;
	/* Without the lock a sweep could take the record between the rename and the rewrite: no
	 * lock, no claim (the run makes a new container). */
	lock = records_lock_all(cfg);
	if (lock < 0)
		return 1;
	d = opendir(dir);
	while (d && ret && (e = readdir(d))) {
		if (e->d_name[0] == '.' || !records_our_name(cfg, e->d_name) ||
		    records_path(from, sizeof(from), cfg, pool, e->d_name) ||
		    records_path(to, sizeof(to), cfg, "owned", e->d_name) || records_too_old(from))
			continue; /* an old one is left to the sweep */
		/* The rename is the claim: of two claimers, the second finds nothing to rename. */
		if (rename(from, to))
			continue;
		records_read(to, &pid, id);
		if (strlen(id) != 64 || records_write(to, (long)getpid(), id)) {
			unlink(to); /* a container without a record: the sweep removes it */
			continue;
		}
		memset(ct, 0, sizeof(*ct));
		ct->lang = lang;
		strcpy(ct->name, e->d_name);
		strcpy(ct->id, id);
		ret = 0;
	}
	records_unlock(lock);
	if (d)
		closedir(d);
	return ret;
}

int pool_get(const struct config *cfg, const struct language *lang, int warm_ok,
	     struct container *ct, int *warm, char *err, size_t errlen)
{
	*warm = warm_ok && pool_claim(cfg, lang, ct) == 0;
	if (*warm)
		return 0;
	return make_owned(cfg, lang, ct, err, errlen);
}

int pool_done(const struct config *cfg, const struct container *ct)
{
	char rec[PATH_MAX];
	int lock;

	if (records_path(rec, sizeof(rec), cfg, "owned", ct->name))
		return -1;
	if ((ct->removed && container_dir_remove(cfg, ct->name) == 0) ||
	    (!ct->removed && container_remove(cfg, ct->name) == 0)) {
		lock = records_lock_all(cfg);
		unlink(rec);
		records_unlock(lock);
		return 0;
	}
	/* Docker could not remove it (the engine down?): leave it to the sweep, as a container of
	 * no live process, and make that sweep due. */
	records_write(rec, 0, ct->id[0] ? ct->id : "-");
	sweep_soon(cfg);
	return -1;
}

int pool_size(const struct config *cfg, const struct language *lang)
{
	char pool[64], dir[PATH_MAX];
	struct dirent *e;
	DIR *d;
	int n = 0;

	records_pool(pool, sizeof(pool), lang);
	if (records_path(dir, sizeof(dir), cfg, pool, NULL) || !(d = opendir(dir)))
		return 0;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

int pool_hand_over(const struct config *cfg, const struct container *ct)
{
	char rec[PATH_MAX], to[PATH_MAX];
	int lock, ok;

	if (ct->removed) /* nothing for docker to do: only its directory and record */
		return pool_done(cfg, ct);
	lock = records_lock_all(cfg);
	ok = lock >= 0 && !records_path(rec, sizeof(rec), cfg, "owned", ct->name) &&
	     !records_path(to, sizeof(to), cfg, "done", ct->name) && !rename(rec, to);
	records_unlock(lock);
	return ok ? 0 : pool_done(cfg, ct);
}

/* The names of the records in done/ (of this instance's containers), at most max; how many. */
static int handed(const struct config *cfg, char (*names)[96], int max)
{
	char dir[PATH_MAX];
	struct dirent *e;
	DIR *d;
	int n = 0;

	if (records_path(dir, sizeof(dir), cfg, "done", NULL) || !(d = opendir(dir)))
		return 0;
	while (n < max && (e = readdir(d)))
		if (e->d_name[0] != '.' && strlen(e->d_name) < sizeof(names[0]) &&
		    records_our_name(cfg, e->d_name))
			strcpy(names[n++], e->d_name);
	closedir(d);
	return n;
}

int pool_handed_count(const struct config *cfg)
{
	char names[POOL_REMOVE_MAX][96];

	return handed(cfg, names, POOL_REMOVE_MAX);
}

/* Ends a handed container's record: gone, or (could_not set) back in owned/ with no live owner,
 * a stray for the sweep, which is made due. */
static void end_handed(const struct config *cfg, const char *name, int could_not)
{
	char rec[PATH_MAX], owned[PATH_MAX];
	int lock = records_lock_all(cfg);

	/* still ours to end (a sweep of everything may have taken it over meanwhile) */
	if (lock >= 0 && !records_path(rec, sizeof(rec), cfg, "done", name)) {
		if (!could_not)
			unlink(rec);
		else if (!records_path(owned, sizeof(owned), cfg, "owned", name) && !rename(rec, owned))
			records_write(owned, 0, "-");
	}
	records_unlock(lock);
	if (could_not)
		sweep_soon(cfg);
}

int pool_remove_handed(const struct config *cfg, const volatile sig_atomic_t *stop)
{
	char names[POOL_REMOVE_MAX][96];
	const char *list[POOL_REMOVE_MAX];
	int i, n = handed(cfg, names, POOL_REMOVE_MAX), failed = 0;

	for (i = 0; i < n; i++)
		list[i] = names[i];
	if (n && container_remove_all(cfg, list, n) == 0) {
		for (i = 0; i < n; i++) {
			container_dir_remove(cfg, names[i]);
			end_handed(cfg, names[i], 0);
		}
		return 0;
	}
	/* One each (one may have been gone already); not while docker does not answer at all. */
	if (n && container_engine_ok(cfg) != 1)
		return -1;
	for (i = 0; i < n && !(stop && *stop); i++) {
		int bad = container_remove(cfg, names[i]) != 0;

		end_handed(cfg, names[i], bad);
		failed += bad;
	}
	return i < n ? -1 : failed ? -1 : 0;
}

int pool_refill_one(const struct config *cfg, const struct language *lang,
		    const volatile sig_atomic_t *stop, int (*waiting)(void))
{
	char pool[64], name[80], rec[PATH_MAX], to[PATH_MAX], err[256];
	int lock = -1, records, ret = 0;

	records_pool(pool, sizeof(pool), lang);
	snprintf(name, sizeof(name), "%s.lock", pool);
	if (lang->warm > 0)
		lock = records_lock(cfg, name, 0);
	while (lock >= 0 && pool_size(cfg, lang) < lang->warm && !(stop && *stop) &&
	       !(waiting && waiting())) {
		struct container ct;
		int making = records_making(cfg);

		if (making < 0)
			break; /* a sweep of everything runs: not a failure, the next refill goes on */
		if (make_owned(cfg, lang, &ct, err, sizeof(err))) {
			log_msg("warm pool (%s) not refilled: %s", lang->name, err);
			records_unlock(making);
			ret = -1;
			break;
		}
		records = records_lock_all(cfg);
		if (records < 0 || records_path(rec, sizeof(rec), cfg, "owned", ct.name) ||
		    records_path(to, sizeof(to), cfg, pool, ct.name) || rename(rec, to)) {
			records_unlock(records);
			pool_done(cfg, &ct);
			records_unlock(making);
			ret = -1;
			break;
		}
		records_unlock(records);
		records_unlock(making);
	}
	records_unlock(lock);
	return ret;
}

void pool_refill(const struct config *cfg, const volatile sig_atomic_t *stop, int (*waiting)(void))
{
	int i;

	for (i = 0; i < cfg->langs.n; i++)
		pool_refill_one(cfg, &cfg->langs.list[i], stop, waiting);
}
