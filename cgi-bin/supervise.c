/* supervise.c - keeps N worker processes on one inherited listening socket (systemd's
 * StandardInput=socket gives a single process the socket; lighttpd and spawn-fcgi fork their own). */
#include "supervise.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define MAX_WORKERS 256

static volatile sig_atomic_t stopping;

static void on_stop(int sig)
{
	(void)sig;
	stopping = 1;
}

static void set_handlers(void (*fn)(int))
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = fn;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
}

/* Forks one worker; 0 in the worker, its pid (or -1) in the supervisor. */
static pid_t start_worker(void)
{
	pid_t pid = fork();

	if (pid == 0)
		set_handlers(SIG_DFL); /* the worker installs its own */
	else if (pid < 0)
		log_msg("supervisor: fork: %s", strerror(errno));
	return pid;
}

static int slot_of(const pid_t *pids, int n, pid_t pid)
{
	for (int i = 0; i < n; i++)
		if (pids[i] == pid)
			return i;
	return -1;
}

/* Sends SIGTERM to the workers and reaps them all (each finishes its request first). */
static void stop_workers(pid_t *pids, int n)
{
	int left = 0;

	for (int i = 0; i < n; i++)
		if (pids[i] > 0 && kill(pids[i], SIGTERM) == 0)
			left++;
	while (left > 0) {
		pid_t pid = waitpid(-1, NULL, 0);

		if (pid < 0 && errno == ECHILD)
			break;
		if (pid > 0 && slot_of(pids, n, pid) >= 0)
			left--;
	}
}

int supervise(int n)
{
	pid_t pids[MAX_WORKERS];
	time_t started[MAX_WORKERS];

	if (n < 1 || n > MAX_WORKERS)
		return -1;
	set_handlers(on_stop);
	for (int i = 0; i < n; i++) {
		pids[i] = start_worker();
		if (pids[i] == 0)
			return 0;
		started[i] = time(NULL);
	}
	while (!stopping) {
		int status, i;
		pid_t pid = waitpid(-1, &status, 0);

		if (pid < 0) {
			if (errno == ECHILD) /* no worker could be started */
				sleep(1);
			continue; /* EINTR: a signal, maybe the stop */
		}
		i = slot_of(pids, n, pid);
		if (i < 0 || stopping)
			continue;
		log_msg("supervisor: worker %ld ended (%s %d); starting another", (long)pid,
			WIFSIGNALED(status) ? "signal" : "status",
			WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
		if (time(NULL) - started[i] < 1)
			sleep(1); /* a worker that dies at once is not restarted in a tight loop */
		pids[i] = start_worker();
		if (pids[i] == 0)
			return 0;
		started[i] = time(NULL);
	}
	stop_workers(pids, n);
	return 1;
}
