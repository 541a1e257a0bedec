/* origin.h - who may talk to the service from a browser: the Host a request names, the page
 * (Origin, Sec-Fetch-Site) that sent it, and CORS for the origins the operator lists. */
#ifndef SCE_ORIGIN_H
#define SCE_ORIGIN_H

#include <stddef.h>

#include "config.h"
#include "http.h"

/*
 * origin_check() decides whether req may reach a handler:
 *   - a Host header whose name is not allowed (cfg->allowed_hosts; by default the loopback
 *     names and cfg->bind) is a DNS-rebinding attempt or a misdirected request: 421, on every
 *     endpoint. No Host at all (HTTP/1.0 tools, cgi-fcgi) is not a browser and passes.
 *   - a POST sent by a page of another origin is a cross-site request: 403. Another origin means
 *     an Origin header (or, without one, "Sec-Fetch-Site: cross-site") that is neither the
 *     request's own (host and port as its Host says; a Host without a port stands for the
 *     origin scheme's default port; the scheme itself is not compared, since a TLS proxy in front
 *     may speak plain HTTP here) nor one cfg->allowed_origins lists; "Origin: null" is always
 *     foreign. Requests with neither header (curl, scripts) pass.
 * Returns 0, or the status with the message in err. When the Origin is one the operator
 * lists, it is copied to cors (size corslen), for the Access-Control-Allow-Origin header; else
 * cors is "".
 *
 * origin_hostname() copies the host name of a Host header value (no port, no IPv6 brackets,
 * lower case, no final dot) to out; -1 when it is not one.
 * origin_normalize() writes an origin ("scheme://host[:port]") in one form: lower case, the
 * default port (80, 443) left out; -1 when it is not an http(s) origin.
 */
int origin_check(const struct config *cfg, const struct request *req, char *cors, size_t corslen,
		 char *err, size_t errlen);
int origin_hostname(const char *host, char *out, size_t outlen);
int origin_normalize(const char *origin, char *out, size_t outlen);

/* config.c checks allowed_hosts and allowed_origins with these: 1 when every space-separated
 * item of list is a host name ("*" alone allows any), or an origin. */
int origin_hosts_valid(const char *list);
int origin_origins_valid(const char *list);

#endif
