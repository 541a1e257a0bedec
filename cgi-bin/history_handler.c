/* history_handler.c - GET /history: the stored executions as a JSON array, newest first. */
#include <cjson/cJSON.h>

#include "config.h"
#include "handlers.h"
#include "history_store.h"
#include "log.h"
#include "request.h"

void history_handle(const struct config *cfg, const struct request *req, struct response *res)
{
	cJSON *arr;
	char err[256];
	int status;

	status = request_route(req, "/history", "GET, HEAD", cfg->api_token, cfg->max_body, err,
			       sizeof(err));
	if (status) {
		response_refusal(res, status, err, "GET, HEAD");
		return;
	}
	arr = history_read_new(cfg->history_path, NULL, err, sizeof(err));
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
