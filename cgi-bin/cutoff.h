/* cutoff.h - a blocking write to a socket, cut at a deadline. */
#ifndef SCE_CUTOFF_H
#define SCE_CUTOFF_H

#include <stdint.h>

/*
 * cutoff_call() calls fn(arg), which writes to the socket fd and may block (a peer that stays
 * connected and reads nothing: its buffers, then the socket's, fill up), and returns what fn
 * returns. Should fn still be running at until_ms (mono_ms()), a timer shuts fd's write side:
 * the write blocked then fails (EINTR, or EPIPE once it had written part), and so does every
 * later one on fd, so fn returns. The connection cannot be written to after a cut; the caller
 * treats it as the peer gone. SIGALRM and the process's real-time interval timer are used
 * (and left as they were); one call at a time per process. SIGPIPE must be ignored.
 */
int cutoff_call(int fd, int64_t until_ms, int (*fn)(void *arg), void *arg);

#endif
