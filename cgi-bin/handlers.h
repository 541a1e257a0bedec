/* handlers.h - the endpoints: each takes a plain request and fills a response. */
#ifndef SCE_HANDLERS_H
#define SCE_HANDLERS_H

#include "http.h"

/* POST /run: validate, run in the sandbox, record in history, answer the result.
 * run_after(): once the answer has gone, remove the used container and refill the warm pool;
 * where a keeper runs (svc->keeper), hand the container over to it, which does both.
 * run_prepare(): before serving, remove what a previous run of the service left, fill the pool. */
void run_handle(const struct service *svc, const struct request *req, struct response *res);
void run_after(const struct service *svc);
void run_prepare(const struct service *svc);
/* run_cleanup(): once the service has stopped, remove its containers (the idle pool too).
 * run_keep(): the keeper's round (keeper_work): the used containers removed, the pools refilled,
 * a sweep when one is due (made due at once when a container could not be removed), so such a
 * container is gone within seconds though no request comes. */
void run_cleanup(const struct service *svc);
void run_keep(const struct service *svc);

/* GET /history: the stored executions, newest first; /languages (the table, with the images'
 * versions and each language's limits); /healthz (alive), /readyz (Docker answers, images
 * present, warm pools filled; 200 or 503), /metrics (Prometheus text). */
void history_handle(const struct service *svc, const struct request *req, struct response *res);

#endif
