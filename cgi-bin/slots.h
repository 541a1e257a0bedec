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
 * A slot is an flock on one of n files "<dir>/<key>-<i>" (dir must exist). The lock goes with
 * the process, so a killed process frees its slot; the files are never renamed or removed; the
 * descriptor is close-on-exec. When all n are taken, slot_take() keeps the n files open and
 * tries them again every SLOT_POLL_MS until the monotonic time deadline_ms (mono_ms()) passes,
 * or gone_fd (-1: none) becomes readable or hangs up, the sign that the client has left. With
 * n == 0 it returns SLOT_TAKEN and *fd = -1 (no limit).
 *
 * client_key() writes the key of a client address: one of 1024 buckets of a hash of it
 * (addresses that share a bucket share its slots).
 */
enum slot_result { SLOT_ERROR = -1, SLOT_TAKEN = 0, SLOT_BUSY = 1, SLOT_GONE = 2 };
#define SLOT_POLL_MS 20
enum slot_result slot_take(const char *dir, const char *key, int n, int64_t deadline_ms,
			   int gone_fd, int *fd, char *err, size_t errlen);
void slot_release(int fd);
void client_key(const char *addr, char *key, size_t keylen);

#endif
