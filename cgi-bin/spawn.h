/* spawn.h - child processes started with posix_spawn, fed and drained with a deadline. */
#ifndef SCE_SPAWN_H
#define SCE_SPAWN_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Milliseconds on the monotonic clock. */
int64_t mono_ms(void);

/* Output kept from one pipe: at most `limit` bytes; the rest is read and dropped. */
struct capture {
	char *buf;         /* malloc'd, NUL-terminated when len > 0 */
	size_t len;
	size_t limit;
	int truncated;     /* more than limit bytes arrived */
	int eof;
};

struct child {
	pid_t pid;         /* -1 once reaped */
	int status;        /* waitpid status once reaped */
	int in_fd, out_fd, err_fd;
	const char *in;    /* bytes still to write to the child's stdin, then it is closed */
	size_t in_len;
	struct capture out, err;
};

#define CHILD_INIT { -1, 0, -1, -1, -1, NULL, 0, { NULL, 0, 0, 0, 0 }, { NULL, 0, 0, 0, 0 } }

enum pump_end { PUMP_EOF, PUMP_OUTPUT, PUMP_DEADLINE, PUMP_STOPPED, PUMP_GONE, PUMP_ERROR };

/* Reasons to give up early: a flag set by a signal handler, a descriptor that becomes readable
 * when the client goes away. Either may be absent (NULL, -1). */
struct child;
struct interrupt {
	const volatile sig_atomic_t *stop;
	int gone_fd;
	/* Called after each read and at least once a second while pumping; non-zero ends the pump
	 * with PUMP_GONE (a streamed answer that can no longer be written). May be NULL. */
	int (*watch)(void *ctx, const struct child *c);
	void *watch_ctx;
};

/*
 * Calling sequence:
 *   struct child c = CHILD_INIT;
 *   c.in = data; c.in_len = n; c.out.limit = c.err.limit = cap;
 *   child_spawn(&c, "/usr/bin/prog", argv, err, sizeof(err));
 *   child_pump(&c, deadline, 0, &intr);        (as often as needed)
 *   child_wait(&c, deadline);
 *   child_release(&c);                          (always, also after a failed spawn)
 *
 * child_spawn() starts path with argv, stdin/stdout/stderr on pipes, no other descriptor, an
 * empty signal mask, every signal at its default action, its own process group, and a fixed
 * minimal environment (PATH, plus DOCKER_HOST when the service has one, and DOCKER_CONFIG once
 * spawn_docker_config() was called). Returns 0, or -1 with err.
 *
 * child_pump() writes c->in to the child's stdin (closing it when done) and reads its stdout and
 * stderr into c->out and c->err, until both reach EOF (PUMP_EOF), stdout has any bytes when
 * until_output is set (PUMP_OUTPUT), the monotonic time deadline_ms passes (PUMP_DEADLINE),
 * intr->stop becomes non-zero (PUMP_STOPPED), intr->gone_fd becomes readable or hangs up
 * (PUMP_GONE), or poll fails (PUMP_ERROR). intr may be NULL.
 *
 * child_wait() reaps the child; returns 0 with c->status, or -1 when it is still running at
 * deadline_ms. child_kill() sends SIGKILL to the child's process group and reaps the child.
 *
 * child_release() closes the pipes, kills and reaps a child still running, frees the captures.
 */
/* spawn_docker_config() makes "<state_dir>/docker-config", an empty directory of the service's
 * own, the docker CLI's config for every child: a ~/.docker/config.json of the service's user
 * (proxies would be copied into every container's environment) is never read. */
void spawn_docker_config(const char *state_dir);
int child_spawn(struct child *c, const char *path, char *const argv[], char *err, size_t errlen);
enum pump_end child_pump(struct child *c, int64_t deadline_ms, int until_output,
			 const struct interrupt *intr);
int child_wait(struct child *c, int64_t deadline_ms);
void child_kill(struct child *c);
void child_release(struct child *c);

/*
 * spawn_capture() runs path with argv and no input, keeps up to outlen-1 bytes of its stdout in
 * out (NUL-terminated) and waits at most timeout_ms. Returns the exit status (0-255), or -1 when
 * it could not run, was killed, or overran the time (it is then killed).
 */
int spawn_capture(const char *path, char *const argv[], int timeout_ms, char *out, size_t outlen);

#endif
