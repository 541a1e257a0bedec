/* metrics.h - counters shared by every process of the service, for GET /metrics. */
#ifndef SCE_METRICS_H
#define SCE_METRICS_H

#include <stddef.h>

#include "config.h"

/*
 * The counters live in "<state_dir>/metrics", one Prometheus sample per line ("name{labels} n"),
 * rewritten (temp file + rename) under an flock on "<state_dir>/metrics.lock", so that counts
 * stay right with any number of processes.
 *
 * metrics_add() adds value to each of n keys at once. Failures are logged, never fatal.
 * metrics_count_run() records one run: by language and outcome, and its duration histogram.
 * metrics_count_refusal() records a request refused with an HTTP status.
 * metrics_text_new() returns the whole text for GET /metrics (counters and gauges: runs in
 * flight, warm-pool sizes); the caller frees it. NULL when out of memory.
 */
struct metric {
	const char *key;
	double value;
};
void metrics_add(const struct config *cfg, const struct metric *m, size_t n);
void metrics_count_run(const struct config *cfg, const char *language, const char *status,
		       long duration_ms);
void metrics_count_refusal(const struct config *cfg, int status);
char *metrics_text_new(const struct config *cfg);
/* Run slots held now (programs running), read from /proc/locks; -1 when unknown. */
int metrics_runs_in_flight(const struct config *cfg);

#endif
