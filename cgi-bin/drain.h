/* drain.h - taking a host out of the front's rotation: its runs end, no new one starts. */
#ifndef SCE_DRAIN_H
#define SCE_DRAIN_H

#include "config.h"

/*
 * A host drains while the file "<state_dir>/draining" exists: POST /run answers 503 (nothing
 * run: the front tries another host) and /readyz 503 with "draining": true, so the front's
 * health check takes the host out; runs already going end as usual.
 *
 * drain_is_on() is 1 while draining. drain_start() makes the file, then waits up to wait_s
 * seconds for the runs in flight to end, saying so on stdout; 0 once none runs, 1 when some
 * still did at the end of the wait (or they cannot be counted), -1 when the file could not be
 * made (err filled). A request already waiting for its turn when the drain began is refused
 * once it gets it, so none starts after "drained".
 * drain_stop() removes it: 0, or -1 with err filled.
 */
int drain_is_on(const struct config *cfg);
int drain_start(const struct config *cfg, int wait_s, char *err, size_t errlen);
int drain_stop(const struct config *cfg, char *err, size_t errlen);

#endif
