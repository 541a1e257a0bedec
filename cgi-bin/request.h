/* request.h - routing checks, body parsing (JSON and form posts) and validation of /run requests. */
#ifndef SCE_REQUEST_H
#define SCE_REQUEST_H

#include <stddef.h>

#include "http.h"

enum language { LANG_PYTHON, LANG_JAVASCRIPT };

struct run_request {
	enum language language;
	char *code;       /* NUL-terminated, valid UTF-8, no NUL inside */
	size_t code_len;  /* bytes */
};

#define RUN_REQUEST_INIT { LANG_PYTHON, NULL, 0 }

/* "python" or "javascript". */
const char *language_name(enum language lang);

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
 * request_parse_run() reads language and code from a JSON or form body and validates them.
 * Returns 0 and fills rr (release it with run_request_release()), or the HTTP status to answer
 * (400, 415, 500) with the message in err; rr then holds nothing.
 */
int request_parse_run(const struct request *req, int max_code_chars, struct run_request *rr,
		      char *err, size_t errlen);
void run_request_release(struct run_request *rr);

#endif
