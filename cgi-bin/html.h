/* html.h - the HTML answer to a browser's form post (no JavaScript): the result, or the error. */
#ifndef SCE_HTML_H
#define SCE_HTML_H

#include "http.h"

struct languages;
struct run_request;
struct run_result;

/*
 * wants_html() is true when the client asks for HTML (its Accept header names text/html), as a
 * browser submitting a form does; curl and the page's own fetch ask for JSON.
 *
 * html_result() and html_error() set status and an HTML page (every text escaped) with a link
 * back to the editor. The request's language, code and input are shown with the result.
 *
 * html_options_new() returns an <option> line for each language (indent, then the option),
 * for the page's selector; the caller frees it. NULL when out of memory.
 */
int wants_html(const struct request *req);
void html_result(struct response *res, const struct run_request *rr, const struct run_result *r);
void html_error(struct response *res, int status, const char *msg);
char *html_options_new(const struct languages *langs, const char *indent);

#endif
