/* history.h - the history of runs, kept by the backend the config names: the file alone
 * ("file"), or Redis shared by every host with the file as this host's own copy ("redis"). */
#ifndef SCE_HISTORY_H
#define SCE_HISTORY_H

#include <stddef.h>

#include "config.h"

struct cJSON;

/*
 * history_record() keeps entry (taking ownership of it in every case), timed now. With the file
 * backend: history_append() to history_path. With Redis: the entry goes to history_path as well
 * (this host's own copy), and to Redis together with the entries waiting for it; when Redis
 * cannot take them they wait in "<state_dir>/history-waiting" (the newest history_size, which is
 * all Redis keeps) until a later call or history_flush() gets them there, each once and in its
 * place by time. Returns 0 when the entry is kept (in Redis, or waiting for it), -1 with err
 * filled when not.
 *
 * history_newest_new() returns the text of the JSON array GET /history answers (newest first,
 * with a final newline; *len its length); the caller frees it. With Redis, the shared entries;
 * when Redis is unreachable, this host's own copy, with *degraded set. NULL with err filled and
 * *unreadable set when the file is not a history (answered as an empty one).
 *
 * history_flush() sends the waiting entries to Redis (the keeper calls it every few seconds, so
 * they arrive though no run comes). history_waiting() counts them (-1 when unknown).
 * history_degraded() is 1 when the backend is Redis and Redis does not answer now.
 */
/* Entries kept waiting at most: history_size's largest value (Redis keeps no more). */
#define HISTORY_WAITING_MAX 50

int history_record(const struct config *cfg, struct cJSON *entry, char *err, size_t errlen);
char *history_newest_new(const struct config *cfg, size_t *len, int *degraded, int *unreadable,
			 char *err, size_t errlen);
void history_flush(const struct config *cfg);
long history_waiting(const struct config *cfg);
int history_degraded(const struct config *cfg);

#endif
