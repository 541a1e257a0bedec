/* client_slots.h - a cap on simultaneous runs per client address, shared by all processes. */
#ifndef SCE_CLIENT_SLOTS_H
#define SCE_CLIENT_SLOTS_H

#include <stddef.h>

/*
 * Calling sequence:
 *   int fd;
 *   switch (client_slot_take(dir, addr, n, &fd, err, sizeof(err))) {
 *   case 0: ... run ...; client_slot_release(fd); break;
 *   case 1: answer 429; break;
 *   default: answer 503 (err says why); break;
 *   }
 *
 * Each slot is an flock on one of n files "<dir>/clients/<bucket>-<i>", where the bucket is a
 * hash of the address (1024 buckets: addresses that share one share its cap). The lock goes with
 * the process, so a killed process frees its slot. The files are never renamed or removed; the
 * descriptor is close-on-exec.
 * client_slot_take() returns 0 with *fd holding the slot, 1 when all n slots are taken, -1 when
 * the slot files can't be used (err filled). With n == 0 it returns 0 and *fd = -1 (no cap).
 */
int client_slot_take(const char *dir, const char *addr, int n, int *fd, char *err, size_t errlen);
void client_slot_release(int fd);

#endif
