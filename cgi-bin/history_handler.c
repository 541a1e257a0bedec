/* history_handler.c - the read-only endpoints: GET /history, /languages, /healthz, /readyz and
 * /metrics. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "container.h"
#include "drain.h"
#include "handlers.h"
#include "history.h"
#include "log.h"
#include "metrics.h"
#include "pool.h"
#include "request.h"
#include "spawn.h"

static void history(const struct config *cfg, struct response *res)
{
	char err[256], *text;
	size_t len = 0;
	int degraded, unreadable;

	text = history_newest_new(cfg, &len, &degraded, &unreadable, err, sizeof(err));
	if (!text && !unreadable) {
		log_msg("history %s: %s", cfg->history_path, err);
		response_error(res, 503, "history unavailable for now");
		return;
	}
	if (!text) /* the next run sets the file aside and starts afresh */
		log_msg("history %s: %s; answering an empty history", cfg->history_path, err);
	response_text(res, 200, "application/json; charset=utf-8", text ? text : "[]\n");
	free(text);
}

static void healthz(const struct config *cfg, struct response *res)
{
	(void)cfg;
	response_text(res, 200, "application/json; charset=utf-8", "{\"status\":\"alive\"}\n");
}

/* Whether Docker answers and has the images, the images' versions, and whether the shared
 * history (Redis) answers. A probe may come often,
 * from anyone the web server lets through: Docker's answer is kept for READY_CACHE_S seconds, so
 * a flood of /readyz does not become a flood of docker processes. Redis is asked each time (one
 * PING on the connection the process keeps, and nothing within a second of a failure), so the
 * answer turns back the moment Redis does. */
#define READY_CACHE_S 2

struct engine {
	int docker_ok, images_ok;
	char versions[LANGUAGES_MAX][32];
};

static const struct engine *engine_state(const struct config *cfg)
{
	static int64_t checked;
	static int known;
	static struct engine e;
	int64_t now = mono_ms();

	if (!known || now - checked >= READY_CACHE_S * 1000) {
		memset(&e, 0, sizeof(e));
		e.docker_ok = container_engine_ok(cfg);
		e.images_ok = e.docker_ok && container_images(cfg, e.versions) == 1;
		checked = now;
		known = 1;
	}
	return &e;
}

static void readyz(const struct config *cfg, struct response *res)
{
	const struct engine *e = engine_state(cfg);
	int i, n[LANGUAGES_MAX], pool_ok = 1, ready, draining = drain_is_on(cfg);
	cJSON *o = cJSON_CreateObject(), *warm = NULL;

	for (i = 0; i < cfg->langs.n; i++) {
		n[i] = pool_size(cfg, &cfg->langs.list[i]);
		pool_ok &= n[i] >= cfg->langs.list[i].warm;
	}
	ready = e->docker_ok && e->images_ok && pool_ok && !draining;
	if (!o || !cJSON_AddBoolToObject(o, "ready", ready) ||
	    !cJSON_AddBoolToObject(o, "takes_runs", e->docker_ok && !draining) ||
	    !cJSON_AddBoolToObject(o, "draining", draining) ||
	    !cJSON_AddBoolToObject(o, "docker", e->docker_ok) ||
	    !cJSON_AddBoolToObject(o, "images", e->images_ok) ||
	    !(warm = cJSON_AddObjectToObject(o, "warm")) ||
	    !cJSON_AddBoolToObject(o, "warm_pool_filled", pool_ok) ||
	    !cJSON_AddStringToObject(o, "history", cfg->history_backend) ||
	    !cJSON_AddBoolToObject(o, "history_degraded", history_degraded(cfg)) ||
	    !cJSON_AddNumberToObject(o, "history_waiting", (double)history_waiting(cfg)))
		goto fail;
	for (i = 0; i < cfg->langs.n; i++)
		if (!cJSON_AddNumberToObject(warm, cfg->langs.list[i].name, n[i]))
			goto fail;
	response_json(res, ready ? 200 : 503, o);
	cJSON_Delete(o);
	return;
fail:
	response_error(res, 500, "out of memory");
	cJSON_Delete(o);
}

/* One language of the table, as GET /languages shows it. */
static cJSON *language_json(const struct config *cfg, const struct language *l, const char *version)
{
	cJSON *o = cJSON_CreateObject(), *lim = cJSON_CreateObject();
	int compiled = LANGUAGE_COMPILED(l);

	if (!o || !lim || !cJSON_AddNumberToObject(lim, "timeout_s", l->timeout_s) ||
	    !(compiled ? cJSON_AddNumberToObject(lim, "compile_timeout_s", l->compile_timeout_s)
		       : cJSON_AddNullToObject(lim, "compile_timeout_s")) ||
	    !cJSON_AddNumberToObject(lim, "memory_mb", l->memory_mb) ||
	    !cJSON_AddNumberToObject(lim, "output_limit_bytes", (double)cfg->output_limit) ||
	    !cJSON_AddNumberToObject(lim, "max_code_chars", cfg->max_code_chars) ||
	    !cJSON_AddNumberToObject(lim, "max_stdin_bytes", cfg->max_stdin_bytes) ||
	    !cJSON_AddStringToObject(o, "name", l->name) ||
	    !cJSON_AddStringToObject(o, "label", l->label) ||
	    !(*version ? cJSON_AddStringToObject(o, "version", version)
		       : cJSON_AddNullToObject(o, "version")) ||
	    !cJSON_AddBoolToObject(o, "compiled", compiled) ||
	    !cJSON_AddStringToObject(o, "file", l->file) ||
	    !cJSON_AddItemToObject(o, "limits", lim)) {
		cJSON_Delete(lim);
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

static void languages(const struct config *cfg, struct response *res)
{
	const struct engine *e = engine_state(cfg);
	cJSON *arr = cJSON_CreateArray(), *item;
	int i;

	for (i = 0; arr && i < cfg->langs.n; i++) {
		item = language_json(cfg, &cfg->langs.list[i], e->versions[i]);
		if (!item || !cJSON_AddItemToArray(arr, item)) {
			cJSON_Delete(item);
			cJSON_Delete(arr);
			arr = NULL;
		}
	}
	if (arr)
		response_json(res, 200, arr);
	else
		response_error(res, 500, "out of memory");
	cJSON_Delete(arr);
}

static void metrics(const struct config *cfg, struct response *res)
{
	char *text = metrics_text_new(cfg);

	response_text(res, text ? 200 : 500, "text/plain; version=0.0.4; charset=utf-8",
		      text ? text : "out of memory\n");
	free(text);
}

/* The endpoints of this program: path, methods, whether the API token applies, handler. */
static const struct endpoint {
	const char *path;
	int guarded;
	void (*fn)(const struct config *cfg, struct response *res);
} endpoints[] = {
	{ "/history", 1, history },
	{ "/languages", 0, languages },
	{ "/metrics", 1, metrics },
	{ "/healthz", 0, healthz },
	{ "/readyz", 0, readyz },
};

void history_handle(const struct service *svc, const struct request *req, struct response *res)
{
	const struct config *cfg = svc->cfg;
	const struct endpoint *e = NULL;
	char err[256];
	size_t i;
	int status;

	for (i = 0; i < sizeof(endpoints) / sizeof(endpoints[0]); i++)
		if (!strcmp(req->path, endpoints[i].path))
			e = &endpoints[i];
	status = request_route(req, e ? e->path : "/history", "GET, HEAD",
			       e && e->guarded ? cfg->api_token : "", cfg->max_body, err, sizeof(err));
	if (status) {
		response_refusal(res, status, err, "GET, HEAD");
		return;
	}
	e->fn(cfg, res);
}
