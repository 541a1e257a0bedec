/* supervise.h - a program serving its own socket with several worker processes. */
#ifndef SCE_SUPERVISE_H
#define SCE_SUPERVISE_H

#define SUPERVISE_MAX 256

/*
 * Forks n (1..SUPERVISE_MAX) workers that share the listening socket on fd 0, and keeps n running: a
 * worker that ends is replaced (after a second when it lived less than one; a failed fork is
 * tried again a second later). Returns 0 in a worker, which goes on to serve. In the supervisor
 * it returns once every worker, sent SIGTERM, has ended: 1 after SIGTERM or SIGINT, 2 after ten
 * workers in a row died within a second of their start; -1 when n is out of range.
 */
int supervise(int n);

#endif
