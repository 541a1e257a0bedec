/* origin.c - Host and Origin checks against DNS rebinding and cross-site requests; CORS. */
#include "origin.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define NAME_MAX_LEN 256

/* Splits "host[:port]" or "[v6]:port": the host (lower case, without brackets and final dot)
 * into host, the port into *port (-1 when none). 0, or -1 when malformed. */
static int split_authority(const char *s, size_t n, char *host, size_t hostlen, long *port)
{
	const char *h = s, *colon = NULL;
	size_t hn, i;

	*port = -1;
	if (n && s[0] == '[') {
		const char *close = memchr(s, ']', n);

		if (!close)
			return -1;
		h = s + 1;
		hn = (size_t)(close - h);
		if (!hn || strspn(h, "0123456789abcdefABCDEF:.") < hn)
			return -1;
		if (close + 1 < s + n) {
			if (close[1] != ':')
				return -1;
			colon = close + 1;
		}
	} else {
		colon = memchr(s, ':', n);
		hn = colon ? (size_t)(colon - s) : n;
		for (i = 0; i < hn; i++)
			if (!isalnum((unsigned char)s[i]) && !strchr(".-_", s[i]))
				return -1;
		if (hn && h[hn - 1] == '.')
			hn--; /* "example.org." is example.org */
		if (!hn)
			return -1;
	}
	if (colon) {
		const char *p = colon + 1, *end = s + n;
		long v = 0;

		if (p == end || end - p > 5)
			return -1;
		for (; p < end; p++) {
			if (!isdigit((unsigned char)*p))
				return -1;
			v = v * 10 + (*p - '0');
		}
		if (v < 1 || v > 65535)
			return -1;
		*port = v;
	}
	if (hn >= hostlen)
		return -1;
	for (i = 0; i < hn; i++)
		host[i] = (char)tolower((unsigned char)h[i]);
	host[hn] = '\0';
	return 0;
}

int origin_hostname(const char *host, char *out, size_t outlen)
{
	long port;

	return split_authority(host, strlen(host), out, outlen, &port);
}

/* An http(s) origin: scheme ("http" or "https"), host and port (the scheme's default when the
 * origin names none). 0, or -1. */
static int parse_origin(const char *origin, int *https, char *host, size_t hostlen, long *port)
{
	const char *rest;

	if (!strncasecmp(origin, "http://", 7)) {
		*https = 0;
		rest = origin + 7;
	} else if (!strncasecmp(origin, "https://", 8)) {
		*https = 1;
		rest = origin + 8;
	} else {
		return -1;
	}
	if (split_authority(rest, strlen(rest), host, hostlen, port))
		return -1;
	if (*port < 0)
		*port = *https ? 443 : 80;
	return 0;
}

int origin_normalize(const char *origin, char *out, size_t outlen)
{
	char host[NAME_MAX_LEN];
	long port;
	int https, n;

	if (parse_origin(origin, &https, host, sizeof(host), &port))
		return -1;
	n = snprintf(out, outlen, "%s://%s%s%s", https ? "https" : "http",
		     strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "");
	if (n > 0 && (size_t)n < outlen && port != (https ? 443 : 80))
		n += snprintf(out + n, outlen - (size_t)n, ":%ld", port);
	return n > 0 && (size_t)n < outlen ? 0 : -1;
}

/* Whether the space-separated list holds item (compared by what normalize makes of both). */
static int listed(const char *list, const char *item,
		  int (*normalize)(const char *, char *, size_t))
{
	char want[NAME_MAX_LEN], one[NAME_MAX_LEN], got[NAME_MAX_LEN];
	const char *p = list;

	if (normalize(item, want, sizeof(want)))
		return 0;
	while (*p) {
		size_t n = strcspn(p, " \t");

		if (n && n < sizeof(one)) {
			memcpy(one, p, n);
			one[n] = '\0';
			if (!normalize(one, got, sizeof(got)) && !strcmp(got, want))
				return 1;
		}
		p += n;
		p += strspn(p, " \t");
	}
	return 0;
}

/* host: a Host header's value (listed() normalizes it). */
static int host_allowed(const struct config *cfg, const char *host)
{
	char bind[sizeof(cfg->bind) + 2];

	if (!strcmp(cfg->allowed_hosts, "*"))
		return 1;
	if (cfg->allowed_hosts[0])
		return listed(cfg->allowed_hosts, host, origin_hostname);
	snprintf(bind, sizeof(bind), strchr(cfg->bind, ':') ? "[%s]" : "%s", cfg->bind);
	return listed("localhost 127.0.0.1 [::1]", host, origin_hostname) ||
	       (bind[0] && listed(bind, host, origin_hostname));
}

/* Whether origin is the request's own: same host, and the port its Host header names (or, when
 * it names none, the origin scheme's default: a TLS proxy in front may send plain HTTP). */
static int same_origin(const char *origin, const char *host_header)
{
	char ohost[NAME_MAX_LEN], hhost[NAME_MAX_LEN];
	long oport, hport;
	int https;

	if (parse_origin(origin, &https, ohost, sizeof(ohost), &oport) ||
	    split_authority(host_header, strlen(host_header), hhost, sizeof(hhost), &hport))
		return 0;
	return !strcmp(ohost, hhost) && oport == (hport >= 0 ? hport : https ? 443 : 80);
}

int origin_check(const struct config *cfg, const struct request *req, char *cors, size_t corslen,
		 char *err, size_t errlen)
{
	char name[NAME_MAX_LEN];
	int foreign = 0, mine = 0;

	cors[0] = '\0';
	if (req->host[0] &&
	    (origin_hostname(req->host, name, sizeof(name)) || !host_allowed(cfg, req->host))) {
		snprintf(err, errlen,
			 "misdirected request: this service does not answer for host \"%.64s\"",
			 req->host);
		return 421;
	}
	if (req->origin[0]) {
		if (strcmp(req->origin, "null") && cfg->allowed_origins[0] &&
		    listed(cfg->allowed_origins, req->origin, origin_normalize)) {
			snprintf(cors, corslen, "%s", req->origin);
			mine = 1;
		} else {
			mine = strcmp(req->origin, "null") && req->host[0] &&
			       same_origin(req->origin, req->host);
		}
		foreign = !mine;
	} else {
		foreign = !strcmp(req->sec_fetch_site, "cross-site");
	}
	if (foreign && !strcmp(req->method, "POST")) {
		snprintf(err, errlen,
			 "cross-site request refused: a page of another site (%.100s) may "
			 "not run programs here",
			 req->origin[0] ? req->origin : "Sec-Fetch-Site: cross-site");
		return 403;
	}
	return 0;
}

static int valid_list(const char *list, int (*check)(const char *, char *, size_t))
{
	char one[NAME_MAX_LEN], out[NAME_MAX_LEN];
	const char *p = list + strspn(list, " \t");
	int items = 0;

	while (*p) {
		size_t n = strcspn(p, " \t");

		if (n >= sizeof(one))
			return 0;
		memcpy(one, p, n);
		one[n] = '\0';
		if (check(one, out, sizeof(out)))
			return 0;
		items++;
		p += n;
		p += strspn(p, " \t");
	}
	return items > 0;
}

/* A host name as allowed_hosts takes it: no port (an IPv6 address in brackets). */
static int bare_hostname(const char *s, char *out, size_t outlen)
{
	size_t n = strlen(s);

	if (s[0] == '[' ? s[n - 1] != ']' : strchr(s, ':') != NULL)
		return -1;
	return origin_hostname(s, out, outlen);
}

int origin_hosts_valid(const char *list)
{
	return !strcmp(list, "*") || valid_list(list, bare_hostname);
}

int origin_origins_valid(const char *list)
{
	return valid_list(list, origin_normalize);
}
