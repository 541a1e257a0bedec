/* sse.c - events of a streamed run, encoded with cJSON. */
#include "sse.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

char *sse_event_new(const char *name, const char *json)
{
	size_t len = strlen(name) + strlen(json) + 20;
	char *ev = malloc(len);

	if (ev)
		snprintf(ev, len, "event: %s\ndata: %s\n\n", name, json);
	return ev;
}

char *sse_text_new(const char *name, const char *s, size_t n, int final, size_t *used)
{
	size_t take = final ? n : utf8_trim_partial(s, n);
	char *text = NULL, *json = NULL, *ev = NULL;
	cJSON *o = NULL;

	*used = 0;
	if (!take)
		return NULL;
	text = utf8_sanitize_new(s, take);
	o = cJSON_CreateObject();
	if (!text || !o || !cJSON_AddStringToObject(o, "text", text))
		goto out;
	json = cJSON_PrintUnformatted(o);
	if (json && (ev = sse_event_new(name, json)))
		*used = take;
out:
	cJSON_free(json);
	cJSON_Delete(o);
	free(text);
	return ev;
}
