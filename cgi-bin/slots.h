/* slots.h - counted slots shared by all processes: runs at once, per client and in all. */
#ifndef SCE_SLOTS_H
#define SCE_SLOTS_H

#include <stddef.h>

/*
 * Calling sequence:
 *   int fd;
 *   switch (slot_take(dir, key, n, wait_ms, &fd, err, sizeof(err))) {
 *   case 0: ... run ...; slot_release(fd); break;
 *   case 1: all n taken (answer 429 or 503); break;
 *   default: the slot files can't be used (err says why); break;
 *   }
 *
 * A slot is an flock on one of n files "<dir>/<key>-<i>" (dir is created when missing). The lock
 * goes with the process, so a killed process frees its slot; the files are never renamed or
 * removed; the descriptor is close-on-exec. When all n are taken, slot_take() tries again until
 * wait_ms have passed. It returns 0 with *fd holding the slot, 1 when none came free, -1 on
 * error. With n == 0 it returns 0 and *fd = -1 (no limit).
 *
 * client_key() writes the key of a client address: one of 1024 buckets of a hash of it
 * (addresses that share a bucket share its slots).
 */
int slot_take(const char *dir, const char *key, int n, int wait_ms, int *fd, char *err,
	      size_t errlen);
void slot_release(int fd);
void client_key(const char *addr, char *key, size_t keylen);

#endif
