/* test_sse.c - the events of a streamed run: their form, characters split across reads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sse.h"

static void expect_text(const char *s, size_t n, int final, const char *event, size_t used)
{
	size_t got;
	char *ev = sse_text_new("stdout", s, n, final, &got);

	if (!event) {
		assert_null(ev);
	} else {
		assert_non_null(ev);
		assert_string_equal(ev, event);
	}
	assert_int_equal(got, used);
	free(ev);
}

static void test_event_form(void **state)
{
	char *ev = sse_event_new("result", "{\"exit_code\":0}");

	(void)state;
	assert_string_equal(ev, "event: result\ndata: {\"exit_code\":0}\n\n");
	free(ev);
	/* a line break in the output stays inside the one data line, escaped */
	expect_text("a\nb\n", 4, 0, "event: stdout\ndata: {\"text\":\"a\\nb\\n\"}\n\n", 4);
}

static void test_split_characters_wait_for_their_end(void **state)
{
	(void)state;
	/* "é" is C3 A9: its first byte alone is held back... */
	expect_text("x\xc3", 2, 0, "event: stdout\ndata: {\"text\":\"x\"}\n\n", 1);
	expect_text("\xc3", 1, 0, NULL, 0);
	/* ...and sent whole once the rest came */
	expect_text("\xc3\xa9!", 3, 0, "event: stdout\ndata: {\"text\":\"\xc3\xa9!\"}\n\n", 3);
	/* a 4-byte character cut after 3 */
	expect_text("\xf0\x9f\x98", 3, 0, NULL, 0);
	/* at the end of the stream, what is left is not a character: U+FFFD */
	expect_text("\xc3", 1, 1, "event: stdout\ndata: {\"text\":\"\xef\xbf\xbd\"}\n\n", 1);
}

static void test_bytes_that_are_not_text(void **state)
{
	(void)state;
	/* a stray continuation byte and a NUL, as in the ordinary answer */
	expect_text("a\x80z\0", 4, 0,
		    "event: stdout\ndata: {\"text\":\"a\xef\xbf\xbdz\xef\xbf\xbd\"}\n\n", 4);
	/* control characters are escaped for JSON */
	expect_text("\x1b[1m", 4, 0, "event: stdout\ndata: {\"text\":\"\\u001b[1m\"}\n\n", 4);
	expect_text("", 0, 1, NULL, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_event_form),
		cmocka_unit_test(test_split_characters_wait_for_their_end),
		cmocka_unit_test(test_bytes_that_are_not_text),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
