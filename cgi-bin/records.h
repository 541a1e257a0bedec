/* records.h - the files in state_dir that account for every container of the instance. */
#ifndef SCE_RECORDS_H
#define SCE_RECORDS_H

#include <stddef.h>

#include "config.h"

/*
 * Records, in cfg->state_dir:
 *   pool/<language>/<name>  an idle, running container, ready for one run ("<pid> <id>")
 *   owned/<name>            a container being made or used by process <pid> ("<pid> <id>")
 *   done/<name>             a used container handed to the keeper, which removes it
 * Every container of the instance has exactly one record from before `docker run` until after
 * `docker rm`, so one with no record, or owned by a dead process, is a stray. (code/<name> is the
 * container's directory, made and removed with it: container.h.)
 *
 * Records are written atomically and moved under a short lock (records.lock), so a sweep never
 * sees a container between two records.
 *
 * records_check_state() makes the state directories when missing (a pool directory for each
 * language of the table), then checks that each is a directory of the service's user that no one
 * else can write to (records there name containers to exec into and remove). 0, or -1 with err
 * saying what to fix.
 *
 * records_path() puts <state_dir>/<sub>[/<name>] in buf (name may be NULL); -1 when too long.
 * records_pool() puts "pool/<language>" in buf.
 *
 * records_lock() takes <state_dir>/<name> as an flock: waiting up to wait_ms (0: only if free);
 * the descriptor, or -1 (logged when it waited). records_unlock() releases it
 * (-1 is fine). records_lock_all() is records_lock(cfg, "records.lock", RECORDS_LOCK_MS).
 *
 * records_making() is held (shared) while a container is made for a warm pool, from before its
 * record until it is in the pool: the descriptor to release with records_unlock(), or -1 (logged)
 * after RECORDS_LOCK_MS (a sweep of everything runs: the refill stops, and is not a failure). records_halt_making() is what a sweep of everything holds, so that no
 * container is made meanwhile, whose record it would drop: it waits up to RECORDS_HALT_MS for
 * those being made, and no new one begins while it waits. The descriptor, with the gate's in
 * *gate (release both), or -1 (logged).
 *
 * records_write() writes "<pid> <id>" to path atomically; 0 or -1 (logged).
 * records_read() reads one back: pid 0 and id "" when unreadable, not the service user's regular
 * file, or not a record (the id must be docker's 64 hex digits, or "-" before it is known).
 *
 * records_our_name() is true for a name of this instance's containers: "sce-<instance>-<pid>-<16
 * hex>" (an instance "a" does not take the names of an instance "a-b").
 * records_alive() is true when process pid exists.
 * records_too_old() is true for a record of an idle container close to its idle end.
 */
#define RECORDS_LOCK_MS 3000
#define RECORDS_HALT_MS 60000

int records_check_state(const struct config *cfg, char *err, size_t errlen);
int records_path(char *buf, size_t len, const struct config *cfg, const char *sub, const char *name);
void records_pool(char *buf, size_t len, const struct language *lang);
int records_lock(const struct config *cfg, const char *name, int wait_ms);
int records_lock_all(const struct config *cfg);
void records_unlock(int fd);
int records_making(const struct config *cfg);
int records_halt_making(const struct config *cfg, int *gate);
int records_write(const char *path, long pid, const char *id);
void records_read(const char *path, long *pid, char *id);
int records_our_name(const struct config *cfg, const char *name);
int records_alive(long pid);
int records_too_old(const char *path);

#endif
