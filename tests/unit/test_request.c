/* test_request.c - routing checks and parsing/validation of /run bodies, JSON and form. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "request.h"

/* Two languages, and the default limits. */
static struct config cfg;

static int setup(void **state)
{
	(void)state;
	config_defaults(&cfg);
	cfg.langs.n = 2;
	strcpy(cfg.langs.list[0].name, "python");
	strcpy(cfg.langs.list[1].name, "javascript");
	return 0;
}

static struct request make(const char *method, const char *path, const char *type, const char *body)
{
	struct request r = REQUEST_INIT;

	snprintf(r.method, sizeof(r.method), "%s", method);
	snprintf(r.path, sizeof(r.path), "%s", path);
	snprintf(r.content_type, sizeof(r.content_type), "%s", type);
	if (body) {
		r.body_len = strlen(body);
		r.content_length = (long long)r.body_len;
		r.body = strdup(body);
	}
	return r;
}

/* Parses body as a /run request; returns the status and leaves the message in err. */
static int parse(const char *type, const char *body, struct run_request *rr, char *err)
{
	struct request r = make("POST", "/run", type, body);
	int status;

	status = request_parse_run(&r, &cfg, rr, err, 256);
	free(r.body);
	return status;
}

static void expect(const char *type, const char *body, int status, const char *message)
{
	struct run_request rr = RUN_REQUEST_INIT;
	char err[256] = "";

	assert_int_equal(parse(type, body, &rr, err), status);
	if (message)
		assert_string_equal(err, message);
	assert_null(rr.code);
}

#define JSON "application/json"
#define FORM "application/x-www-form-urlencoded"
#define TOO_LONG "Code too long. Maximum allowed length is 5000 characters."

static void test_route(void **state)
{
	struct request r = make("POST", "/run", JSON, "{}");
	char err[256];

	(void)state;
	assert_int_equal(request_route(&r, "/run", "POST", "", 65536, err, sizeof(err)), 0);
	assert_int_equal(request_route(&r, "/history", "GET, HEAD", "", 65536, err, sizeof(err)), 404);
	strcpy(r.path, "/runner");
	assert_int_equal(request_route(&r, "/run", "POST", "", 65536, err, sizeof(err)), 404);
	strcpy(r.path, "/run/");
	assert_int_equal(request_route(&r, "/run", "POST", "", 65536, err, sizeof(err)), 404);
	strcpy(r.path, "/run");
	strcpy(r.method, "GET");
	assert_int_equal(request_route(&r, "/run", "POST", "", 65536, err, sizeof(err)), 405);
	assert_int_equal(request_route(&r, "/run", "GET, HEAD", "", 65536, err, sizeof(err)), 0);
	strcpy(r.method, "HEAD");
	assert_int_equal(request_route(&r, "/run", "GET, HEAD", "", 65536, err, sizeof(err)), 0);
	strcpy(r.method, "HEA");
	assert_int_equal(request_route(&r, "/run", "GET, HEAD", "", 65536, err, sizeof(err)), 405);
	strcpy(r.method, "POST");
	r.content_length = -1;
	assert_int_equal(request_route(&r, "/run", "POST", "", 65536, err, sizeof(err)), 411);
	r.content_length = 65537;
	assert_int_equal(request_route(&r, "/run", "POST", "", 65536, err, sizeof(err)), 413);
	assert_string_equal(err, "request body too large: the limit is 65536 bytes");
	r.content_length = 3;   /* the body holds 2 bytes */
	assert_int_equal(request_route(&r, "/run", "POST", "", 65536, err, sizeof(err)), 400);
	free(r.body);
}

static void test_token(void **state)
{
	struct request r = make("POST", "/run", JSON, "{}");
	const char *token = "0123456789abcdef-token";
	char err[256];

	(void)state;
	assert_int_equal(request_route(&r, "/run", "POST", token, 65536, err, sizeof(err)), 401);
	strcpy(r.authorization, "Bearer 0123456789abcdef-token");
	assert_int_equal(request_route(&r, "/run", "POST", token, 65536, err, sizeof(err)), 0);
	strcpy(r.authorization, "bearer   0123456789abcdef-token");
	assert_int_equal(request_route(&r, "/run", "POST", token, 65536, err, sizeof(err)), 0);
	strcpy(r.authorization, "Bearer 0123456789abcdef-toke");
	assert_int_equal(request_route(&r, "/run", "POST", token, 65536, err, sizeof(err)), 401);
	strcpy(r.authorization, "Bearer 0123456789abcdef-tokenX");
	assert_int_equal(request_route(&r, "/run", "POST", token, 65536, err, sizeof(err)), 401);
	strcpy(r.authorization, "Basic 0123456789abcdef-token");
	assert_int_equal(request_route(&r, "/run", "POST", token, 65536, err, sizeof(err)), 401);
	strcpy(r.authorization, "Bearer ");
	assert_int_equal(request_route(&r, "/run", "POST", token, 65536, err, sizeof(err)), 401);
	/* 404 and 405 come first: they say nothing about the token */
	strcpy(r.authorization, "");
	strcpy(r.path, "/nope");
	assert_int_equal(request_route(&r, "/run", "POST", token, 65536, err, sizeof(err)), 404);
	free(r.body);
}

static void test_json_ok(void **state)
{
	struct run_request rr = RUN_REQUEST_INIT;
	char err[256];

	(void)state;
	assert_int_equal(parse(JSON, "{\"language\":\"python\",\"code\":\"print(2+2)\"}", &rr, err), 0);
	assert_string_equal(rr.lang->name, "python");
	assert_string_equal(rr.code, "print(2+2)");
	run_request_release(&rr);
	assert_int_equal(parse("Application/JSON ; charset=\"utf-8\"",
			       " {\"code\":\"console.log(\\\"\\u00e9\\\")\" , \"language\":\"javascript\"} ",
			       &rr, err), 0);
	assert_string_equal(rr.lang->name, "javascript");
	assert_string_equal(rr.code, "console.log(\"\xc3\xa9\")");
	run_request_release(&rr);
}

static void test_json_errors(void **state)
{
	(void)state;
	expect(JSON, "", 400, "invalid JSON");
	expect(JSON, "{", 400, "invalid JSON");
	expect(JSON, "{\"language\":\"python\",\"code\":\"x\"}x", 400, "invalid JSON");
	expect(JSON, "{\"language\":\"python\",\"code\":\"x\"}{}", 400, "invalid JSON");
	expect(JSON, "[]", 400, "request body must be a JSON object");
	expect(JSON, "null", 400, "request body must be a JSON object");
	expect(JSON, "{\"code\":\"x\"}", 400, "missing field \"language\"");
	expect(JSON, "{\"language\":\"python\"}", 400, "missing field \"code\"");
	expect(JSON, "{\"language\":1,\"code\":\"x\"}", 400, "field \"language\" must be a string");
	expect(JSON, "{\"language\":\"python\",\"code\":true}", 400, "field \"code\" must be a string");
	expect(JSON, "{\"language\":\"python\",\"code\":[\"x\"]}", 400, "field \"code\" must be a string");
	expect(JSON, "{\"language\":\"c\",\"code\":\"x\"}", 400,
	       "unsupported language: use \"python\" or \"javascript\"");
	cfg.langs.n = 3;
	strcpy(cfg.langs.list[2].name, "c");
	expect(JSON, "{\"language\":\"ruby\",\"code\":\"x\"}", 400,
	       "unsupported language: use \"python\", \"javascript\" or \"c\"");
	cfg.langs.n = 2;
	expect(JSON, "{\"language\":\"python \",\"code\":\"x\"}", 400,
	       "unsupported language: use \"python\" or \"javascript\"");
	expect(JSON, "{\"language\":\"python\",\"code\":\"\"}", 400, "code must not be empty");
	expect(JSON, "{\"language\":\"python\",\"code\":\"a\",\"code\":\"b\"}", 400,
	       "duplicate field \"code\"");
	expect(JSON, "{\"language\":\"python\",\"code\":\"a\",\"Language\":\"b\"}", 400,
	       "unknown field \"Language\"");
	expect(JSON, "{\"language\":\"python\",\"code\":\"a\\u0000b\"}", 400,
	       "NUL characters (\\u0000) are not allowed");
	expect(JSON, "{\"language\":\"python\",\"code\":\"print(1)\\uZZZZimport os\"}", 400,
	       "invalid JSON: bad escape");
	expect(JSON, "{\"language\":\"python\",\"code\":\"\\u00g1\"}", 400, "invalid JSON: bad escape");
	expect(JSON, "{\"language\":\"python\",\"code\":\"\\u12\"}", 400, "invalid JSON: bad escape");
	expect(JSON, "{\"language\":\"python\",\"code\":\"\\x41\"}", 400, "invalid JSON: bad escape");
	expect(JSON, "{\"language\\uZZZZjunk\":\"python\",\"code\":\"1\"}", 400, "invalid JSON: bad escape");
	expect(JSON, "{\"language\":\"python\",\x0b\"code\":\"x\"}", 400, "invalid JSON: control character");
	expect(JSON, "{\"language\":\"python\",\x01\"code\":\"x\"}", 400, "invalid JSON: control character");
	expect(JSON, "{\"language\":\"python\",\"code\":\"\\ud83d\"}", 400, "invalid JSON");
	expect(JSON, "{\"language\":\"python\",\"code\":\"\\ude00\"}", 400, "invalid JSON");
	expect(JSON, "{\"language\":\"python\",\"code\":\"a\nb\"}", 400,
	       "invalid JSON: control character in a string");
	expect(JSON, "{\"language\":\"python\",\"code\":\"\xff\"}", 400, "request body is not valid UTF-8");
	expect(JSON, "{\"language\":\"python\",\"code\":\"\xed\xa0\x80\"}", 400,
	       "request body is not valid UTF-8");
	expect("text/plain", "{}", 415, NULL);
	expect("", "{}", 415, NULL);
	expect("application/json; charset=iso-8859-1", "{}", 415, "unsupported charset: send UTF-8");
	expect("application/jsonp", "{}", 415, NULL);
	expect("multipart/form-data; boundary=x", "{}", 415, NULL);
}

static void test_escaped_backslash_before_u0000_is_text(void **state)
{
	struct run_request rr = RUN_REQUEST_INIT;
	char err[256];

	(void)state;
	assert_int_equal(parse(JSON, "{\"language\":\"python\",\"code\":\"print('\\\\u0000')\"}", &rr,
			       err), 0);
	assert_string_equal(rr.code, "print('\\u0000')");
	run_request_release(&rr);
}

static void test_deep_nesting(void **state)
{
	size_t depth = 20000, i;
	char *body = malloc(depth * 2 + 64);
	char *p = body;

	(void)state;
	p += sprintf(p, "{\"language\":\"python\",\"code\":");
	for (i = 0; i < depth; i++)
		*p++ = '[';
	for (i = 0; i < depth; i++)
		*p++ = ']';
	strcpy(p, "}");
	expect(JSON, body, 400, NULL);
	free(body);
}

/* A program of n copies of a character given in UTF-8. */
static char *repeat(const char *prefix, const char *ch, size_t n, const char *suffix)
{
	size_t len = strlen(ch);
	char *s = malloc(strlen(prefix) + n * len + strlen(suffix) + 1), *p = s;
	size_t i;

	p += sprintf(p, "%s", prefix);
	for (i = 0; i < n; i++, p += len)
		memcpy(p, ch, len);
	strcpy(p, suffix);
	return s;
}

static void test_length_counts_characters(void **state)
{
	struct run_request rr = RUN_REQUEST_INIT;
	char err[256], *body;

	(void)state;
	body = repeat("{\"language\":\"python\",\"code\":\"", "\xc3\xa9", 5000, "\"}");
	assert_int_equal(parse(JSON, body, &rr, err), 0);
	assert_int_equal(rr.code_len, 10000);
	run_request_release(&rr);
	free(body);
	body = repeat("{\"language\":\"python\",\"code\":\"", "\\u00e9", 5000, "\"}");
	assert_int_equal(parse(JSON, body, &rr, err), 0);
	run_request_release(&rr);
	free(body);
	body = repeat("{\"language\":\"python\",\"code\":\"", "\\ud83d\\ude00", 5000, "\"}");
	assert_int_equal(parse(JSON, body, &rr, err), 0);
	assert_int_equal(rr.code_len, 20000);
	run_request_release(&rr);
	free(body);
	body = repeat("{\"language\":\"python\",\"code\":\"", "a", 5001, "\"}");
	expect(JSON, body, 400, TOO_LONG);
	free(body);
	body = repeat("{\"language\":\"python\",\"code\":\"", "\xc3\xa9", 5001, "\"}");
	expect(JSON, body, 400, TOO_LONG);
	free(body);
	body = repeat("language=python&code=", "%C3%A9", 5000, "");
	assert_int_equal(parse(FORM, body, &rr, err), 0);
	run_request_release(&rr);
	free(body);
	body = repeat("language=python&code=", "x", 5001, "");
	expect(FORM, body, 400, TOO_LONG);
	free(body);
}

static void test_form(void **state)
{
	struct run_request rr = RUN_REQUEST_INIT;
	char err[256];

	(void)state;
	assert_int_equal(parse(FORM, "language=python&code=print%282%2B2%29", &rr, err), 0);
	assert_string_equal(rr.code, "print(2+2)");
	run_request_release(&rr);
	assert_int_equal(parse(FORM "; charset=UTF-8",
			       "code=a+%3D+1%0D%0Aprint%28a%29&submit=Run&language=javascript", &rr,
			       err), 0);
	assert_string_equal(rr.lang->name, "javascript");
	assert_string_equal(rr.code, "a = 1\nprint(a)");
	run_request_release(&rr);
	expect(FORM, "", 400, "missing field \"language\"");
	expect(FORM, "language=python", 400, "missing field \"code\"");
	expect(FORM, "language=python&code", 400, "code must not be empty");
	expect(FORM, "language=python&code=1&language=python", 400, "duplicate field \"language\"");
	expect(FORM, "language=python&code=%4", 400, "malformed form body: bad % escape");
	expect(FORM, "language=python&code=%g0", 400, "malformed form body: bad % escape");
	expect(FORM, "language=python&code=%c3", 400, "code is not valid UTF-8");
	expect(FORM, "language=python&code=%00", 400, "code must not contain NUL characters");
	expect(FORM, "language=pyth%00on&code=1", 400, "language must not contain NUL characters");
}

/* The program's input: any character, NUL included, decoded here (not by cJSON). */
static void test_stdin(void **state)
{
	struct run_request rr = RUN_REQUEST_INIT;
	char err[256], *body, *p;
	size_t i;

	(void)state;
	assert_int_equal(parse(JSON, "{\"language\":\"python\",\"code\":\"x\"}", &rr, err), 0);
	assert_string_equal(rr.input, "");
	assert_int_equal(rr.input_len, 0);
	run_request_release(&rr);
	assert_int_equal(parse(JSON, "{\"stdin\":\"a\\u0000b\\n\\ud83d\\ude00\\\"\",\"language\":\"python\","
				     "\"code\":\"x\"}", &rr, err), 0);
	assert_int_equal(rr.input_len, 9);
	assert_memory_equal(rr.input, "a\0b\n\xf0\x9f\x98\x80\"", 9);
	run_request_release(&rr);
	/* an escaped name is the same name; a backslash before "u0000" is text */
	assert_int_equal(parse(JSON, "{\"language\":\"python\",\"code\":\"x\",\"std\\u0069n\" : "
				     "\"\\\\u0000\"}", &rr, err), 0);
	assert_int_equal(rr.input_len, 6);
	assert_string_equal(rr.input, "\\u0000");
	run_request_release(&rr);
	/* every letter of the name escaped: 30 bytes */
	assert_int_equal(parse(JSON, "{\"language\":\"python\",\"code\":\"x\",\"\\u0073\\u0074"
				     "\\u0064\\u0069\\u006e\":\"a\\u0000\"}", &rr, err), 0);
	assert_int_equal(rr.input_len, 2);
	assert_memory_equal(rr.input, "a\0", 2);
	run_request_release(&rr);
	expect(JSON, "{\"language\":\"python\",\"code\":\"x\",\"stdin\":1}", 400,
	       "field \"stdin\" must be a string");
	expect(JSON, "{\"language\":\"python\",\"code\":\"x\",\"stdin\":\"a\",\"stdin\":\"b\"}", 400,
	       "duplicate field \"stdin\"");
	expect(JSON, "{\"language\":\"python\",\"code\":\"x\\u0000\",\"stdin\":\"\\u0000\"}", 400,
	       "NUL characters (\\u0000) are not allowed");
	expect(JSON, "{\"language\":\"python\",\"code\":\"x\",\"a\":{\"stdin\":\"\\u0000\"}}", 400,
	       "NUL characters (\\u0000) are not allowed");
	expect(JSON, "{\"language\":\"python\",\"code\":\"x\",\"a\\u0000\":\"\"}", 400,
	       "NUL characters (\\u0000) are not allowed");
	expect(JSON, "{\"language\":\"python\",\"code\":\"x\",\"stdin\":\"\\udc00\"}", 400, NULL);
	/* at most max_stdin_bytes, however it is escaped */
	body = malloc(65537 * 6 + 100);
	assert_non_null(body);
	p = body + sprintf(body, "{\"language\":\"python\",\"code\":\"x\",\"stdin\":\"");
	for (i = 0; i < 65536; i++)
		p += sprintf(p, "\\u0000");
	strcpy(p, "\"}");
	assert_true(strlen(body) < config_body_needed(&cfg));
	assert_int_equal(parse(JSON, body, &rr, err), 0);
	assert_int_equal(rr.input_len, 65536);
	assert_int_equal(rr.input[65535], 0);
	run_request_release(&rr);
	strcpy(p, "x\"}");
	expect(JSON, body, 400, "Input too long. Maximum allowed size is 65536 bytes.");
	free(body);
	/* a form: %00 is a NUL, CRLF becomes LF */
	assert_int_equal(parse(FORM, "language=python&code=x&stdin=a%00b%0D%0Ac", &rr, err), 0);
	assert_int_equal(rr.input_len, 5);
	assert_memory_equal(rr.input, "a\0b\nc", 5);
	run_request_release(&rr);
	expect(FORM, "language=python&code=x&stdin=%ff", 400, "stdin is not valid UTF-8");
	expect(FORM, "language=python&code=x&stdin=1&stdin=2", 400, "duplicate field \"stdin\"");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_route),
		cmocka_unit_test(test_token),
		cmocka_unit_test(test_json_ok),
		cmocka_unit_test(test_json_errors),
		cmocka_unit_test(test_escaped_backslash_before_u0000_is_text),
		cmocka_unit_test(test_deep_nesting),
		cmocka_unit_test(test_length_counts_characters),
		cmocka_unit_test(test_form),
		cmocka_unit_test(test_stdin),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
