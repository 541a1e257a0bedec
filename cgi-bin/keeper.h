/* keeper.h - the work after the answers, done by the keeper process beside the workers. */
#ifndef SCE_KEEPER_H
#define SCE_KEEPER_H

#include "http.h"

/*
 * keeper_work() is what the keeper does every KEEP_EVERY_MS (front.h): it starts, each in a
 * child process of its own so that none waits for another, the removal of the used containers
 * the workers handed over (pool_remove_handed) and the refill of each warm pool that is short
 * (pool_refill_one, one child per language); the sweep when it is due (sweep.h: at once after
 * sweep_soon()); every KEEPER_SLOW_MS, the flush of history entries waiting for Redis. It reaps the children that ended; one that
 * failed (docker away) is not started again for 2 s, twice as long after each failure in a row
 * (at most a minute). Once *svc->stop is set (the supervisor stops the workers first, then the
 * keeper) it asks its refills to stop (SIGTERM: each ends after the container it is making),
 * waits for its children, removes what the workers handed over last, and returns.
 */
#define KEEPER_SLOW_MS 2000

void keeper_work(const struct service *svc);

#endif
