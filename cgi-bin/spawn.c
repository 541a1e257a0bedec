/* spawn.c - posix_spawn with pipes, one poll loop with a monotonic deadline, bounded waits. */
#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char docker_config[PATH_MAX + 16];

void spawn_docker_config(const char *state_dir)
{
	char dir[PATH_MAX];

	if ((size_t)snprintf(dir, sizeof(dir), "%s/docker-config", state_dir) >= sizeof(dir))
		return;
	mkdir(state_dir, 0700);
	mkdir(dir, 0700); /* empty: no proxies, no credential helpers, no plugins */
	snprintf(docker_config, sizeof(docker_config), "DOCKER_CONFIG=%s", dir);
}

static char *const *child_env(void)
{
	static char docker_host[512];
	static char *env[4] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin" };
	const char *dh = getenv("DOCKER_HOST");
	size_t n = 1;

	if (dh && *dh && (size_t)snprintf(docker_host, sizeof(docker_host), "DOCKER_HOST=%s", dh) <
				 sizeof(docker_host))
		env[n++] = docker_host;
	if (docker_config[0])
		env[n++] = docker_config;
	env[n] = NULL;
	return env;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

int child_spawn(struct child *c, const char *path, char *const argv[], char *err, size_t errlen)
{
	int fds[3][2] = { { -1, -1 }, { -1, -1 }, { -1, -1 } };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, defaults;
	int i, rc, ret = -1, fa_ok = 0, attr_ok = 0;

	for (i = 0; i < 3; i++) {
		if (pipe2(fds[i], O_CLOEXEC)) {
			snprintf(err, errlen, "pipe: %s", strerror(errno));
			goto out;
		}
	}
	if (posix_spawn_file_actions_init(&fa) || (fa_ok = 1, 0) ||
	    posix_spawn_file_actions_adddup2(&fa, fds[0][0], 0) ||
	    posix_spawn_file_actions_adddup2(&fa, fds[1][1], 1) ||
	    posix_spawn_file_actions_adddup2(&fa, fds[2][1], 2) ||
	    posix_spawn_file_actions_addclosefrom_np(&fa, 3)) {
		snprintf(err, errlen, "spawn file actions failed");
		goto out;
	}
	sigemptyset(&none);
	sigfillset(&defaults); /* every catchable signal, whatever the service inherited ignored */
	if (posix_spawnattr_init(&attr) || (attr_ok = 1, 0) ||
	    posix_spawnattr_setsigmask(&attr, &none) ||
	    posix_spawnattr_setsigdefault(&attr, &defaults) ||
	    posix_spawnattr_setpgroup(&attr, 0) ||
	    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
						    POSIX_SPAWN_SETPGROUP)) {
		snprintf(err, errlen, "spawn attributes failed");
		goto out;
	}
	rc = posix_spawn(&c->pid, path, &fa, &attr, argv, child_env());
	if (rc) {
		c->pid = -1;
		snprintf(err, errlen, "cannot run %s: %s", path, strerror(rc));
		goto out;
	}
	c->in_fd = fds[0][1];
	c->out_fd = fds[1][0];
	c->err_fd = fds[2][0];
	fds[0][1] = fds[1][0] = fds[2][0] = -1;
	fcntl(c->in_fd, F_SETFL, O_NONBLOCK);
	fcntl(c->out_fd, F_SETFL, O_NONBLOCK);
	fcntl(c->err_fd, F_SETFL, O_NONBLOCK);
	ret = 0;
out:
	if (attr_ok)
		posix_spawnattr_destroy(&attr);
	if (fa_ok)
		posix_spawn_file_actions_destroy(&fa);
	for (i = 0; i < 3; i++) {
		close_fd(&fds[i][0]);
		close_fd(&fds[i][1]);
	}
	return ret;
}

/* Reads what is there; EOF or a read error closes the pipe. */
static void drain(int *fd, struct capture *cap)
{
	char chunk[16384];
	ssize_t n;
	int round;

	/* A bounded number of reads, so that a pipe kept full can't starve the rest of the loop. */
	for (round = 0; round < 16; round++) {
		n = read(*fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			cap->eof = 1;
			close_fd(fd);
			return;
		}
		if (cap->len < cap->limit) {
			size_t keep = (size_t)n;
			char *grown;

			if (keep > cap->limit - cap->len)
				keep = cap->limit - cap->len;
			grown = realloc(cap->buf, cap->len + keep + 1);
			if (!grown) {
				cap->truncated = 1;
				continue;
			}
			cap->buf = grown;
			memcpy(cap->buf + cap->len, chunk, keep);
			cap->len += keep;
			cap->buf[cap->len] = '\0';
			if (keep < (size_t)n)
				cap->truncated = 1;
		} else {
			cap->truncated = 1;
		}
	}
}

static void feed(struct child *c)
{
	while (c->in_len) {
		ssize_t n = write(c->in_fd, c->in, c->in_len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n < 0) { /* EPIPE: the child will not read the rest */
			c->in_len = 0;
			break;
		}
		c->in += n;
		c->in_len -= (size_t)n;
	}
	close_fd(&c->in_fd);
}

enum pump_end child_pump(struct child *c, int64_t deadline_ms, int until_output,
			 const struct interrupt *intr)
{
	int gone_fd = intr ? intr->gone_fd : -1;

	for (;;) {
		struct pollfd pfd[4];
		int n = 0, rc, i;
		int64_t left;

		if (c->in_fd >= 0 && !c->in_len)
			close_fd(&c->in_fd);
		if (until_output && c->out.len)
			return PUMP_OUTPUT;
		if (c->out_fd < 0 && c->err_fd < 0)
			return PUMP_EOF;
		if (intr && intr->stop && *intr->stop)
			return PUMP_STOPPED;
		left = deadline_ms - mono_ms();
		if (left <= 0)
			return PUMP_DEADLINE;
		if (c->in_fd >= 0)
			pfd[n++] = (struct pollfd){ .fd = c->in_fd, .events = POLLOUT };
		if (c->out_fd >= 0)
			pfd[n++] = (struct pollfd){ .fd = c->out_fd, .events = POLLIN };
		if (c->err_fd >= 0)
			pfd[n++] = (struct pollfd){ .fd = c->err_fd, .events = POLLIN };
		if (gone_fd >= 0)
			pfd[n++] = (struct pollfd){ .fd = gone_fd, .events = POLLIN };
		rc = poll(pfd, (nfds_t)n, left > 1000 ? 1000 : (int)left);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0)
			return PUMP_ERROR;
		for (i = 0; i < n; i++) {
			if (!pfd[i].revents)
				continue;
			if (pfd[i].fd == gone_fd)
				return PUMP_GONE;
			if (pfd[i].fd == c->in_fd)
				feed(c);
			else if (pfd[i].fd == c->out_fd)
				drain(&c->out_fd, &c->out);
			else if (pfd[i].fd == c->err_fd)
				drain(&c->err_fd, &c->err);
		}
		if (intr && intr->watch && intr->watch(intr->watch_ctx, c))
			return PUMP_GONE;
	}
}

int child_wait(struct child *c, int64_t deadline_ms)
{
	struct timespec pause = { 0, 2 * 1000 * 1000 };

	while (c->pid > 0) {
		pid_t r = waitpid(c->pid, &c->status, WNOHANG);

		if (r == c->pid) {
			c->pid = -1;
			break;
		}
		if (r < 0 && errno == ECHILD) { /* reaped elsewhere: the outcome is unknown */
			c->pid = -1;
			c->status = SIGKILL; /* reads as killed by a signal */
			break;
		}
		if (r < 0 && errno != EINTR)
			return -1;
		if (mono_ms() >= deadline_ms)
			return -1;
		nanosleep(&pause, NULL);
		if (pause.tv_nsec < 50 * 1000 * 1000)
			pause.tv_nsec *= 2;
	}
	return 0;
}

void child_kill(struct child *c)
{
	if (c->pid <= 0)
		return;
	kill(-c->pid, SIGKILL); /* its process group: whatever it started goes too */
	kill(c->pid, SIGKILL);
	while (waitpid(c->pid, &c->status, 0) < 0 && errno == EINTR)
		;
	c->pid = -1;
}

void child_release(struct child *c)
{
	close_fd(&c->in_fd);
	close_fd(&c->out_fd);
	close_fd(&c->err_fd);
	child_kill(c);
	free(c->out.buf);
	free(c->err.buf);
	c->out.buf = c->err.buf = NULL;
	c->out.len = c->err.len = 0;
}

int spawn_capture(const char *path, char *const argv[], int timeout_ms, char *out, size_t outlen)
{
	struct child c = CHILD_INIT;
	int64_t deadline = mono_ms() + timeout_ms;
	char err[256];
	int ret = -1;

	c.out.limit = outlen ? outlen - 1 : 0;
	c.err.limit = 4096;
	if (outlen)
		out[0] = '\0';
	if (child_spawn(&c, path, argv, err, sizeof(err)))
		goto out;
	if (child_pump(&c, deadline, 0, NULL) != PUMP_EOF || child_wait(&c, deadline))
		goto out;
	if (!WIFEXITED(c.status))
		goto out;
	if (outlen && c.out.len)
		memcpy(out, c.out.buf, c.out.len + 1);
	ret = WEXITSTATUS(c.status);
out:
	child_release(&c);
	return ret;
}
