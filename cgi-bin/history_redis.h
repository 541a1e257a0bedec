/* history_redis.h - the history several hosts share: one sorted set in Redis, scored by time. */
#ifndef SCE_HISTORY_REDIS_H
#define SCE_HISTORY_REDIS_H

#include <stddef.h>

#include "config.h"

/*
 * Each entry is a member of the sorted set cfg->redis_key: its member the entry's JSON text
 * (which holds the entry's unique "id"), its score the entry's time in milliseconds. Adding a
 * member that is there already changes nothing, so an entry sent again (after a reply that was
 * lost, or replayed after an outage) is there once, and in its place by time.
 *
 * One connection per process, made when first needed, with cfg->redis_timeout_ms for the
 * connect and for every reply, and AUTH with the first line of cfg->redis_password_file when
 * set. A connection made earlier that Redis closed (restarted, or it dropped an idle client) is
 * made again and the commands sent once more. After a failure the connection is dropped; a new
 * one is tried at the next call, but not within HISTORY_REDIS_RETRY_MS of a failure that took
 * time (a Redis that hangs, or a host that does not answer, costs a run nothing but that check,
 * and one timeout a second per process); a refused connection (Redis stopped) costs nothing, so
 * the next call tries again.
 *
 * history_redis_add() adds n entries (texts[i] scored scores[i]) and trims the set to its
 * newest cfg->history_size. Returns 0, or -1 with err filled.
 * history_redis_newest_new() returns the newest cfg->history_size entries, newest first, as the
 * text of a JSON array (with a final newline; *len its length); the caller frees it. NULL with
 * err filled.
 * history_redis_ping() returns 0 when Redis answers PING, -1 (err filled) when not.
 */
#define HISTORY_REDIS_RETRY_MS 1000

int history_redis_add(const struct config *cfg, const char *const *texts, const long long *scores,
		      size_t n, char *err, size_t errlen);
char *history_redis_newest_new(const struct config *cfg, size_t *len, char *err, size_t errlen);
int history_redis_ping(const struct config *cfg, char *err, size_t errlen);

#endif
