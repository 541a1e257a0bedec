/* history_handler.c - the read-only endpoints: GET /history, /healthz, /readyz and /metrics. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "handlers.h"
#include "history_store.h"
#include "log.h"
#include "metrics.h"
#include "pool.h"
#include "request.h"
#include "spawn.h"

static void history(const struct config *cfg, struct response *res)
{
	cJSON *arr;
	char err[256];
	int corrupt;

	arr = history_read_new(cfg->history_path, &corrupt, err, sizeof(err));
	if (!arr && !corrupt) {
		log_msg("history %s: %s", cfg->history_path, err);
		response_error(res, 503, "history unavailable for now");
		return;
	}
	if (!arr) {
		/* The next run sets the file aside and starts afresh. */
		log_msg("history %s: %s; answering an empty history", cfg->history_path, err);
		arr = cJSON_CreateArray();
	}
	if (arr)
		response_json(res, 200, arr);
	else
		response_error(res, 500, "out of memory");
	cJSON_Delete(arr);
}

static void healthz(const struct config *cfg, struct response *res)
{
	(void)cfg;
	response_text(res, 200, "application/json; charset=utf-8", "{\"status\":\"alive\"}\n");
}

/* Whether Docker answers and has the images. A probe may come often, from anyone the web server
 * lets through: the answer is kept for READY_CACHE_S seconds, so a flood of /readyz does not
 * become a flood of docker processes. */
#define READY_CACHE_S 2

static void docker_ready(const struct config *cfg, int *docker_ok, int *images_ok)
{
	static int64_t checked;
	static int known, last_docker, last_images;
	char *version[] = { (char *)cfg->docker, "version", "--format", "{{.Server.Version}}", NULL };
	char *images[] = { (char *)cfg->docker, "image", "inspect", "--format", "{{.Id}}",
			   (char *)cfg->python_image, (char *)cfg->javascript_image, NULL };
	char out[256];
	int64_t now = mono_ms();

	if (!known || now - checked >= READY_CACHE_S * 1000) {
		last_docker = spawn_capture(cfg->docker, version, 5000, out, sizeof(out)) == 0;
		last_images = last_docker &&
			      spawn_capture(cfg->docker, images, 5000, out, sizeof(out)) == 0;
		checked = now;
		known = 1;
	}
	*docker_ok = last_docker;
	*images_ok = last_images;
}

static void readyz(const struct config *cfg, struct response *res)
{
	int docker_ok, images_ok, pool_ok, ready;
	int py = pool_size(cfg, LANG_PYTHON), js = pool_size(cfg, LANG_JAVASCRIPT);
	cJSON *o = cJSON_CreateObject();

	docker_ready(cfg, &docker_ok, &images_ok);
	pool_ok = py >= cfg->warm_python && js >= cfg->warm_javascript;
	ready = docker_ok && images_ok && pool_ok;
	if (!o || !cJSON_AddBoolToObject(o, "ready", ready) ||
	    !cJSON_AddBoolToObject(o, "docker", docker_ok) ||
	    !cJSON_AddBoolToObject(o, "images", images_ok) ||
	    !cJSON_AddNumberToObject(o, "warm_python", py) ||
	    !cJSON_AddNumberToObject(o, "warm_javascript", js) ||
	    !cJSON_AddBoolToObject(o, "warm_pool_filled", pool_ok))
		response_error(res, 500, "out of memory");
	else
		response_json(res, ready ? 200 : 503, o);
	cJSON_Delete(o);
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
	{ "/metrics", 1, metrics },
	{ "/healthz", 0, healthz },
	{ "/readyz", 0, readyz },
};

void history_handle(const struct config *cfg, const struct request *req, struct response *res)
{
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
