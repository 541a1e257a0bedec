/* cutoff.c - a timer that ends a write blocked past its deadline. */
#include "cutoff.h"

#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "spawn.h"

static volatile sig_atomic_t cut_fd = -1;

static void cut(int sig)
{
	(void)sig;
	if (cut_fd >= 0)
		shutdown(cut_fd, SHUT_WR); /* async-signal-safe */
}

int cutoff_call(int fd, int64_t until_ms, int (*fn)(void *arg), void *arg)
{
	struct sigaction sa = { .sa_handler = cut }, old; /* no SA_RESTART: the write is interrupted */
	struct itimerval on = { { 0, 0 }, { 0, 0 } }, off = on;
	int64_t left = until_ms - mono_ms();
	int ret;

	if (left < 1)
		left = 1;
	on.it_value.tv_sec = left / 1000;
	on.it_value.tv_usec = (left % 1000) * 1000;
	sigemptyset(&sa.sa_mask);
	cut_fd = fd;
	sigaction(SIGALRM, &sa, &old);
	setitimer(ITIMER_REAL, &on, NULL);
	ret = fn(arg);
	setitimer(ITIMER_REAL, &off, NULL);
	sigaction(SIGALRM, &old, NULL);
	cut_fd = -1;
	return ret;
}
