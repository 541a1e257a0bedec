/* supervise.h - a program serving its own socket with several worker processes. */
#ifndef SCE_SUPERVISE_H
#define SCE_SUPERVISE_H

/*
 * Forks n (1..256) workers that share the listening socket on fd 0, and keeps n running: a
 * worker that ends is replaced (after a second when it lived less than one). Returns 0 in a
 * worker, which goes on to serve; in the supervisor it returns 1 once SIGTERM or SIGINT came and
 * every worker, sent SIGTERM, has ended; -1 when n is out of range.
 */
int supervise(int n);

#endif
