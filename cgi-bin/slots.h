/* slots.h - counted slots shared by all processes: runs at once, per client and in all. */
#ifndef SCE_SLOTS_H
#define SCE_SLOTS_H

#include <stddef.h>
#include <stdint.h>

/*
 * Calling sequence:
 *   int fd;
 *   switch (slot_take(dir, key, n, deadline, gone_fd, &fd, err, sizeof(err))) {
 *   case SLOT_TAKEN: ... run ...; slot_release(fd); break;
 *   case SLOT_BUSY: all n taken until the deadline (answer 429 or 503); break;
 *   case SLOT_GONE: the client went away while waiting; break;
 *   default: the slot files can't be used (err says why); break;
 *   }
 *
 * A slot is an flock on one of n files "<dir>/<key>-<i>" (dir and dir/line must exist). The lock
 * goes with the process, so a killed process frees its slot; the files are never renamed or
 * removed; the descriptor is close-on-exec. With n == 0 it returns SLOT_TAKEN and *fd = -1 (no
 * limit).
 *
 * First come, first served: a free slot is taken at once only when no one waits for the key.
 * Otherwise the process joins the key's line (unless deadline_ms has passed: then SLOT_BUSY),
 * an entry "<dir>/line/<key>.<ticket>.<pid>" (the ticket its arrival in monotonic ns, fixed
 * width, so that names sort in arrival order), made under a hidden name, locked, then renamed
 * in, and held under that flock while it waits; only the first live waiter takes a slot. It
 * sleeps in poll on gone_fd (-1: none), which becomes readable or hangs up when the client has
 * left, and on an inotify watch of dir and dir/line, which wakes it when any slot file there is
 * closed (a release, and a waiter's own files as it stops) or a waiter leaves; and it looks
 * again at least every SLOT_LOOK_MS, for a holder that was killed (the kernel reports its
 * close before its lock goes). Where inotify cannot be had, it looks every SLOT_POLL_MS. An
 * entry found without its lock was left by a waiter that died: the look removes it.
 * slot_release() unlocks, then closes.
 *
 * client_key() writes the key of a client address: one of 1024 buckets of a hash of it
 * (addresses that share a bucket share its slots).
 */
enum slot_result { SLOT_ERROR = -1, SLOT_TAKEN = 0, SLOT_BUSY = 1, SLOT_GONE = 2 };
#define SLOT_POLL_MS 20
#define SLOT_LOOK_MS 1000
enum slot_result slot_take(const char *dir, const char *key, int n, int64_t deadline_ms,
			   int gone_fd, int *fd, char *err, size_t errlen);
void slot_release(int fd);
/* Removes the entries that waiters which died left in dir's line (for keys no one waits for
 * again, which no look of a waiter would reach; a hidden one, of a waiter that died joining,
 * once a minute old). */
void slot_sweep_line(const char *dir);
void client_key(const char *addr, char *key, size_t keylen);

#endif
