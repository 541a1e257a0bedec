/* metrics.c - Prometheus counters in one small file, updated under an flock by every process. */
#include "metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "drain.h"
#include "history.h"
#include "lockfile.h"
#include "log.h"
#include "pool.h"

#define MAX_SAMPLES 256

struct sample {
	char key[128];
	double value;
};

static const double buckets[] = { 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30 };
#define NBUCKETS (sizeof(buckets) / sizeof(buckets[0]))

static int load(const char *path, struct sample *s, size_t *n)
{
	char line[256];
	FILE *f = fopen(path, "re");

	*n = 0;
	if (!f)
		return errno == ENOENT ? 0 : -1;
	while (*n < MAX_SAMPLES && fgets(line, sizeof(line), f)) {
		char *space = strrchr(line, ' ');

		if (!space || (size_t)(space - line) >= sizeof(s[0].key))
			continue;
		memcpy(s[*n].key, line, (size_t)(space - line));
		s[*n].key[space - line] = '\0';
		s[*n].value = strtod(space + 1, NULL);
		(*n)++;
	}
	fclose(f);
	return 0;
}

/* A count is worth less than the answer it would delay: the lock is waited for this long. */
#define METRICS_LOCK_MS 250

void metrics_add(const struct config *cfg, const struct metric *m, size_t n)
{
	static struct sample s[MAX_SAMPLES];
	static char text[MAX_SAMPLES * 160];
	char path[PATH_MAX], lock[PATH_MAX], err[PATH_MAX + 64];
	size_t count, i, k, len = 0;
	int lfd;

	if ((size_t)snprintf(path, sizeof(path), "%s/metrics", cfg->state_dir) >= sizeof(path) ||
	    (size_t)snprintf(lock, sizeof(lock), "%s/metrics.lock", cfg->state_dir) >= sizeof(lock))
		return;
	lfd = lockfile_lock(lock, METRICS_LOCK_MS, err, sizeof(err));
	if (lfd < 0)
		goto fail;
	if (load(path, s, &count)) {
		snprintf(err, sizeof(err), "cannot read %s: %s", path, strerror(errno));
		goto fail;
	}
	for (k = 0; k < n; k++) {
		for (i = 0; i < count && strcmp(s[i].key, m[k].key); i++)
			;
		if (i == count) {
			if (count == MAX_SAMPLES || strlen(m[k].key) >= sizeof(s[0].key))
				continue;
			strcpy(s[count].key, m[k].key);
			s[count++].value = 0;
		}
		s[i].value += m[k].value;
	}
	for (i = 0; i < count; i++)
		len += (size_t)snprintf(text + len, sizeof(text) - len, "%s %.17g\n", s[i].key, s[i].value);
	if (lockfile_replace(path, text, len, 0, err, sizeof(err)))
		goto fail;
	lockfile_unlock(lfd);
	return;
fail:
	log_msg("metrics not updated: %s", err);
	lockfile_unlock(lfd);
}

void metrics_count_run(const struct config *cfg, const char *language, const char *status,
		       long duration_ms)
{
	char keys[NBUCKETS + 4][128];
	struct metric m[NBUCKETS + 4];
	double seconds = duration_ms / 1000.0;
	size_t n = 0, i;

	snprintf(keys[n], sizeof(keys[n]), "sce_runs_total{language=\"%s\",status=\"%s\"}", language,
		 status);
	m[n] = (struct metric){ keys[n], 1 };
	n++;
	for (i = 0; i < NBUCKETS; i++) {
		snprintf(keys[n], sizeof(keys[n]), "sce_run_duration_seconds_bucket{le=\"%g\"}",
			 buckets[i]);
		m[n] = (struct metric){ keys[n], seconds <= buckets[i] };
		n++;
	}
	m[n++] = (struct metric){ "sce_run_duration_seconds_bucket{le=\"+Inf\"}", 1 };
	m[n++] = (struct metric){ "sce_run_duration_seconds_sum", seconds };
	m[n++] = (struct metric){ "sce_run_duration_seconds_count", 1 };
	metrics_add(cfg, m, n);
}

void metrics_count_refusal(const struct config *cfg, int status)
{
	char key[128];
	struct metric m = { key, 1 };

	snprintf(key, sizeof(key), "sce_rejections_total{status=\"%d\"}", status);
	metrics_add(cfg, &m, 1);
}

/* Run slots held now, read from /proc/locks (taking a slot to test it could make a run that
 * wants it see it busy). */
int metrics_runs_in_flight(const struct config *cfg)
{
	unsigned long inodes[256];
	char path[PATH_MAX], line[256];
	struct stat st;
	int i, n = 0, busy = 0;
	FILE *f;

	for (i = 0; i < cfg->max_runs && n < 256; i++)
		if ((size_t)snprintf(path, sizeof(path), "%s/runs/run-%d", cfg->state_dir, i) < sizeof(path) &&
		    !stat(path, &st))
			inodes[n++] = (unsigned long)st.st_ino;
	f = fopen("/proc/locks", "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long ino;
		char *dev = strstr(line, "FLOCK") ? strrchr(line, ':') : NULL;

		/* "1: FLOCK  ADVISORY  WRITE 1234 08:02:131073 0 EOF": the inode follows the last ':' */
		if (!dev || sscanf(dev + 1, "%lu", &ino) != 1)
			continue;
		for (i = 0; i < n; i++)
			busy += inodes[i] == ino;
	}
	fclose(f);
	return busy;
}

/* The counted families, in the order they are shown. */
static const struct family {
	const char *name, *type, *help;
} families[] = {
	{ "sce_runs_total", "counter", "Programs run, by language and how they ended." },
	{ "sce_run_duration_seconds", "histogram", "Run time of the programs." },
	{ "sce_rejections_total", "counter", "Requests to /run refused, by HTTP status." },
};

char *metrics_text_new(const struct config *cfg)
{
	static struct sample s[MAX_SAMPLES];
	char path[PATH_MAX], *text;
	size_t count = 0, i, f, len = 0, cap = 65536;
	int l;

	if ((size_t)snprintf(path, sizeof(path), "%s/metrics", cfg->state_dir) < sizeof(path))
		load(path, s, &count);
	text = malloc(cap);
	if (!text)
		return NULL;
#define OUT(...) (len += (size_t)snprintf(text + len, len < cap ? cap - len : 0, __VA_ARGS__))
	for (f = 0; f < sizeof(families) / sizeof(families[0]); f++) {
		OUT("# HELP %s %s\n# TYPE %s %s\n", families[f].name, families[f].help,
		    families[f].name, families[f].type);
		for (i = 0; i < count; i++)
			if (!strncmp(s[i].key, families[f].name, strlen(families[f].name)))
				OUT("%s %.17g\n", s[i].key, s[i].value);
	}
	OUT("# HELP sce_history_write_failures_total Runs whose history entry could not be written.\n"
	    "# TYPE sce_history_write_failures_total counter\n");
	for (i = 0; i < count && strcmp(s[i].key, "sce_history_write_failures_total"); i++)
		;
	OUT("sce_history_write_failures_total %.17g\n", i < count ? s[i].value : 0.0);
	OUT("# HELP sce_runs_in_flight Programs running now.\n# TYPE sce_runs_in_flight gauge\n"
	    "sce_runs_in_flight %d\n", metrics_runs_in_flight(cfg));
	OUT("# HELP sce_history_waiting_entries History entries waiting for Redis to be back.\n"
	    "# TYPE sce_history_waiting_entries gauge\nsce_history_waiting_entries %ld\n",
	    history_waiting(cfg));
	OUT("# HELP sce_draining 1 while this host drains (takes no new runs).\n"
	    "# TYPE sce_draining gauge\nsce_draining %d\n", drain_is_on(cfg));
	OUT("# HELP sce_warm_pool_size Idle containers ready, by language.\n"
	    "# TYPE sce_warm_pool_size gauge\n");
	for (l = 0; l < cfg->langs.n; l++)
		OUT("sce_warm_pool_size{language=\"%s\"} %d\n", cfg->langs.list[l].name,
		    pool_size(cfg, &cfg->langs.list[l]));
	OUT("# HELP sce_warm_pool_target Idle containers wanted, by language.\n"
	    "# TYPE sce_warm_pool_target gauge\n");
	for (l = 0; l < cfg->langs.n; l++)
		OUT("sce_warm_pool_target{language=\"%s\"} %d\n", cfg->langs.list[l].name,
		    cfg->langs.list[l].warm);
#undef OUT
	if (len >= cap) {
		free(text);
		return NULL;
	}
	return text;
}
