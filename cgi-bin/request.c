/* request.c - one place that decides whether a request is acceptable, and what it asks for. */
#include "request.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "utf8.h"

enum body_kind { BODY_JSON, BODY_FORM };

static int method_listed(const char *method, const char *methods)
{
	size_t n = strlen(method);
	const char *p = methods;

	while (*p) {
		size_t len = strcspn(p, ",");
		if (len == n && !strncmp(p, method, n))
			return 1;
		p += len;
		while (*p == ',' || *p == ' ')
			p++;
	}
	return 0;
}

/* Compares in time that depends on the lengths only, not on where the first difference is. */
static int same_secret(const char *a, const char *b)
{
	size_t n = strlen(a), m = strlen(b), i;
	unsigned char diff = n != m;

	for (i = 0; i < n; i++)
		diff |= (unsigned char)(a[i] ^ b[i % (m ? m : 1)]);
	return m && !diff;
}

static int authorized(const char *header, const char *token)
{
	if (!*token)
		return 1;
	if (strncasecmp(header, "Bearer ", 7))
		return 0;
	header += 7;
	while (*header == ' ')
		header++;
	return same_secret(header, token);
}

int request_route(const struct request *req, const char *path, const char *methods,
		  const char *token, size_t max_body, char *err, size_t errlen)
{
	if (strcmp(req->path, path)) {
		snprintf(err, errlen, "not found");
		return 404;
	}
	if (!strcmp(req->method, "OPTIONS") && req->cors_origin[0]) {
		snprintf(err, errlen, "preflight"); /* a CORS preflight from a listed origin */
		return 204;
	}
	if (!method_listed(req->method, methods)) {
		snprintf(err, errlen, "method not allowed: use %s", methods);
		return 405;
	}
	if (!authorized(req->authorization, token)) {
		snprintf(err, errlen, "missing or wrong API token: send Authorization: Bearer <token>");
		return 401;
	}
	if (strcmp(req->method, "POST"))
		return 0;
	if (req->content_length < 0) {
		snprintf(err, errlen, "length required: send a Content-Length header");
		return 411;
	}
	if ((unsigned long long)req->content_length > max_body) {
		snprintf(err, errlen, "request body too large: the limit is %zu bytes", max_body);
		return 413;
	}
	if (!req->body) {
		snprintf(err, errlen, "out of memory");
		return 500;
	}
	if (req->body_len != (size_t)req->content_length) {
		snprintf(err, errlen, "request body shorter than its Content-Length");
		return 400;
	}
	return 0;
}

/* Media type of a Content-Type header: JSON or a form post, in UTF-8. Returns 0 or 415. */
static int body_kind(const char *content_type, enum body_kind *kind, char *err, size_t errlen)
{
	const char *p = content_type, *semi;
	size_t len;

	while (*p == ' ' || *p == '\t')
		p++;
	semi = strchr(p, ';');
	len = semi ? (size_t)(semi - p) : strlen(p);
	while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
		len--;
	if (len == 16 && !strncasecmp(p, "application/json", len))
		*kind = BODY_JSON;
	else if (len == 33 && !strncasecmp(p, "application/x-www-form-urlencoded", len))
		*kind = BODY_FORM;
	else
		goto unsupported;
	while (semi) {
		const char *param = semi + 1, *eq;
		size_t plen;

		while (*param == ' ' || *param == '\t')
			param++;
		semi = strchr(param, ';');
		plen = semi ? (size_t)(semi - param) : strlen(param);
		eq = memchr(param, '=', plen);
		if (eq && (size_t)(eq - param) == 7 && !strncasecmp(param, "charset", 7)) {
			const char *v = eq + 1;
			size_t vlen = plen - 8;

			while (vlen && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
				vlen--;
			if (vlen >= 2 && v[0] == '"' && v[vlen - 1] == '"') {
				v++;
				vlen -= 2;
			}
			if (!(vlen == 5 && !strncasecmp(v, "utf-8", 5))) {
				snprintf(err, errlen, "unsupported charset: send UTF-8");
				return 415;
			}
		}
	}
	return 0;
unsupported:
	snprintf(err, errlen,
		 "unsupported content type: send application/json or application/x-www-form-urlencoded");
	return 415;
}

/* Where the raw text of the top-level "stdin" string is in a JSON body (between its quotes). */
struct span {
	size_t from, to;
	int found;
};

static int hex4(const char *s, unsigned *v)
{
	int k;

	*v = 0;
	for (k = 0; k < 4; k++) {
		if (!isxdigit((unsigned char)s[k]))
			return -1;
		*v = *v * 16 + (unsigned)(isdigit((unsigned char)s[k]) ? s[k] - '0'
								  : tolower((unsigned char)s[k]) - 'a' + 10);
	}
	return 0;
}

/*
 * Decodes the text between a JSON string's quotes (escapes checked by json_scan) into out, which
 * has room for n bytes (a decoded string is never longer). Returns the length, or -1 for a
 * surrogate escape that is not half of a pair.
 */
static long json_unescape(const char *s, size_t n, char *out)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	size_t i, o = 0;
	unsigned cp, lo;

	for (i = 0; i < n; i++) {
		if (s[i] != '\\') {
			out[o++] = s[i];
			continue;
		}
		i++;
		if (s[i] != 'u') {
			out[o++] = to[strchr(from, s[i]) - from];
			continue;
		}
		if (hex4(s + i + 1, &cp))
			return -1;
		i += 4;
		if (cp >= 0xDC00 && cp <= 0xDFFF)
			return -1;
		if (cp >= 0xD800 && cp <= 0xDBFF) {
			if (n - i < 7 || s[i + 1] != '\\' || s[i + 2] != 'u' || hex4(s + i + 3, &lo) ||
			    lo < 0xDC00 || lo > 0xDFFF)
				return -1;
			cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
			i += 6;
		}
		if (cp < 0x80) {
			out[o++] = (char)cp;
		} else if (cp < 0x800) {
			out[o++] = (char)(0xC0 | cp >> 6);
			out[o++] = (char)(0x80 | (cp & 0x3F));
		} else if (cp < 0x10000) {
			out[o++] = (char)(0xE0 | cp >> 12);
			out[o++] = (char)(0x80 | (cp >> 6 & 0x3F));
			out[o++] = (char)(0x80 | (cp & 0x3F));
		} else {
			out[o++] = (char)(0xF0 | cp >> 18);
			out[o++] = (char)(0x80 | (cp >> 12 & 0x3F));
			out[o++] = (char)(0x80 | (cp >> 6 & 0x3F));
			out[o++] = (char)(0x80 | (cp & 0x3F));
		}
	}
	return (long)o;
}

/* Whether the raw JSON string s (n bytes, escapes checked) decodes to the key name. */
static int key_is(const char *s, size_t n, const char *name)
{
	char buf[64]; /* "stdin" escaped in full is 30 bytes */

	return n < sizeof(buf) && json_unescape(s, n, buf) == (long)strlen(name) &&
	       !memcmp(buf, name, strlen(name));
}

/*
 * What cJSON lets through but JSON forbids or we can't hold: control characters (other than
 * JSON's whitespace outside strings), escapes other than JSON's (cJSON reads a bad \u escape as
 * a NUL, cutting the string short), and \u0000 anywhere but in the top-level "stdin" string,
 * whose raw text is found for json_unescape (cJSON would cut it at its first NUL). Input is known
 * to be valid UTF-8 without NUL. Returns NULL or the problem.
 */
static const char *json_scan(const char *s, size_t n, struct span *in)
{
	int in_string = 0, depth = 0, key_stdin = 0, value_stdin = 0, nul = 0;
	size_t i, start = 0, j;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!in_string) {
			if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
				return "invalid JSON: control character";
			if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
				continue;
			if (c == '"') {
				in_string = 1;
				start = i + 1;
				nul = 0;
				continue;
			}
			if (c == ':' && depth == 1) {
				value_stdin = key_stdin;
				continue;
			}
			value_stdin = 0;
			depth += c == '{' || c == '[';
			depth -= c == '}' || c == ']';
		} else if (c == '"') {
			in_string = 0;
			for (j = i + 1; j < n && strchr(" \t\r\n", s[j]); j++)
				;
			if (depth == 1 && j < n && s[j] == ':') {
				if (nul)
					return "NUL characters (\\u0000) are not allowed";
				key_stdin = key_is(s + start, i - start, "stdin");
			} else if (value_stdin) {
				in->from = start;
				in->to = i;
				in->found = 1;
			} else if (nul) {
				return "NUL characters (\\u0000) are not allowed";
			}
			value_stdin = 0;
		} else if (c < 0x20) {
			return "invalid JSON: control character in a string";
		} else if (c == '\\') {
			if (i + 1 >= n || !s[i + 1] || !strchr("\"\\/bfnrtu", s[i + 1]))
				return "invalid JSON: bad escape";
			if (s[++i] != 'u')
				continue;
			if (n - i < 5)
				return "invalid JSON: bad escape";
			for (j = 1; j <= 4; j++)
				if (!isxdigit((unsigned char)s[i + j]))
					return "invalid JSON: bad escape";
			nul |= !memcmp(s + i + 1, "0000", 4);
			i += 4;
		}
	}
	return NULL;
}

/* Checks a decoded value and takes a copy (NUL-terminated); NUL inside only for the input.
 * Returns 0, 400 or 500. */
static int take_string(const char *name, const char *s, size_t n, char **out, size_t *out_len,
		       char *err, size_t errlen)
{
	if (strcmp(name, "stdin") && memchr(s, '\0', n)) {
		snprintf(err, errlen, "%s must not contain NUL characters", name);
		return 400;
	}
	if (!utf8_valid(s, n)) {
		snprintf(err, errlen, "%s is not valid UTF-8", name);
		return 400;
	}
	*out = malloc(n + 1);
	if (!*out) {
		snprintf(err, errlen, "out of memory");
		return 500;
	}
	memcpy(*out, s, n);
	(*out)[n] = '\0';
	*out_len = n;
	return 0;
}

struct fields {
	char *language, *code, *input;
	size_t language_len, code_len, input_len;
};

/* Where a field of the body goes: its name, and its place in f. NULL for an unknown name. */
static char **field_of(struct fields *f, const char *name, size_t n, size_t **len)
{
	if (n == 8 && !memcmp(name, "language", 8)) {
		*len = &f->language_len;
		return &f->language;
	}
	if (n == 4 && !memcmp(name, "code", 4)) {
		*len = &f->code_len;
		return &f->code;
	}
	if (n == 5 && !memcmp(name, "stdin", 5)) {
		*len = &f->input_len;
		return &f->input;
	}
	return NULL;
}

static int parse_json(const struct request *req, struct fields *f, char *err, size_t errlen)
{
	const char *why, *end = NULL;
	struct span in = { 0, 0, 0 };
	cJSON *root = NULL, *item, *other;
	char *raw = NULL;
	long n;
	int ret = 400;

	if (memchr(req->body, '\0', req->body_len)) {
		snprintf(err, errlen, "invalid JSON: NUL byte in the body");
		goto out;
	}
	if (!utf8_valid(req->body, req->body_len)) {
		snprintf(err, errlen, "request body is not valid UTF-8");
		goto out;
	}
	why = json_scan(req->body, req->body_len, &in);
	if (why) {
		snprintf(err, errlen, "%s", why);
		goto out;
	}
	root = cJSON_ParseWithLengthOpts(req->body, req->body_len + 1, &end, 1);
	if (!root) {
		snprintf(err, errlen, "invalid JSON");
		goto out;
	}
	if (!cJSON_IsObject(root)) {
		snprintf(err, errlen, "request body must be a JSON object");
		goto out;
	}
	cJSON_ArrayForEach(item, root) {
		char **dst;
		size_t *dst_len;

		for (other = root->child; other != item; other = other->next)
			if (!strcmp(other->string, item->string))
				break;
		if (other != item) {
			snprintf(err, errlen, "duplicate field \"%.64s\"", item->string);
			goto out;
		}
		dst = field_of(f, item->string, strlen(item->string), &dst_len);
		if (!dst) {
			if (strlen(item->string) <= 64)
				snprintf(err, errlen, "unknown field \"%s\"", item->string);
			else
				snprintf(err, errlen, "unknown field");
			goto out;
		}
		if (!cJSON_IsString(item)) {
			snprintf(err, errlen, "field \"%s\" must be a string", item->string);
			goto out;
		}
		if (dst == &f->input) { /* decoded here: it may hold NUL */
			if (!in.found || !(raw = malloc(in.to - in.from + 1))) {
				snprintf(err, errlen, in.found ? "out of memory" : "invalid JSON");
				ret = in.found ? 500 : 400;
				goto out;
			}
			n = json_unescape(req->body + in.from, in.to - in.from, raw);
			if (n < 0) {
				snprintf(err, errlen, "stdin is not valid UTF-8");
				goto out;
			}
			ret = take_string("stdin", raw, (size_t)n, dst, dst_len, err, errlen);
		} else {
			ret = take_string(item->string, item->valuestring, strlen(item->valuestring),
					  dst, dst_len, err, errlen);
		}
		if (ret)
			goto out;
		ret = 400;
	}
	ret = 0;
out:
	free(raw);
	cJSON_Delete(root);
	return ret;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Decodes one application/x-www-form-urlencoded token in place; returns its length or -1. */
static long form_decode(char *s, size_t n)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		if (s[i] == '+') {
			s[o++] = ' ';
		} else if (s[i] == '%') {
			int hi, lo;

			if (n - i < 3 || (hi = hexval((unsigned char)s[i + 1])) < 0 ||
			    (lo = hexval((unsigned char)s[i + 2])) < 0)
				return -1;
			s[o++] = (char)(hi * 16 + lo);
			i += 2;
		} else {
			s[o++] = s[i];
		}
	}
	return (long)o;
}

/* Browsers send a textarea's line breaks as CRLF; the program should see LF. */
static void crlf_to_lf(char *s, size_t *n)
{
	size_t i, o = 0;

	for (i = 0; i < *n; i++)
		if (!(s[i] == '\r' && i + 1 < *n && s[i + 1] == '\n'))
			s[o++] = s[i];
	s[o] = '\0';
	*n = o;
}

static int parse_form(const struct request *req, struct fields *f, char *err, size_t errlen)
{
	char *copy, *p, *end;
	int ret = 400;

	copy = malloc(req->body_len + 1);
	if (!copy) {
		snprintf(err, errlen, "out of memory");
		return 500;
	}
	memcpy(copy, req->body, req->body_len + 1);
	end = copy + req->body_len;
	for (p = copy; p < end;) {
		char *amp = memchr(p, '&', (size_t)(end - p)), *eq;
		size_t len = amp ? (size_t)(amp - p) : (size_t)(end - p);
		long klen, vlen;
		char **dst = NULL;
		size_t *dst_len = NULL;

		eq = memchr(p, '=', len);
		if (len == 0)
			goto next;
		klen = form_decode(p, eq ? (size_t)(eq - p) : len);
		vlen = eq ? form_decode(eq + 1, len - (size_t)(eq + 1 - p)) : 0;
		if (klen < 0 || vlen < 0) {
			snprintf(err, errlen, "malformed form body: bad %% escape");
			goto out;
		}
		dst = field_of(f, p, (size_t)klen, &dst_len);
		if (!dst)
			goto next; /* other form controls, such as a submit button */
		p[klen] = '\0'; /* the name, for messages (the '=' or '&' after it is read) */
		if (*dst) {
			snprintf(err, errlen, "duplicate field \"%s\"", p);
			goto out;
		}
		ret = take_string(p, eq ? eq + 1 : "", (size_t)vlen, dst, dst_len, err, errlen);
		if (ret)
			goto out;
		ret = 400;
next:
		p += len + 1;
	}
	if (f->code)
		crlf_to_lf(f->code, &f->code_len);
	if (f->input)
		crlf_to_lf(f->input, &f->input_len);
	ret = 0;
out:
	free(copy);
	return ret;
}

/* "unsupported language: use "python", "javascript" or "c"", from the table. */
static void unsupported(const struct languages *langs, char *err, size_t errlen)
{
	size_t o = (size_t)snprintf(err, errlen, "unsupported language: use ");
	int i;

	for (i = 0; i < langs->n && o < errlen; i++)
		o += (size_t)snprintf(err + o, errlen - o, "%s\"%s\"",
				      i == 0 ? "" : i == langs->n - 1 ? " or " : ", ",
				      langs->list[i].name);
}

int request_parse_run(const struct request *req, const struct config *cfg, struct run_request *rr,
		      char *err, size_t errlen)
{
	struct fields f = { NULL, NULL, NULL, 0, 0, 0 };
	enum body_kind kind;
	int ret;

	memset(rr, 0, sizeof(*rr));
	ret = body_kind(req->content_type, &kind, err, errlen);
	if (ret)
		goto out;
	ret = kind == BODY_JSON ? parse_json(req, &f, err, errlen) : parse_form(req, &f, err, errlen);
	if (ret)
		goto out;
	ret = 400;
	if (!f.language) {
		snprintf(err, errlen, "missing field \"language\"");
		goto out;
	}
	rr->lang = languages_find(&cfg->langs, f.language, f.language_len);
	if (!rr->lang) {
		unsupported(&cfg->langs, err, errlen);
		goto out;
	}
	if (!f.code) {
		snprintf(err, errlen, "missing field \"code\"");
		goto out;
	}
	if (f.code_len == 0) {
		snprintf(err, errlen, "code must not be empty");
		goto out;
	}
	if (utf8_count(f.code, f.code_len) > (size_t)cfg->max_code_chars) {
		snprintf(err, errlen, "Code too long. Maximum allowed length is %d characters.",
			 cfg->max_code_chars);
		goto out;
	}
	if (f.input_len > (size_t)cfg->max_stdin_bytes) {
		snprintf(err, errlen, "Input too long. Maximum allowed size is %d bytes.",
			 cfg->max_stdin_bytes);
		goto out;
	}
	if (!f.input && !(f.input = calloc(1, 1))) {
		snprintf(err, errlen, "out of memory");
		ret = 500;
		goto out;
	}
	rr->code = f.code;
	rr->code_len = f.code_len;
	rr->input = f.input;
	rr->input_len = f.input_len;
	f.code = f.input = NULL;
	ret = 0;
out:
	if (ret)
		rr->lang = NULL;
	free(f.language);
	free(f.code);
	free(f.input);
	return ret;
}

void run_request_release(struct run_request *rr)
{
	free(rr->code);
	free(rr->input);
	rr->code = rr->input = NULL;
	rr->code_len = rr->input_len = 0;
}
