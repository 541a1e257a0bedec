/* sweep.h - finds and removes what a dead process or a failed removal left behind. */
#ifndef SCE_SWEEP_H
#define SCE_SWEEP_H

#include "config.h"

/*
 * sweep() removes strays: containers of the instance without a record, owned by a dead
 * process, or idle but exited or near their idle end (each taken under the records lock first),
 * then records whose container is gone, containers' directories without a record, and temp
 * files a dead writer left. With SWEEP_EVERYTHING (at start-up and at the end), all containers of
 * the instance and all records. SWEEP_DUE sweeps at most once a minute, SWEEP_NOW at once (after
 * a warm container was found dead); one process at a time (others skip).
 *
 * sweep_soon() makes the next SWEEP_DUE sweep run, however recent the last one.
 */
enum sweep { SWEEP_DUE, SWEEP_NOW, SWEEP_EVERYTHING };
void sweep(const struct config *cfg, enum sweep how);
void sweep_soon(const struct config *cfg);

#endif
