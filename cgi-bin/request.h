/* request.h - routing checks, body parsing (JSON and form posts) and validation of /run requests. */
#ifndef SCE_REQUEST_H
#define SCE_REQUEST_H

#include <stddef.h>

#include "config.h"
#include "http.h"

struct run_request {
	const struct language *lang; /* an entry of the config's table */
	char *code;       /* NUL-terminated, valid UTF-8, no NUL inside */
	size_t code_len;  /* bytes */
	char *input;      /* the program's stdin: valid UTF-8, NUL-terminated, may hold NUL; "" */
	size_t input_len; /* bytes */
};

#define RUN_REQUEST_INIT { NULL, NULL, 0, NULL, 0 }

/*
 * request_route() checks that req is for exactly `path`, with one of `methods` (a list such as
 * "GET, HEAD", also sent as the Allow header), carries "Authorization: Bearer <token>" when token
 * is not empty, and, for a POST, has a Content-Length within max_body.
 * Returns 0 when the request may go on, else the HTTP status to answer (404, 405, 401, 411, 413,
 * or 400 for a body shorter than its Content-Length) with the message in err; 204 for an OPTIONS
 * preflight from an origin the operator lists (req->cors_origin).
 */
int request_route(const struct request *req, const char *path, const char *methods,
		  const char *token, size_t max_body, char *err, size_t errlen);

/*
 * request_parse_run() reads language, code and stdin (optional) from a JSON or form body and
 * validates them against cfg: a language of the table, at most max_code_chars characters of
 * code, at most max_stdin_bytes of input. The input may hold any character, NUL included (a JSON
 * "\u0000", a form's %00): it is decoded here, not by cJSON, which cannot hold a NUL. A form's
 * CRLF line breaks become LF in code and input.
 * Returns 0 and fills rr (release it with run_request_release()), or the HTTP status to answer
 * (400, 415, 500) with the message in err; rr then holds nothing.
 */
int request_parse_run(const struct request *req, const struct config *cfg, struct run_request *rr,
		      char *err, size_t errlen);
void run_request_release(struct run_request *rr);

#endif
