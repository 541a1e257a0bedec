/* pool.h - containers made ready ahead of time, each handed to exactly one run. */
#ifndef SCE_POOL_H
#define SCE_POOL_H

#include <signal.h>

#include "config.h"
#include "container.h"

/*
 * The pool of a language is its records in pool/<language> (records.h): idle, running
 * containers, each waiting for one run.
 *
 * pool_get() hands out a container for one run: an idle one from the pool (when warm_ok), else
 * a new one made now. Returns 0 with ct filled, or -1 with err (a message fit for a client).
 * pool_claim() takes one idle container of lang out of the pool for this process: 0 with ct
 * filled, 1 when there is none (or the records lock can't be had). The rename of its record is
 * the claim, so no two processes get the same; none close to its idle end is handed out.
 * pool_done() removes a used container (no docker rm when ct->removed) and its record: 0; when
 * docker can't, the record is left for the next sweep (made due): -1.
 * pool_refill() tops each language's pool up to its "warm"; one process at a time per language
 * (others skip). It stops early once *stop is set, or once waiting() says a request is waiting
 * for this process (both may be NULL). Meant for after the answer has gone.
 * pool_refill_one() does the same for one language: 0, or -1 when a container could not be
 * made (docker away?).
 * pool_size() counts the idle containers of lang now.
 *
 * After the answer, where a keeper runs beside the workers (keeper.h), a worker hands its used
 * container over rather than remove it: pool_hand_over() moves its record to done/ (a container
 * already removed is done with at once, as pool_done()), 0; when the record cannot move,
 * pool_done() there and then. The keeper's pool_remove_handed() removes those (at most
 * POOL_REMOVE_MAX at a time) with one docker command, or one each when that fails, while docker
 * answers and *stop is not set: 0 when all went, -1 when some are left (one docker could not
 * remove goes back to owned/ with no live owner: a stray, for the sweep, made due).
 * pool_handed_count() counts them (at most POOL_REMOVE_MAX).
 */
#define POOL_REMOVE_MAX 64

int pool_get(const struct config *cfg, const struct language *lang, int warm_ok,
	     struct container *ct, int *warm, char *err, size_t errlen);
int pool_claim(const struct config *cfg, const struct language *lang, struct container *ct);
int pool_done(const struct config *cfg, const struct container *ct);
void pool_refill(const struct config *cfg, const volatile sig_atomic_t *stop, int (*waiting)(void));
int pool_refill_one(const struct config *cfg, const struct language *lang,
		    const volatile sig_atomic_t *stop, int (*waiting)(void));
int pool_hand_over(const struct config *cfg, const struct container *ct);
int pool_remove_handed(const struct config *cfg, const volatile sig_atomic_t *stop);
int pool_handed_count(const struct config *cfg);
int pool_size(const struct config *cfg, const struct language *lang);

#endif
