/* keeper.c - the keeper's jobs: removals and refills in children, sweeps and flushes on a timer. */
#include "keeper.h"

#include <errno.h>
#include <string.h>
#include <signal.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "history.h"
#include "log.h"
#include "pool.h"
#include "spawn.h"
#include "sweep.h"

/* A job is not started again sooner than this after its last start (so that used containers
 * are removed a few at a time), nor sooner than KEEPER_AFTER_FAILURE_MS after a job that
 * failed (docker away: no docker process every few milliseconds). */
#define KEEPER_SPACING_MS 250
#define KEEPER_AFTER_FAILURE_MS 5000
#define NJOBS (1 + LANGUAGES_MAX)

/* The children: [0] removes, [1 + i] refills language i; pid 0 when none runs. */
static pid_t jobs[NJOBS];
static int64_t next_at[NJOBS]; /* not started again before */
static volatile sig_atomic_t job_stop; /* in a child: SIGTERM came */

static void on_term(int sig)
{
	(void)sig;
	job_stop = 1;
}

/* Starts job(cfg, lang) in a child (lang NULL for the removal); its pid, or 0. */
static pid_t start(const struct config *cfg, const struct language *lang)
{
	pid_t pid = fork();

	if (pid < 0) {
		log_msg("keeper: cannot start a job: %s", strerror(errno));
		return 0;
	}
	if (pid > 0)
		return pid;
	signal(SIGTERM, on_term);
	if (lang) {
		pool_refill_one(cfg, lang, &job_stop, NULL);
		_exit(pool_size(cfg, lang) < lang->warm && !job_stop);
	}
	pool_remove_handed(cfg);
	_exit(pool_handed_count(cfg) > 0);
}

static void reap(int block)
{
	pid_t pid;
	int i, status;

	while ((pid = waitpid(-1, &status, block ? 0 : WNOHANG)) > 0 || (pid < 0 && errno == EINTR))
		for (i = 0; pid > 0 && i < NJOBS; i++)
			if (jobs[i] == pid) {
				jobs[i] = 0;
				if (!WIFEXITED(status) || WEXITSTATUS(status))
					next_at[i] = mono_ms() + KEEPER_AFTER_FAILURE_MS;
			}
}

/* Starts job i (lang NULL: the removal) unless it runs, or it is too soon. */
static void start_job(const struct config *cfg, int i, const struct language *lang)
{
	int64_t now = mono_ms();

	if (jobs[i] || now < next_at[i])
		return;
	jobs[i] = start(cfg, lang);
	if (next_at[i] < now + KEEPER_SPACING_MS)
		next_at[i] = now + KEEPER_SPACING_MS;
}

static void stop_jobs(void)
{
	int i;

	for (i = 0; i < NJOBS; i++)
		if (jobs[i] > 0)
			kill(jobs[i], SIGTERM);
	reap(1);
}

void keeper_work(const struct service *svc)
{
	static int64_t slow_at;
	const struct config *cfg = svc->cfg;
	int i;

	reap(0);
	if (*svc->stop) {
		stop_jobs();
		return;
	}
	if (pool_handed_count(cfg))
		start_job(cfg, 0, NULL);
	for (i = 0; i < cfg->langs.n; i++) {
		const struct language *lang = &cfg->langs.list[i];

		if (pool_size(cfg, lang) < lang->warm)
			start_job(cfg, 1 + i, lang);
	}
	if (mono_ms() - slow_at >= KEEPER_SLOW_MS) {
		sweep(cfg, SWEEP_DUE);
		history_flush(cfg);
		slow_at = mono_ms();
	}
}
