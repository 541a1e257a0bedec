/* supervise.c - keeps N worker processes on one inherited listening socket (systemd's
 * StandardInput=socket hands the socket to one process; lighttpd and spawn-fcgi fork their own). */
#include "supervise.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "spawn.h"

#define QUICK_DEATHS_MAX 10 /* workers in a row that died within a second: give up */

struct worker {
	int keeper;         /* the keeper, not a worker */
	pid_t pid;          /* 0: to be started */
	int64_t started;    /* mono_ms() */
	int64_t not_before; /* no restart before then */
};

/* The signals the supervisor takes synchronously (sigtimedwait), blocked from the start so that
 * none is lost between a check and a wait. */
static void supervisor_signals(sigset_t *set)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL; /* SIGCHLD must not be ignored: workers are reaped by waitpid */
	sigaction(SIGCHLD, &sa, NULL);
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGCHLD);
	sigprocmask(SIG_BLOCK, set, NULL);
}

/* Forks one process: 0 in it (signals back to their defaults and unblocked: a stop sent at once
 * ends it), its pid in the supervisor, -1 when fork failed (tried again later). */
static pid_t start_worker(struct worker *w, const sigset_t *set)
{
	pid_t pid = fork();

	if (pid == 0) {
		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		sigprocmask(SIG_UNBLOCK, set, NULL);
		return 0;
	}
	if (pid < 0) {
		log_msg("supervisor: fork: %s", strerror(errno));
		w->not_before = mono_ms() + 1000;
		return -1;
	}
	w->pid = pid;
	w->started = mono_ms();
	return pid;
}

/* Reaps the workers that ended; their slots are started again, a second later when they lived
 * less than one. Returns how many in a row died that quickly. */
static int reap(struct worker *w, int n, int quick_deaths)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (int i = 0; i < n; i++) {
			if (w[i].pid != pid)
				continue;
			log_msg("supervisor: %s %ld ended (%s %d); starting another",
				w[i].keeper ? "keeper" : "worker", (long)pid,
				WIFSIGNALED(status) ? "signal" : "status",
				WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
			w[i].pid = 0;
			w[i].not_before = mono_ms() - w[i].started < 1000 ? mono_ms() + 1000 : 0;
			if (!w[i].keeper) /* a keeper that fails must not stop the workers */
				quick_deaths = w[i].not_before > 0 ? quick_deaths + 1 : 0;
		}
	}
	return quick_deaths;
}

/* Sends SIGTERM to the workers and waits for them (each finishes its request first), then to
 * the keeper, so that it finds every container the workers handed over, and waits for it. */
static void stop_workers(struct worker *w, int n)
{
	for (int i = 0; i < n; i++)
		if (w[i].pid > 0 && !w[i].keeper)
			kill(w[i].pid, SIGTERM);
	for (int i = 0; i < n; i++)
		while (w[i].pid > 0 && !w[i].keeper && waitpid(w[i].pid, NULL, 0) < 0 && errno == EINTR)
			;
	for (int i = 0; i < n; i++)
		if (w[i].pid > 0 && w[i].keeper)
			kill(w[i].pid, SIGTERM);
	while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
		;
}

int supervise(int n, int keeper)
{
	struct worker w[SUPERVISE_MAX + 1];
	struct timespec tick = { 0, 200 * 1000 * 1000 };
	int result = 1, quick_deaths = 0;
	sigset_t set;

	if (n < 1 || n > SUPERVISE_MAX)
		return -1;
	memset(w, 0, sizeof(w));
	if (keeper)
		w[n++].keeper = 1; /* the last one */
	supervisor_signals(&set);
	for (;;) {
		int sig;

		for (int i = 0; i < n; i++)
			if (w[i].pid == 0 && mono_ms() >= w[i].not_before && start_worker(&w[i], &set) == 0)
				return w[i].keeper ? SUPERVISE_KEEPER : SUPERVISE_WORKER;
		sig = sigtimedwait(&set, NULL, &tick);
		if (sig == SIGTERM || sig == SIGINT)
			break;
		quick_deaths = reap(w, n, quick_deaths);
		if (quick_deaths >= QUICK_DEATHS_MAX) {
			log_msg("supervisor: %d workers in a row died at once; giving up", quick_deaths);
			result = 2;
			break;
		}
	}
	stop_workers(w, n);
	return result;
}
