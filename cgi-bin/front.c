/* front.c - accept loop, request in, response out; FastCGI through libfcgi, or one CGI request. */
#include "front.h"

#include <errno.h>
#include <fcntl.h>
#include <fcgiapp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "cutoff.h"
#include "drain.h"
#include "html.h"
#include "log.h"
#include "metrics.h"
#include "origin.h"
#include "proxy.h"
#include "records.h"
#include "spawn.h"
#include "supervise.h"

/* For HTML answers (the page's own CSP comes from the web server with the file). */
#define CSP "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " \
	    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

/* Non-zero once SIGTERM or SIGINT arrived during a request: finish it quickly and exit. */
static volatile sig_atomic_t stopping;
static volatile sig_atomic_t busy;
static int fastcgi; /* serving from a listening socket (fd 0) */

/* Under FastCGI: whether a connection waits on the listening socket. 0 in CGI mode. */
static int request_waiting(void)
{
	struct pollfd pfd = { .fd = 0, .events = POLLIN };

	return fastcgi && poll(&pfd, 1, 0) > 0 && (pfd.revents & POLLIN);
}

/* Idle (waiting in accept, or reading a request that has not reached a handler): leave at once;
 * the web server is shutting down and answers that request itself. Busy: let the handler end
 * its run (the sandbox kills the container) and answer. */
static void on_stop(int sig)
{
	(void)sig;
	if (!busy)
		_exit(0);
	stopping = 1;
}

static void install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_stop;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sa.sa_handler = SIG_DFL; /* children must be reaped by waitpid, whatever the server set */
	sigaction(SIGCHLD, &sa, NULL);
}

/* Where a request comes from: a FastCGI request, or (rq == NULL) the CGI environment. */
struct source {
	FCGX_Request *rq;
};

static const char *param(const struct source *src, const char *name)
{
	const char *v = src->rq ? FCGX_GetParam(name, src->rq->envp) : getenv(name);
	return v ? v : "";
}

/* How many times name is in the request's parameters (the web server may pass one twice). */
static int param_count(const struct source *src, const char *name)
{
	char **env = src->rq ? src->rq->envp : environ;
	size_t n = strlen(name);
	int count = 0;

	for (; env && *env; env++)
		count += !strncmp(*env, name, n) && (*env)[n] == '=';
	return count;
}

static size_t read_body(const struct source *src, char *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		int chunk = n - got > 65536 ? 65536 : (int)(n - got), r;

		if (src->rq)
			r = FCGX_GetStr(buf + got, chunk, src->rq->in);
		else
			r = (int)fread(buf + got, 1, (size_t)chunk, stdin);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	return got;
}

static void put(const struct source *src, const char *s, size_t n)
{
	if (src->rq)
		FCGX_PutStr(s, (int)n, src->rq->out);
	else
		fwrite(s, 1, n, stdout);
}

static void copy_param(char *dst, size_t size, const struct source *src, const char *name)
{
	snprintf(dst, size, "%s", param(src, name));
}

/* The Host the browser sent. nginx's stock fastcgi_params pass $host, which drops the port: put
 * back the port the request came to, unless it is the scheme's default (then the Host named
 * none, or a TLS proxy in front speaks to this server on 80 or 443). */
static void read_host(const struct source *src, struct request *req)
{
	const char *port = param(src, "SERVER_PORT"), *end;
	size_t n;

	copy_param(req->host, sizeof(req->host), src, "HTTP_HOST");
	end = strrchr(req->host, ']');
	if (!req->host[0] || strchr(end ? end : req->host, ':') || !*port ||
	    strspn(port, "0123456789") != strlen(port) || !strcmp(port, "80") || !strcmp(port, "443"))
		return;
	n = strlen(req->host);
	if (n + 1 + strlen(port) < sizeof(req->host))
		snprintf(req->host + n, sizeof(req->host) - n, ":%s", port);
}

static void read_request(const struct source *src, const struct config *cfg, struct request *req)
{
	const char *cl = param(src, "CONTENT_LENGTH");
	char *end;

	copy_param(req->method, sizeof(req->method), src, "REQUEST_METHOD");
	snprintf(req->path, sizeof(req->path), "%s%s", param(src, "SCRIPT_NAME"),
		 param(src, "PATH_INFO"));
	copy_param(req->content_type, sizeof(req->content_type), src, "CONTENT_TYPE");
	copy_param(req->accept, sizeof(req->accept), src, "HTTP_ACCEPT");
	copy_param(req->remote_addr, sizeof(req->remote_addr), src, "REMOTE_ADDR");
	/* Header names that differ only in punctuation (X_Forwarded-For) reach us under one
	 * name: a second one is the client's, not the front's, and none of them is believed. */
	req->via_front = proxy_client(cfg->front_addresses, req->remote_addr,
				      param_count(src, "HTTP_X_FORWARDED_FOR") == 1
					      ? param(src, "HTTP_X_FORWARDED_FOR") : "",
				      req->remote_addr, sizeof(req->remote_addr));
	copy_param(req->authorization, sizeof(req->authorization), src, "HTTP_AUTHORIZATION");
	read_host(src, req);
	copy_param(req->origin, sizeof(req->origin), src, "HTTP_ORIGIN");
	copy_param(req->sec_fetch_site, sizeof(req->sec_fetch_site), src, "HTTP_SEC_FETCH_SITE");
	if (*cl >= '0' && *cl <= '9') {
		errno = 0;
		req->content_length = strtoll(cl, &end, 10); /* LLONG_MAX on overflow: too large */
		if (*end)
			req->content_length = -1;
	}
	if (strcmp(req->method, "POST") || req->content_length < 0 ||
	    (unsigned long long)req->content_length > cfg->max_body)
		return;
	req->body = malloc((size_t)req->content_length + 1);
	if (!req->body)
		return;
	req->body_len = read_body(src, req->body, (size_t)req->content_length);
	req->body[req->body_len] = '\0';
}

/* Under FastCGI, once the request's stdin stream is read to its end, nothing more comes from the
 * server for this request: the connection turning readable means an abort or a close, i.e. the
 * client went away. */
static void watch_client(const struct source *src, struct request *req)
{
	char scrap[4096];

	if (!src->rq)
		return;
	while (FCGX_GetStr(scrap, sizeof(scrap), src->rq->in) > 0)
		;
	req->client_fd = src->rq->ipcFd;
}

/* The head and body of an answer; with streamed set, the head of a streamed one (no length, no
 * buffering by nginx) and no body. */
static void write_answer(const struct source *src, const struct config *cfg,
			 const struct request *req, const struct response *res, int streamed);

static void write_response(const struct source *src, const struct config *cfg,
			   const struct request *req, const struct response *res)
{
	write_answer(src, cfg, req, res, 0);
}

/* A streamed answer (struct sink) through the source it came from. */
struct streaming {
	const struct source *src;
	const struct config *cfg;
	const struct request *req;
};

/* A streamed answer is FastCGI's only (serve() gives plain CGI no sink). */
static int flush_source(void *arg)
{
	const struct source *src = arg;

	return FCGX_FFlush(src->rq->out) || FCGX_GetError(src->rq->out) ? -1 : 0;
}

/* Flushes a streamed answer, cut at until_ms (a client that reads nothing must not hold the
 * run past its deadline). */
static int flushed_by(const struct source *src, int64_t until_ms)
{
	return cutoff_call(src->rq->ipcFd, until_ms, flush_source, (void *)src);
}

static int sink_begin(struct sink *k, const char *content_type, int64_t until_ms)
{
	struct streaming *st = k->ctx;
	struct response head = RESPONSE_INIT;

	head.status = 200;
	head.content_type = content_type;
	k->begun = 1;
	write_answer(st->src, st->cfg, st->req, &head, 1);
	if (flushed_by(st->src, until_ms))
		k->broken = 1;
	return k->broken ? -1 : 0;
}

static int sink_write(struct sink *k, const char *data, size_t len, int64_t until_ms)
{
	struct streaming *st = k->ctx;

	if (k->broken)
		return -1;
	put(st->src, data, len);
	if (flushed_by(st->src, until_ms))
		k->broken = 1;
	return k->broken ? -1 : 0;
}

static void write_answer(const struct source *src, const struct config *cfg,
			 const struct request *req, const struct response *res, int streamed)
{
	char head[2048], extra[1536] = "", length[48];
	int n = 0;

	if (req->cors_origin[0])
		n += snprintf(extra + n, sizeof(extra) - (size_t)n,
			      "Access-Control-Allow-Origin: %s\r\nVary: Origin\r\n"
			      "Access-Control-Expose-Headers: Retry-After\r\n", req->cors_origin);
	if (res->preflight)
		n += snprintf(extra + n, sizeof(extra) - (size_t)n,
			      "Access-Control-Allow-Methods: %s\r\n"
			      "Access-Control-Allow-Headers: Content-Type, Authorization\r\n"
			      "Access-Control-Max-Age: 600\r\n", res->preflight);

	if (res->allow)
		n += snprintf(extra + n, sizeof(extra) - (size_t)n, "Allow: %s\r\n", res->allow);
	if (res->challenge)
		n += snprintf(extra + n, sizeof(extra) - (size_t)n,
			      "WWW-Authenticate: Bearer realm=\"safe-code-executor\"\r\n");
	if (res->retry_after > 0)
		n += snprintf(extra + n, sizeof(extra) - (size_t)n, "Retry-After: %d\r\n",
			      res->retry_after);
	if (res->content_type && !strncmp(res->content_type, "text/html", 9))
		snprintf(extra + n, sizeof(extra) - (size_t)n, "Content-Security-Policy: %s\r\n", CSP);
	if (streamed)
		snprintf(length, sizeof(length), "X-Accel-Buffering: no\r\n");
	else
		snprintf(length, sizeof(length), "Content-Length: %zu\r\n", res->body_len);
	n = snprintf(head, sizeof(head),
		     "Status: %d %s\r\n"
		     "Content-Type: %s\r\n"
		     "%s"
		     "X-Content-Type-Options: nosniff\r\n"
		     "Cache-Control: no-store\r\n"
		     "X-SCE-Host: %s\r\n"
		     "%s"
		     "\r\n",
		     res->status, http_reason(res->status),
		     res->content_type ? res->content_type : "application/json; charset=utf-8",
		     length, cfg->host_label, extra);
	put(src, head, (size_t)n);
	if (!streamed && strcmp(req->method, "HEAD") && res->body)
		put(src, res->body, res->body_len);
}

static void serve(const struct source *src, const struct service *svc, handler_fn handle)
{
	const struct config *cfg = svc->cfg;
	struct request req = REQUEST_INIT;
	struct response res = RESPONSE_INIT;
	struct streaming st = { src, cfg, &req };
	struct sink sink = { sink_begin, sink_write, &st, 0, 0 };

	char err[256];
	int status;

	read_request(src, cfg, &req);
	status = origin_check(cfg, &req, req.cors_origin, sizeof(req.cors_origin), err, sizeof(err));
	if (status) {
		/* Nothing of a foreign page's request reaches a handler: nothing runs, nothing is
		 * recorded. A browser's form post gets an HTML page. */
		if (wants_html(&req))
			html_error(&res, status, err);
		else
			response_error(&res, status, err);
		if (!strcmp(req.method, "POST")) /* the count is of runs refused */
			metrics_count_refusal(cfg, status);
	} else {
		if (!strcmp(req.method, "POST") && req.body)
			watch_client(src, &req);
		req.sink = src->rq ? &sink : NULL; /* plain CGI answers whole */
		handle(svc, &req, &res);
	}
	if (!res.body && !sink.begun)
		response_error(&res, 500, "internal error");
	if (!sink.begun) /* a streamed answer has been written */
		write_response(src, cfg, &req, &res);
	response_release(&res);
	free(req.body);
}

static void on_keeper_stop(int sig)
{
	(void)sig;
	stopping = 1;
}

/* The keeper: p->keep every KEEP_EVERY_MS until SIGTERM, then once more with *svc->stop set (to
 * end what it started). It never accepts: its descriptor 0, the listening socket it inherited,
 * is replaced by /dev/null. */
static int keep(const struct service *svc, void (*fn)(const struct service *svc))
{
	struct timespec pause = { KEEP_EVERY_MS / 1000, (KEEP_EVERY_MS % 1000) * 1000000L };
	struct sigaction sa = { .sa_handler = on_keeper_stop };
	int null = open("/dev/null", O_RDONLY | O_CLOEXEC);

	if (null >= 0) { /* not the socket: a child it spawns sees no connection either */
		dup2(null, 0);
		close(null);
	}
	signal(SIGPIPE, SIG_IGN); /* a peer that closed (Redis) is an error to handle, not a death */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	while (!stopping) {
		fn(svc);
		nanosleep(&pause, NULL);
	}
	fn(svc);
	return 0;
}

/* --languages: the table, one line each, for scripts/build-images.sh. */
static int print_languages(const struct config *cfg)
{
	int i;

	for (i = 0; i < cfg->langs.n; i++) {
		const struct language *l = &cfg->langs.list[i];

		printf("%s\t%s\t%s\t%s\t%s\n", l->name, l->image, l->packages,
		       l->setup[0] ? l->setup : "-", l->version_cmd);
	}
	return fflush(stdout) ? 1 : 0;
}

/* --render-page FILE: the page, its language <select> filled from the table. */
static int render_page(const struct config *cfg, const char *path)
{
	char line[4096];
	FILE *f = fopen(path, "re");
	char *options;
	int found = 0;

	if (!f) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return 1;
	}
	while (fgets(line, sizeof(line), f)) {
		char *mark = strstr(line, "<!-- languages -->");

		if (!mark) {
			fputs(line, stdout);
			continue;
		}
		*mark = '\0'; /* what is before it: the indent */
		options = html_options_new(&cfg->langs, line);
		if (!options)
			break;
		fputs(options, stdout);
		free(options);
		found = 1;
	}
	fclose(f);
	if (!found)
		fprintf(stderr, "%s: no line with <!-- languages -->\n", path);
	return found && !fflush(stdout) ? 0 : 1;
}

/* --drain [SECONDS]: this host takes no new runs; waits (default DRAIN_WAIT_S) for the runs in
 * flight to end. Exit status 0 once none runs, 1 when some still do. */
#define DRAIN_WAIT_S 120
static int drain_command(const struct config *cfg, const char *seconds, const char *prog)
{
	char err[256], *end = NULL;
	long wait_s = seconds ? strtol(seconds, &end, 10) : DRAIN_WAIT_S;
	int r;

	if ((end && (*end || end == seconds)) || wait_s < 0 || wait_s > 86400) {
		fprintf(stderr, "%s: --drain takes the seconds to wait for the runs in flight (0-86400)\n",
			prog);
		return 2;
	}
	r = drain_start(cfg, (int)wait_s, err, sizeof(err));
	if (r < 0)
		fprintf(stderr, "%s: %s\n", prog, err);
	return r ? 1 : 0;
}

int front_main(int argc, char **argv, const struct program *p)
{
	struct config cfg;
	struct service svc = { .cfg = &cfg, .stop = &stopping, .request_waiting = request_waiting };
	FCGX_Request rq;
	struct source src = { NULL };
	char err[512];

	log_init(argv[0]);
	if (config_load(&cfg, config_path(), err, sizeof(err))) {
		fprintf(stderr, "%s: config: %s\n", argv[0], err);
		return 1;
	}
	if (argc == 2 && !strcmp(argv[1], "--check-config")) {
		printf("Using history file at: %s\n", cfg.history_path);
		return 0;
	}
	if (argc == 2 && !strcmp(argv[1], "--languages"))
		return print_languages(&cfg);
	if (argc == 3 && !strcmp(argv[1], "--render-page"))
		return render_page(&cfg, argv[2]);
	if (records_check_state(&cfg, err, sizeof(err))) {
		fprintf(stderr, "%s: refusing to start: %s\n", argv[0], err);
		return 1;
	}
	spawn_docker_config(cfg.state_dir);
	if (argc == 2 && !strcmp(argv[1], "--prepare")) {
		if (p->prepare)
			p->prepare(&svc);
		return 0;
	}
	if (argc == 2 && !strcmp(argv[1], "--cleanup")) {
		if (p->cleanup)
			p->cleanup(&svc);
		return 0;
	}
	if (argc >= 2 && argc <= 3 && !strcmp(argv[1], "--drain"))
		return drain_command(&cfg, argc == 3 ? argv[2] : NULL, argv[0]);
	if (argc == 2 && !strcmp(argv[1], "--resume")) {
		if (!drain_stop(&cfg, err, sizeof(err)))
			return 0;
		fprintf(stderr, "%s: %s\n", argv[0], err);
		return 1;
	}
	if (argc > 1 && strcmp(argv[1], "--workers")) {
		fprintf(stderr, "usage: %s [--check-config | --languages | --render-page FILE | --prepare | "
				"--cleanup | --drain [SECONDS] | --resume | --workers [N]]\n", argv[0]);
		return 2;
	}
	if (FCGX_Init()) {
		fprintf(stderr, "%s: cannot initialise libfcgi\n", argv[0]);
		return 1;
	}
	if (argc > 1) {
		int n = p->workers ? p->workers : cfg.workers, r;
		char *end = NULL;

		if (argc > 2)
			n = (int)strtol(argv[2], &end, 10);
		if (argc > 3 || (end && (*end || end == argv[2]))) {
			fprintf(stderr, "%s: --workers takes a number of processes\n", argv[0]);
			return 2;
		}
		if (n < 1 || n > SUPERVISE_MAX) {
			fprintf(stderr, "%s: --workers: give 1 to %d\n", argv[0], SUPERVISE_MAX);
			return 2;
		}
		if (FCGX_IsCGI()) {
			fprintf(stderr, "%s: --workers needs a listening socket on stdin\n", argv[0]);
			return 2;
		}
		r = supervise(n, p->keep != NULL);
		if (r == SUPERVISE_KEEPER)
			return keep(&svc, p->keep);
		svc.keeper = p->keep != NULL; /* a worker: the keeper does the work after answers */
		if (r != SUPERVISE_WORKER) /* the supervisor, done: 0 after a stop */
			return r == 1 ? 0 : 1;
	}
	install_signals();
	if (FCGX_IsCGI()) {
		busy = 1;
		serve(&src, &svc, p->handle);
		fflush(stdout);
		fclose(stdout); /* the answer is complete: the web server may send it now */
		if (p->after)
			p->after(&svc);
		return 0;
	}
	if (FCGX_InitRequest(&rq, 0, 0))
		return 1;
	src.rq = &rq;
	fastcgi = 1;
	while (!stopping && FCGX_Accept_r(&rq) >= 0) {
		busy = 1;
		serve(&src, &svc, p->handle);
		FCGX_Finish_r(&rq);
		if (p->after)
			p->after(&svc); /* removes the run's container even when stopping */
		busy = 0;
	}
	return 0;
}
