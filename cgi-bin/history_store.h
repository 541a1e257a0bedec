/* history_store.h - the last executions, kept in one JSON file that several processes update. */
#ifndef SCE_HISTORY_STORE_H
#define SCE_HISTORY_STORE_H

#include <stddef.h>
#include <sys/stat.h>

struct cJSON;

/* The largest history file read; a larger one is set aside as not a history (config.c refuses
 * history_size and output_limit whose entries could add up to more). */
#define HISTORY_MAX_BYTES (64L << 20)
/* Files set aside ("<path>.corrupt-*") are kept up to this many, the newest. */
#define HISTORY_ASIDE_KEEP 3

/*
 * history_read_new() returns the array stored at path, newest first; a new, empty array when the
 * file does not exist. The caller deletes it with cJSON_Delete().
 * Errors: NULL with err filled, and *corrupt set when what is there is not a history (not a
 * regular file, a symlink, too large, not a JSON array) rather than unreadable for now (no
 * descriptors, no memory, a read error). corrupt may be NULL. Never follows a symlink, never
 * blocks on a FIFO.
 * history_read_kept_new() is the same, and when it returns an array read from a file, leaves
 * that file open in *kept_fd (the caller closes it) and its fstat in *kept_st; *kept_fd is
 * untouched when there was no file.
 *
 * history_append() puts entry first in the array at path and keeps the newest `keep` entries.
 * It holds an exclusive flock on "<path>.lock" (a file that is never renamed or removed) only
 * around read-modify-write, waiting for it at most lock_ms; the new file is written to a temp
 * file in the same directory, fsynced and renamed over path, so readers see the old file or the
 * new one. A file that is not a history is renamed aside ("<path>.corrupt-<time>") and the
 * history starts afresh; that is logged. One that can't be read for now is left alone (-1).
 * Temp files left by a writer that died are removed.
 * Takes ownership of entry in every case. Returns 0, or -1 with err filled.
 */
struct cJSON *history_read_new(const char *path, int *corrupt, char *err, size_t errlen);
struct cJSON *history_read_kept_new(const char *path, int *kept_fd, struct stat *kept_st,
				    int *corrupt, char *err, size_t errlen);
int history_append(const char *path, int keep, int lock_ms, struct cJSON *entry, char *err,
		   size_t errlen);

#endif
