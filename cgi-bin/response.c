/* response.c - fills a struct response with JSON, an error or text. */
#include "http.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#define JSON_TYPE "application/json; charset=utf-8"

void response_release(struct response *res)
{
	free(res->body);
	res->body = NULL;
	res->body_len = 0;
}

void response_text(struct response *res, int status, const char *type, const char *text)
{
	size_t n = strlen(text);

	response_release(res);
	res->status = status;
	res->content_type = type;
	res->body = malloc(n + 1);
	if (!res->body) {
		res->status = 500;
		return;
	}
	memcpy(res->body, text, n + 1);
	res->body_len = n;
}

void response_json(struct response *res, int status, const cJSON *item)
{
	char *text = cJSON_PrintUnformatted(item);
	size_t n;

	response_release(res);
	res->content_type = JSON_TYPE;
	if (!text) {
		res->status = 500;
		return;
	}
	n = strlen(text);
	res->body = malloc(n + 2);
	if (!res->body) {
		res->status = 500;
		cJSON_free(text);
		return;
	}
	memcpy(res->body, text, n);
	res->body[n] = '\n';
	res->body[n + 1] = '\0';
	res->body_len = n + 1;
	res->status = status;
	cJSON_free(text);
}

void response_error(struct response *res, int status, const char *msg)
{
	cJSON *obj = cJSON_CreateObject();

	if (!obj || !cJSON_AddStringToObject(obj, "error", msg)) {
		response_text(res, 500, JSON_TYPE, "{\"error\":\"out of memory\"}\n");
		cJSON_Delete(obj);
		return;
	}
	response_json(res, status, obj);
	cJSON_Delete(obj);
}

void response_refusal(struct response *res, int status, const char *msg, const char *methods)
{
	if (status == 204) {
		response_text(res, 204, "text/plain; charset=utf-8", "");
		res->preflight = methods;
		return;
	}
	response_error(res, status, msg);
	res->allow = status == 405 ? methods : NULL;
	res->challenge = status == 401;
}

const char *http_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 411: return "Length Required";
	case 413: return "Payload Too Large";
	case 415: return "Unsupported Media Type";
	case 421: return "Misdirected Request";
	case 429: return "Too Many Requests";
	case 499: return "Client Closed Request";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	default: return "Unknown";
	}
}
