/* html.c - builds escaped HTML pages for browsers that posted the form without JavaScript. */
#include "html.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "request.h"
#include "sandbox.h"
#include "utf8.h"

#define HTML_TYPE "text/html; charset=utf-8"

struct buf {
	char *s;
	size_t len, cap;
	int failed;
};

static void put(struct buf *b, const char *s, size_t n)
{
	if (b->failed)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = (b->len + n + 1) * 2;
		char *grown = realloc(b->s, cap);

		if (!grown) {
			b->failed = 1;
			return;
		}
		b->s = grown;
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void putf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(struct buf *b, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n > 0)
		put(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* Text as HTML text: & < > " ' escaped. */
static void put_text(struct buf *b, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': put(b, "&amp;", 5); break;
		case '<': put(b, "&lt;", 4); break;
		case '>': put(b, "&gt;", 4); break;
		case '"': put(b, "&quot;", 6); break;
		case '\'': put(b, "&#39;", 5); break;
		default: put(b, s, 1); break;
		}
	}
}

static void head(struct buf *b, const char *title)
{
	static const char top[] = "<!doctype html>\n<html lang=\"en\">\n<head>\n"
				  "<meta charset=\"utf-8\">\n<meta name=\"viewport\" "
				  "content=\"width=device-width, initial-scale=1\">\n<title>";

	put(b, top, sizeof(top) - 1);
	put_text(b, title);
	putf(b, " - Safe Code Executor</title>\n<link rel=\"stylesheet\" href=\"/style.css\">\n"
		"</head>\n<body>\n<main class=\"result-page\">\n<h1>");
	put_text(b, title);
	putf(b, "</h1>\n");
}

static void finish(struct buf *b, struct response *res, int status)
{
	putf(b, "<p><a href=\"/ui\">Back to the editor</a></p>\n</main>\n</body>\n</html>\n");
	response_release(res);
	if (b->failed) {
		free(b->s);
		response_error(res, 500, "out of memory");
		return;
	}
	res->status = status;
	res->content_type = HTML_TYPE;
	res->body = b->s;
	res->body_len = b->len;
}

int wants_html(const struct request *req)
{
	return strstr(req->accept, "text/html") != NULL;
}

void html_result(struct response *res, const struct run_request *rr, const struct run_result *r)
{
	struct buf b = { NULL, 0, 0, 0 };
	const char *status = run_status_name(r->status);
	char *input = utf8_sanitize_new(rr->input, rr->input_len); /* a NUL shows as U+FFFD */

	head(&b, "Run result");
	putf(&b, "<p class=\"summary\"><span class=\"badge %s\">%s</span> exit code %d, %ld ms%s</p>\n",
	     status, status, r->exit_code, r->duration_ms, r->truncated ? ", output truncated" : "");
	if (r->compile_ms >= 0 || r->compile_output[0]) {
		putf(&b, "<h2>Compiler</h2>\n<pre class=\"compile\">");
		put_text(&b, r->compile_output);
		putf(&b, "</pre>\n");
	}
	putf(&b, "<h2>Output</h2>\n<pre class=\"stdout\">");
	put_text(&b, r->output);
	putf(&b, "</pre>\n<h2>Errors</h2>\n<pre class=\"stderr\">");
	put_text(&b, r->error);
	putf(&b, "</pre>\n<h2>Code (");
	put_text(&b, rr->lang->label);
	putf(&b, ")</h2>\n<pre class=\"code\">");
	put_text(&b, rr->code);
	putf(&b, "</pre>\n");
	if (rr->input_len) {
		putf(&b, "<h2>Input</h2>\n<pre class=\"input\">");
		if (input)
			put_text(&b, input);
		else
			b.failed = 1;
		putf(&b, "</pre>\n");
	}
	free(input);
	finish(&b, res, 200);
}

char *html_options_new(const struct languages *langs, const char *indent)
{
	struct buf b = { NULL, 0, 0, 0 };
	int i;

	put(&b, "", 0);
	for (i = 0; i < langs->n; i++) {
		put(&b, indent, strlen(indent));
		putf(&b, "<option value=\"");
		put_text(&b, langs->list[i].name);
		putf(&b, "\">");
		put_text(&b, langs->list[i].label);
		putf(&b, "</option>\n");
	}
	if (b.failed) {
		free(b.s);
		return NULL;
	}
	return b.s;
}

void html_error(struct response *res, int status, const char *msg)
{
	struct buf b = { NULL, 0, 0, 0 };

	head(&b, "Not run");
	putf(&b, "<p class=\"api-error\" role=\"alert\">");
	put_text(&b, msg);
	putf(&b, "</p>\n");
	finish(&b, res, status);
}
