/* pool.h - containers made ready ahead of time, each handed to exactly one run, and the
 * records that let every container of ours be accounted for (and strays removed). */
#ifndef SCE_POOL_H
#define SCE_POOL_H

#include <signal.h>

#include "config.h"
#include "container.h"

/*
 * Records, in cfg->state_dir:
 *   pool/<language>/<name>  an idle, running container, ready for one run ("<pid> <id>")
 *   owned/<name>            a container being made or used by process <pid> ("<pid> <id>")
 * Every container of the instance has exactly one record from before `docker run` until after
 * `docker rm`, so one with no record, or owned by a dead process, is a stray.
 *
 * Records are written atomically and moved under a short lock (records.lock), so a sweep never
 * sees a container between two records.
 *
 * pool_get() hands out a container for one run: an idle one from the pool (when warm_ok; claimed
 * by an atomic rename, so no two processes get the same; none close to its idle end), else a
 * new one made now. Returns 0 with ct filled,
 * or -1 with err (a message fit for a client).
 * pool_done() removes a used container (no docker rm when ct->removed) and its record: 0; when
 * docker can't, the record is left for the next sweep (made due): -1.
 * pool_refill() tops each language's pool up to its configured size; one process at a time per
 * language (others skip). It stops early once *stop is set, or once waiting() says a request is
 * waiting for this process (both may be NULL). Meant for after the answer has gone.
 * pool_sweep() removes strays: containers of the instance without a record, owned by a dead
 * process, or idle but exited or near their idle end (each taken under the records lock first); with everything set, all containers of the instance
 * and all records (SWEEP_EVERYTHING, at start-up). SWEEP_DUE sweeps at most once a minute,
 * SWEEP_NOW at once (after a warm container was found dead); one process at a time.
 */
int pool_get(const struct config *cfg, enum language lang, int warm_ok, struct container *ct,
	     int *warm, char *err, size_t errlen);
int pool_done(const struct config *cfg, const struct container *ct);
/* pool_claim() takes one idle container of lang out of the pool for this process: 0 with ct
 * filled, 1 when there is none (or the records lock can't be had). */
int pool_claim(const struct config *cfg, enum language lang, struct container *ct);
void pool_refill(const struct config *cfg, const volatile sig_atomic_t *stop, int (*waiting)(void));

/* pool_check_state() makes the state directories when missing, then checks that each is a
 * directory of the service's user that no one else can write to (records there name containers
 * to exec into and remove). 0, or -1 with err saying what to fix. */
int pool_check_state(const struct config *cfg, char *err, size_t errlen);

/* Idle containers of lang in the pool now. */
int pool_size(const struct config *cfg, enum language lang);
enum sweep { SWEEP_DUE, SWEEP_NOW, SWEEP_EVERYTHING };
void pool_sweep(const struct config *cfg, enum sweep how);

#endif
