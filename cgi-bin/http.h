/* http.h - a request as the handlers see it, and the response they fill; no FastCGI here. */
#ifndef SCE_HTTP_H
#define SCE_HTTP_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

struct cJSON;

/*
 * Where a handler may stream its answer instead of filling a response (FastCGI only: plain CGI
 * answers whole). begin() writes the head (200, the content type, the headers every answer
 * carries, no length, no buffering by a proxy); write() one part, flushed at once. A write still
 * blocked at until_ms (mono_ms(): a client that stays connected and reads nothing fills the web
 * server's buffers, then the socket's) is cut, and the connection with it. Each returns 0, or
 * -1 once the client is gone or the write was cut. Once begun, the front writes nothing of the
 * response.
 */
struct sink {
	int (*begin)(struct sink *k, const char *content_type, int64_t until_ms);
	int (*write)(struct sink *k, const char *data, size_t len, int64_t until_ms);
	void *ctx;
	int begun, broken;
};

struct request {
	char method[16];
	char path[1024];          /* SCRIPT_NAME + PATH_INFO, without the query string */
	char content_type[256];
	char accept[256];
	char remote_addr[64];     /* the client: the peer, or behind a front the one it names */
	int via_front;            /* came through a front listed in front_addresses */
	char authorization[256];
	char host[256];           /* the Host header; "" when the request has none */
	char origin[256];         /* the Origin header */
	char sec_fetch_site[32];  /* the Sec-Fetch-Site header */
	char cors_origin[256];    /* the Origin, when the operator lists it (CORS answers) */
	long long content_length; /* -1 when the request carries no Content-Length */
	char *body;               /* NUL-terminated; NULL when not read (too large, or not a POST) */
	size_t body_len;
	int client_fd;            /* readable once the client has gone away; -1 when unknown */
	struct sink *sink;        /* for a streamed answer; NULL when none can be */
};

#define REQUEST_INIT { .content_length = -1, .client_fd = -1 }

struct response {
	int status;
	const char *content_type;  /* static string */
	const char *allow;         /* static string, or NULL: the Allow header */
	int challenge;             /* send WWW-Authenticate: Bearer (with a 401) */
	int retry_after;           /* seconds for a Retry-After header; 0 = none */
	const char *preflight;     /* methods for an answer to a CORS preflight (204), or NULL */
	char *body;                /* malloc'd */
	size_t body_len;
};

#define RESPONSE_INIT { .status = 500 }

/*
 * What the front gives the handlers besides a request: the config, how to tell that the
 * service is stopping (SIGTERM arrived: finish quickly) or that another request waits for this
 * process (work after an answer should then give way; always 0 outside FastCGI), and whether a
 * keeper process runs beside this one (under --workers: the work after answers is its).
 */
struct config;
struct service {
	const struct config *cfg;
	const volatile sig_atomic_t *stop;
	int (*request_waiting)(void);
	int keeper;
};

/*
 * A handler answers one request. It returns after filling res, always: every failure becomes a
 * response. The front writes res out and calls response_release().
 */
typedef void (*handler_fn)(const struct service *svc, const struct request *req,
			   struct response *res);

/*
 * response_json() sets status and a compact JSON body (with a final newline) printed from item;
 * item stays the caller's. On failure to print, the response becomes a plain 500.
 *
 * response_error() sets status and the body {"error": msg}.
 *
 * response_refusal() answers what request_route() refused: the error, with Allow: methods for
 * a 405 and WWW-Authenticate for a 401; for 204 (a CORS preflight) no body, and methods as
 * the methods the page may use.
 *
 * response_text() sets status, a static content type and a copy of text.
 *
 * response_release() frees the body; the response may then be filled again.
 */
void response_json(struct response *res, int status, const struct cJSON *item);
void response_error(struct response *res, int status, const char *msg);
void response_refusal(struct response *res, int status, const char *msg, const char *methods);
void response_text(struct response *res, int status, const char *type, const char *text);
void response_release(struct response *res);

/* The reason phrase of a status code ("Not Found"), "Unknown" for codes not used here. */
const char *http_reason(int status);

#endif
