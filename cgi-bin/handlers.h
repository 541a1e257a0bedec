/* handlers.h - the endpoints: each takes a plain request and fills a response. */
#ifndef SCE_HANDLERS_H
#define SCE_HANDLERS_H

#include "http.h"

/* POST /run: validate, run in the sandbox, record in history, answer the result. */
void run_handle(const struct config *cfg, const struct request *req, struct response *res);

/* GET /history: the stored executions, newest first. */
void history_handle(const struct config *cfg, const struct request *req, struct response *res);

#endif
