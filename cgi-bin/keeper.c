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

/* A job is not started again sooner than KEEPER_SPACING_MS after its last start (so that used
 * containers are removed a few at a time); after a job that failed (docker away), not before
 * KEEPER_BACKOFF_MS, twice as long after each failure in a row, up to KEEPER_BACKOFF_MAX_MS. */
#define KEEPER_SPACING_MS 250
#define KEEPER_BACKOFF_MS 2000
#define KEEPER_BACKOFF_MAX_MS 60000
#define NJOBS (1 + LANGUAGES_MAX)

/* The children: [0] removes, [1 + i] refills language i; pid 0 when none runs. */
static pid_t jobs[NJOBS];
static int64_t next_at[NJOBS]; /* not started again before */
static int64_t backoff[NJOBS];  /* after the next failure; 0: none yet */
static volatile sig_atomic_t job_stop; /* in a child: SIGTERM came */

static void on_term(int sig)
{
	(void)sig;
	job_stop = 1;
}

/* Starts job(cfg, lang) in a child (lang NULL for the removal); its pid, or 0. The child exits 0
 * when its work went, 1 when it failed. SIGTERM and SIGINT are held over the fork, so that the
 * child has its own handler before either can reach it. */
static pid_t start(const struct config *cfg, const struct language *lang)
{
	sigset_t hold, old;
	pid_t pid;

	sigemptyset(&hold);
	sigaddset(&hold, SIGTERM);
	sigaddset(&hold, SIGINT);
	sigprocmask(SIG_BLOCK, &hold, &old);
	pid = fork();
	if (pid != 0) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		if (pid < 0)
			log_msg("keeper: cannot start a job: %s", strerror(errno));
		return pid < 0 ? 0 : pid;
	}
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (lang)
		_exit(pool_refill_one(cfg, lang, &job_stop, NULL) ? 1 : 0);
	_exit(pool_remove_handed(cfg, &job_stop) ? 1 : 0);
}

static void reap(int block)
{
	pid_t pid;
	int i, status, failed;

	while ((pid = waitpid(-1, &status, block ? 0 : WNOHANG)) > 0 || (pid < 0 && errno == EINTR))
		for (i = 0; pid > 0 && i < NJOBS; i++) {
			if (jobs[i] != pid)
				continue;
			jobs[i] = 0;
			failed = !WIFEXITED(status) || WEXITSTATUS(status);
			if (!failed) {
				backoff[i] = 0;
				continue;
			}
			backoff[i] = backoff[i] ? backoff[i] * 2 : KEEPER_BACKOFF_MS;
			if (backoff[i] > KEEPER_BACKOFF_MAX_MS)
				backoff[i] = KEEPER_BACKOFF_MAX_MS;
			next_at[i] = mono_ms() + backoff[i];
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

/* The end: the refills stopped, the removal awaited, then what was handed over since (the
 * workers have ended: the supervisor stops them first) removed here. */
static void stop_jobs(const struct config *cfg)
{
	int i;

	for (i = 1; i < NJOBS; i++)
		if (jobs[i] > 0)
			kill(jobs[i], SIGTERM);
	reap(1);
	pool_remove_handed(cfg, NULL);
}

void keeper_work(const struct service *svc)
{
	static int64_t slow_at;
	const struct config *cfg = svc->cfg;
	int i;

	reap(0);
	if (*svc->stop) {
		stop_jobs(cfg);
		return;
	}
	if (pool_handed_count(cfg))
		start_job(cfg, 0, NULL);
	for (i = 0; i < cfg->langs.n; i++) {
		const struct language *lang = &cfg->langs.list[i];

		if (pool_size(cfg, lang) < lang->warm)
			start_job(cfg, 1 + i, lang);
	}
	/* when due: a minute after the last, or at once when a run found dead warm containers
	 * or a removal failed (sweep_soon); finding out is one open and one fstat */
	sweep(cfg, SWEEP_DUE);
	if (mono_ms() - slow_at >= KEEPER_SLOW_MS) {
		history_flush(cfg);
		slow_at = mono_ms();
	}
}
