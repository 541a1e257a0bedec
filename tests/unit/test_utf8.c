/* test_utf8.c - UTF-8 validation, counting, repair of arbitrary bytes, and JSON encoding of them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "utf8.h"

#define S(lit) lit, sizeof(lit) - 1

static void test_valid(void **state)
{
	(void)state;
	assert_true(utf8_valid(S("")));
	assert_true(utf8_valid(S("plain ascii")));
	assert_true(utf8_valid(S("\xc3\xa9t\xc3\xa9")));             /* été */
	assert_true(utf8_valid(S("\xe2\x82\xac")));                  /* euro */
	assert_true(utf8_valid(S("\xf0\x9f\x98\x80")));              /* emoji */
	assert_true(utf8_valid(S("\xf4\x8f\xbf\xbf")));              /* U+10FFFF */
	assert_false(utf8_valid(S("\xff")));
	assert_false(utf8_valid(S("\x80")));                         /* stray continuation */
	assert_false(utf8_valid(S("\xc0\xaf")));                     /* overlong '/' */
	assert_false(utf8_valid(S("\xe0\x80\xaf")));                 /* overlong */
	assert_false(utf8_valid(S("\xf0\x80\x80\xaf")));             /* overlong */
	assert_false(utf8_valid(S("\xed\xa0\x80")));                 /* surrogate D800 */
	assert_false(utf8_valid(S("\xed\xbf\xbf")));                 /* surrogate DFFF */
	assert_false(utf8_valid(S("\xf4\x90\x80\x80")));             /* above U+10FFFF */
	assert_false(utf8_valid(S("\xc3")));                         /* truncated */
	assert_false(utf8_valid(S("\xe2\x82")));                     /* truncated */
	assert_false(utf8_valid(S("a\xe2\x82" "b")));
}

static void test_count(void **state)
{
	char buf[5000 * 4];
	size_t i;

	(void)state;
	assert_int_equal(utf8_count(S("")), 0);
	assert_int_equal(utf8_count(S("abc")), 3);
	assert_int_equal(utf8_count(S("\xc3\xa9")), 1);
	assert_int_equal(utf8_count(S("\xf0\x9f\x98\x80x")), 2);
	for (i = 0; i < 5000; i++)
		memcpy(buf + 4 * i, "\xf0\x9f\x98\x80", 4);
	assert_int_equal(utf8_count(buf, sizeof(buf)), 5000);
}

static void test_sanitize(void **state)
{
	char *s;

	(void)state;
	s = utf8_sanitize_new(S("ok \xc3\xa9"));
	assert_string_equal(s, "ok \xc3\xa9");
	free(s);
	s = utf8_sanitize_new(S("a\0b"));
	assert_string_equal(s, "a\xef\xbf\xbd" "b");
	free(s);
	s = utf8_sanitize_new(S("\xff\xfe"));
	assert_string_equal(s, "\xef\xbf\xbd\xef\xbf\xbd");
	free(s);
	s = utf8_sanitize_new(S("\xed\xa0\x80"));                     /* surrogate: 3 bad bytes */
	assert_string_equal(s, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
	free(s);
	s = utf8_sanitize_new(S("x\xe2\x82"));
	assert_string_equal(s, "x\xef\xbf\xbd\xef\xbf\xbd");
	free(s);
	s = utf8_sanitize_new(S(""));
	assert_string_equal(s, "");
	free(s);
}

static void test_trim_partial(void **state)
{
	(void)state;
	assert_int_equal(utf8_trim_partial(S("abc")), 3);
	assert_int_equal(utf8_trim_partial(S("ab\xc3")), 2);
	assert_int_equal(utf8_trim_partial(S("ab\xc3\xa9")), 4);
	assert_int_equal(utf8_trim_partial(S("a\xe2\x82")), 1);
	assert_int_equal(utf8_trim_partial(S("a\xe2\x82\xac")), 4);
	assert_int_equal(utf8_trim_partial(S("a\xf0\x9f\x98")), 1);
	assert_int_equal(utf8_trim_partial(S("a\xf0\x9f\x98\x80")), 5);
	assert_int_equal(utf8_trim_partial(S("a\xff")), 2);           /* not a cut: left to repair */
	assert_int_equal(utf8_trim_partial(S("")), 0);
}

/* Every byte value, in every position, comes out as valid JSON that parses back to valid UTF-8. */
static void test_arbitrary_bytes_make_valid_json(void **state)
{
	unsigned char bytes[256 * 3];
	struct response res = RESPONSE_INIT;
	cJSON *obj, *back;
	char *text;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bytes); i++)
		bytes[i] = (unsigned char)(i * 7 + i / 256);
	text = utf8_sanitize_new((const char *)bytes, sizeof(bytes));
	assert_non_null(text);
	assert_true(utf8_valid(text, strlen(text)));
	obj = cJSON_CreateObject();
	cJSON_AddStringToObject(obj, "output", text);
	response_json(&res, 200, obj);
	assert_int_equal(res.status, 200);
	assert_true(utf8_valid(res.body, res.body_len));
	assert_int_equal(res.body[res.body_len - 1], '\n');
	for (i = 0; i < res.body_len; i++)
		assert_true((unsigned char)res.body[i] >= 0x20 || res.body[i] == '\n');
	back = cJSON_Parse(res.body);
	assert_non_null(back);
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(back, "output")->valuestring, text);
	cJSON_Delete(back);
	cJSON_Delete(obj);
	response_release(&res);
	free(text);
}

static void test_error_response(void **state)
{
	struct response res = RESPONSE_INIT;

	(void)state;
	response_error(&res, 415, "say \"json\"\n");
	assert_int_equal(res.status, 415);
	assert_string_equal(res.body, "{\"error\":\"say \\\"json\\\"\\n\"}\n");
	assert_string_equal(res.content_type, "application/json; charset=utf-8");
	response_release(&res);
	assert_null(res.body);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_count),
		cmocka_unit_test(test_sanitize),
		cmocka_unit_test(test_trim_partial),
		cmocka_unit_test(test_arbitrary_bytes_make_valid_json),
		cmocka_unit_test(test_error_response),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
