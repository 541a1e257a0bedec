/* run_handler.c - POST /run: validation, one sandbox run, the history entry and the JSON answer. */
#include <cjson/cJSON.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "config.h"
#include "handlers.h"
#include "drain.h"
#include "history.h"
#include "keeper.h"
#include "html.h"
#include "metrics.h"
#include "log.h"
#include "request.h"
#include "pool.h"
#include "sandbox.h"
#include "slots.h"
#include "sse.h"
#include "spawn.h"
#include "sweep.h"
#include "utf8.h"

/* A figure the cgroup may not have had: a number, or null. */
static cJSON *add_figure(cJSON *o, const char *name, long long value)
{
	return value < 0 ? cJSON_AddNullToObject(o, name)
			 : cJSON_AddNumberToObject(o, name, (double)value);
}

/* The answer to a run. */
static cJSON *result_json(const struct run_result *r)
{
	cJSON *o = cJSON_CreateObject();

	if (!o || !cJSON_AddStringToObject(o, "output", r->output) ||
	    !cJSON_AddStringToObject(o, "error", r->error) ||
	    !cJSON_AddNumberToObject(o, "exit_code", r->exit_code) ||
	    !cJSON_AddStringToObject(o, "status", run_status_name(r->status)) ||
	    !cJSON_AddNumberToObject(o, "duration_ms", (double)r->duration_ms) ||
	    !cJSON_AddBoolToObject(o, "truncated", r->truncated) ||
	    !add_figure(o, "memory_peak_bytes", r->used.memory_peak) ||
	    !add_figure(o, "cpu_time_ms", r->used.cpu_ns < 0 ? -1 : r->used.cpu_ns / 1000000) ||
	    !cJSON_AddStringToObject(o, "compile_output", r->compile_output) ||
	    !add_figure(o, "compile_ms", r->compile_ms)) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

/* The history entry: a unique id and the host that ran it, language, code and input (its first
 * history_stdin_bytes, a NUL shown as U+FFFD, as in the output), the answer's fields but
 * "truncated", and the time. */
static cJSON *history_entry(const struct config *cfg, const struct run_request *rr,
			    const cJSON *answer)
{
	char when[32], id[33], *input;
	unsigned char rnd[16];
	time_t now = time(NULL);
	struct tm tm;
	const cJSON *field;
	size_t kept = rr->input_len;
	int cut = kept > (size_t)cfg->history_stdin_bytes;
	cJSON *o = cJSON_CreateObject();

	if (cut)
		kept = utf8_trim_partial(rr->input, (size_t)cfg->history_stdin_bytes);
	input = utf8_sanitize_new(rr->input, kept);
	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		goto fail;
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(id + 2 * i, 3, "%02x", rnd[i]);
	if (!o || !input || !cJSON_AddStringToObject(o, "id", id) ||
	    !cJSON_AddStringToObject(o, "host", cfg->host_label) ||
	    !cJSON_AddStringToObject(o, "language", rr->lang->name) ||
	    !cJSON_AddStringToObject(o, "code", rr->code) ||
	    !cJSON_AddStringToObject(o, "stdin", input) ||
	    !cJSON_AddBoolToObject(o, "stdin_truncated", cut))
		goto fail;
	free(input);
	input = NULL;
	cJSON_ArrayForEach(field, answer) {
		cJSON *copy;

		if (!strcmp(field->string, "truncated"))
			continue;
		copy = cJSON_Duplicate(field, 1);
		if (!copy || !cJSON_AddItemToObject(o, field->string, copy)) {
			cJSON_Delete(copy);
			goto fail;
		}
	}
	if (!cJSON_AddStringToObject(o, "time", when))
		goto fail;
	return o;
fail:
	free(input);
	cJSON_Delete(o);
	return NULL;
}

/* The container of the last run, removed once its answer has gone (run_after). */
static struct container pending;
static int has_pending, pool_stale;

/* An error as the client wants it: JSON, or an HTML page for a browser's form post. */
static void answer_error(struct response *res, const struct request *req, int status,
			 const char *msg)
{
	if (wants_html(req))
		html_error(res, status, msg);
	else
		response_error(res, status, msg);
}

/* A refusal of take_slots(): answered, with Retry-After when trying again later may help. */
static int refuse(struct response *res, const struct request *req, int status, int retry,
		  const char *msg)
{
	answer_error(res, req, status, msg);
	res->retry_after = retry;
	return status;
}

/*
 * Takes, for this client, a place (one of per_client_runs + per_client_waiting: none free is a
 * 429 at once, so one address cannot hold every FastCGI worker by waiting), then its turn (one of
 * its per_client_runs: its own runs go first), then a run slot (one of max_runs); the last two
 * are waited for until one deadline, queue_wait_ms away. Returns 0 with the three held, or the
 * status answered (429, 503; 499 when the client went away while waiting) with none held.
 */
static int take_slots(const struct config *cfg, const struct request *req, int fds[3],
		      struct response *res)
{
	int64_t deadline = mono_ms() + cfg->queue_wait_ms;
	char key[32], place[48], clients[PATH_MAX], runs[PATH_MAX], err[256], msg[160];
	int places = cfg->per_client_runs ? cfg->per_client_runs + cfg->per_client_waiting : 0, i;
	enum slot_result r;

	fds[0] = fds[1] = fds[2] = -1;
	client_key(req->remote_addr, key, sizeof(key));
	snprintf(place, sizeof(place), "%s-place", key);
	if ((size_t)snprintf(clients, sizeof(clients), "%s/clients", cfg->state_dir) >= sizeof(clients) ||
	    (size_t)snprintf(runs, sizeof(runs), "%s/runs", cfg->state_dir) >= sizeof(runs)) {
		log_msg("slots: state_dir too long");
		return refuse(res, req, 503, 0, "service unavailable: cannot count runs");
	}
	snprintf(msg, sizeof(msg), "too many runs at once from your address (at most %d running "
				   "and %d waiting)", cfg->per_client_runs, cfg->per_client_waiting);
	r = slot_take(clients, place, places, mono_ms(), -1, &fds[0], err, sizeof(err));
	if (r == SLOT_BUSY)
		return refuse(res, req, 429, 1, msg);
	if (r == SLOT_TAKEN)
		r = slot_take(clients, key, cfg->per_client_runs, deadline, req->client_fd, &fds[1],
			      err, sizeof(err));
	if (r == SLOT_BUSY) {
		refuse(res, req, 429, 1, msg);
		goto fail;
	}
	if (r == SLOT_TAKEN)
		r = slot_take(runs, "run", cfg->max_runs, deadline, req->client_fd, &fds[2], err,
			      sizeof(err));
	if (r == SLOT_TAKEN)
		return 0;
	if (r == SLOT_BUSY) {
		snprintf(msg, sizeof(msg), "server busy: %d programs are running, try again shortly",
			 cfg->max_runs);
		refuse(res, req, 503, 2, msg);
	} else if (r == SLOT_GONE) { /* nobody reads it: the status a log shows */
		answer_error(res, req, 499, "client went away");
	} else {
		log_msg("client or run slots: %s", err);
		refuse(res, req, 503, 0, "service unavailable: cannot count runs");
	}
fail:
	for (i = 0; i < 3; i++)
		slot_release(fds[i]);
	return r == SLOT_GONE ? 499 : res->status;
}

/* Whether this host takes the run: behind a front, only what comes through it; while draining,
 * nothing (503, which promises that nothing ran: the front sends it to another host). */
static int take_host(const struct config *cfg, const struct request *req, struct response *res)
{
	if (cfg->front_addresses[0] && !req->via_front)
		return refuse(res, req, 403, 0, "this host takes runs only through its front "
					       "(the load balancer)");
	if (drain_is_on(cfg))
		return refuse(res, req, 503, 2, "this host is draining: not run here, try again");
	return 0;
}

static void release_slots(int fds[3])
{
	int i;

	for (i = 0; i < 3; i++)
		slot_release(fds[i]);
}

/* A streamed answer (Accept: text/event-stream; not a browser's form post, which gets HTML). */
static int wants_stream(const struct request *req)
{
	return req->sink && strstr(req->accept, "text/event-stream") != NULL && !wants_html(req);
}

static int stream_begin(void *ctx, int64_t until_ms)
{
	struct sink *k = ctx;

	return k->begin(k, "text/event-stream; charset=utf-8", until_ms);
}

static int stream_write(void *ctx, const char *data, size_t len, int64_t until_ms)
{
	struct sink *k = ctx;

	return k->write(k, data, len, until_ms);
}

/* The end of a streamed run that failed after it began: its error, with the status it would
 * have had. */
static void stream_error(struct run_stream *s, int status, const char *msg)
{
	cJSON *o = cJSON_CreateObject();
	char *json = NULL, *ev = NULL;

	if (o && cJSON_AddStringToObject(o, "error", msg) && cJSON_AddNumberToObject(o, "status", status))
		json = cJSON_PrintUnformatted(o);
	if (json && (ev = sse_event_new("error", json)))
		stream_write(s->ctx, ev, strlen(ev), mono_ms() + RUN_STREAM_LAST_MS);
	free(ev);
	cJSON_free(json);
	cJSON_Delete(o);
}

/* The end of a streamed run: the result, exactly the ordinary answer. A run that ended without
 * starting (a compile error) begins the stream here; the compiler's messages go first when the
 * stream has not sent them. */
static void stream_result(struct run_stream *s, const struct run_result *r, const cJSON *answer)
{
	char *json = cJSON_PrintUnformatted(answer), *ev = json ? sse_event_new("result", json) : NULL;

	s->until_ms = mono_ms() + RUN_STREAM_LAST_MS;
	if (!s->begun) {
		s->begun = 1;
		if (s->begin(s->ctx, s->until_ms))
			goto out;
	}
	if (!s->compile_sent && r->compile_output[0] &&
	    run_stream_send(s, "compile", r->compile_output))
		goto out;
	if (ev)
		stream_write(s->ctx, ev, strlen(ev), s->until_ms);
	else
		stream_error(s, 500, "out of memory");
out:
	free(ev);
	cJSON_free(json);
}

void run_handle(const struct service *svc, const struct request *req, struct response *res)
{
	const struct config *cfg = svc->cfg;
	struct run_request rr = RUN_REQUEST_INIT;
	struct run_result result = RUN_RESULT_INIT;
	struct interrupt intr = { .stop = svc->stop, .gone_fd = req->client_fd };
	struct run_spec spec;
	cJSON *answer = NULL, *entry;
	char err[256];
	int status, slots[3] = { -1, -1, -1 }, ran;
	struct run_stream stream = { .begin = stream_begin, .write = stream_write, .ctx = req->sink };

	status = request_route(req, "/run", "POST", cfg->api_token, cfg->max_body, err, sizeof(err));
	if (!status)
		status = request_parse_run(req, cfg, &rr, err, sizeof(err));
	if (status == 204) { /* a CORS preflight: not a refusal */
		response_refusal(res, status, "", "POST");
		goto out;
	}
	if (status) {
		response_refusal(res, status, err, "POST");
		if (wants_html(req))
			html_error(res, status, err); /* keeps Allow and WWW-Authenticate */
		metrics_count_refusal(cfg, status);
		goto out;
	}
	status = take_host(cfg, req, res);
	if (!status)
		status = take_slots(cfg, req, slots, res);
	if (!status && (status = take_host(cfg, req, res))) /* drained while it waited its turn */
		release_slots(slots);
	if (status) {
		metrics_count_refusal(cfg, status);
		goto out;
	}
	spec = (struct run_spec){ rr.lang, rr.code, rr.code_len, rr.input, rr.input_len, &intr,
				  wants_stream(req) ? &stream : NULL };
	ran = sandbox_run(cfg, &spec, &result, err, sizeof(err));
	release_slots(slots);
	pending = result.ct;
	has_pending = result.has_container;
	pool_stale = result.stale;
	if (ran) {
		log_msg("run from %s (%s): not run: %s", req->remote_addr, rr.lang->name, err);
		if (stream.begun)
			stream_error(&stream, result.failure, err);
		else
			answer_error(res, req, result.failure, err);
		metrics_count_refusal(cfg, result.failure);
		goto out;
	}
	metrics_count_run(cfg, rr.lang->name, run_status_name(result.status), result.duration_ms);
	log_msg("run from %s (%s): %s, exit %d, %ld ms, %s, %zu+%zu bytes of output, %zu of input",
		req->remote_addr, rr.lang->name, run_status_name(result.status), result.exit_code,
		result.duration_ms, result.warm ? "warm" : "cold", strlen(result.output),
		strlen(result.error), rr.input_len);
	answer = result_json(&result);
	if (!answer) {
		if (stream.begun)
			stream_error(&stream, 500, "out of memory");
		else
			answer_error(res, req, 500, "out of memory");
		goto out;
	}
	entry = history_entry(cfg, &rr, answer);
	if (!entry || history_record(cfg, entry, err, sizeof(err))) {
		static const struct metric failed = { "sce_history_write_failures_total", 1 };

		log_msg("history not updated: %s", entry ? err : "out of memory");
		metrics_add(cfg, &failed, 1);
	}
	if (spec.stream)
		stream_result(&stream, &result, answer);
	else if (wants_html(req))
		html_result(res, &rr, &result);
	else
		response_json(res, 200, answer);
out:
	cJSON_Delete(answer);
	run_result_release(&result);
	run_request_release(&rr);
}

void run_after(const struct service *svc)
{
	const struct config *cfg = svc->cfg;

	if (!has_pending && !pool_stale)
		return; /* nothing ran: nothing to remove or refill */
	if (svc->keeper) { /* it removes, sweeps (at once) and refills */
		if (has_pending)
			pool_hand_over(cfg, &pending);
		if (pool_stale)
			sweep_soon(cfg);
		has_pending = pool_stale = 0;
		return;
	}
	if (has_pending)
		pool_done(cfg, &pending);
	if (pool_stale) /* dead warm containers: drop their records before refilling */
		sweep(cfg, SWEEP_NOW);
	has_pending = pool_stale = 0;
	if (*svc->stop)
		return; /* stopping: serve.sh sweeps once every program has ended */
	pool_refill(cfg, svc->stop, svc->request_waiting); /* yields to a waiting request */
	sweep(cfg, SWEEP_DUE);
}

void run_prepare(const struct service *svc)
{
	sweep(svc->cfg, SWEEP_EVERYTHING);
	pool_refill(svc->cfg, NULL, NULL);
}

void run_cleanup(const struct service *svc)
{
	sweep(svc->cfg, SWEEP_EVERYTHING);
}

void run_keep(const struct service *svc)
{
	keeper_work(svc);
}
