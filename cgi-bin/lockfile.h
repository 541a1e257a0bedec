/* lockfile.h - the one way files shared by the service's processes are locked and replaced
 * (history, warm-pool records, metrics, run slots): one place decides modes, durability and
 * error text. */
#ifndef SCE_LOCKFILE_H
#define SCE_LOCKFILE_H

#include <stddef.h>

/* Every file the service writes is its user's alone: it may hold programs, their output and
 * the pool's container names. */
#define LOCKFILE_MODE 0600
#define LOCKFILE_DIR_MODE 0700

/*
 * Calling sequence:
 *   int fd = lockfile_lock(path, wait_ms, err, sizeof(err));
 *   if (fd < 0) ... (err says why: cannot open, not a regular file, busy for wait_ms) ...
 *   ... read, then lockfile_replace() the files the lock guards ...
 *   lockfile_unlock(fd);
 *
 * lockfile_lock() opens path (created LOCKFILE_MODE when missing; never through a symlink, never
 * blocking on a FIFO; close-on-exec) and takes an exclusive flock on it, waiting at most wait_ms
 * (0: one try). The lock file is never renamed or removed, and the lock goes with the process.
 * Returns the descriptor, or -1 with err filled (errno EWOULDBLOCK when it was busy).
 * lockfile_unlock() releases it (-1 is ignored). lockfile_share() is lockfile_lock() for a shared
 * flock (any number of holders, none while an exclusive one is held).
 *
 * lockfile_open() and lockfile_try() are the two halves of lockfile_lock(), for a caller that
 * waits for any of several locks: open (0 or -1, err filled), then try the exclusive flock
 * without waiting (0; or -1 with errno EWOULDBLOCK when held elsewhere, else err filled).
 *
 * lockfile_replace() writes len bytes of data to a temp file beside path (".<name>.tmpXXXXXX",
 * hidden from listings, LOCKFILE_MODE), renames it over path, and with durable set fsyncs the file
 * before and the directory after, so that readers see the old file or the new one, never half of
 * one, also after a crash. Returns 0, or -1 with err filled (the temp file removed).
 */
int lockfile_lock(const char *path, int wait_ms, char *err, size_t errlen);
int lockfile_share(const char *path, int wait_ms, char *err, size_t errlen);
void lockfile_unlock(int fd);
int lockfile_open(const char *path, char *err, size_t errlen);
int lockfile_try(int fd, const char *path, char *err, size_t errlen);
int lockfile_replace(const char *path, const char *data, size_t len, int durable, char *err,
		     size_t errlen);

#endif
