/* supervise.h - a program serving its own socket with several worker processes. */
#ifndef SCE_SUPERVISE_H
#define SCE_SUPERVISE_H

#define SUPERVISE_MAX 256

/* What supervise() returns in the processes it forks. */
#define SUPERVISE_WORKER 0
#define SUPERVISE_KEEPER 3

/*
 * Forks n (1..SUPERVISE_MAX) workers that share the listening socket on fd 0, and, with keeper
 * set, one keeper process (work that is nobody's request: sweeps on a timer); keeps them all
 * running: one that ends is replaced (after a second when it lived less than one; a failed fork
 * is tried again a second later). Returns SUPERVISE_WORKER in a worker, which goes on to serve,
 * and SUPERVISE_KEEPER in the keeper. In the supervisor it returns once every process, sent
 * SIGTERM, has ended: 1 after SIGTERM or SIGINT, 2 after ten in a row died within a second of
 * their start; -1 when n is out of range.
 */
int supervise(int n, int keeper);

#endif
