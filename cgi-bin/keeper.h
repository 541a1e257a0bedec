/* keeper.h - the work after the answers, done by the keeper process beside the workers. */
#ifndef SCE_KEEPER_H
#define SCE_KEEPER_H

#include "http.h"

/*
 * keeper_work() is what the keeper does every KEEP_EVERY_MS (front.h): it starts, each in a
 * child process of its own so that none waits for another, the removal of the used containers
 * the workers handed over (pool_remove_handed) and the refill of each warm pool that is short
 * (pool_refill_one, one child per language); every KEEPER_SLOW_MS, the sweep when it is due and
 * the flush of history entries waiting for Redis. It reaps the children that ended. Once
 * *svc->stop is set it asks its children to stop (SIGTERM: a refill ends after the container it
 * is making), waits for them and returns; what is left is the next keeper's, or the sweep's.
 */
#define KEEPER_SLOW_MS 2000

void keeper_work(const struct service *svc);

#endif
