/* test_run_stream.c - what a streamed run sends, from the captures as the pump fills them: the
 * start, characters split across reads, the output limit, the end after a timeout. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "container.h"
#include "spawn.h"
#include "run_stream.h"

struct sent {
	char text[1 << 20];
	size_t len;
	int begun, fail;
};

static int begin(void *ctx, int64_t until_ms)
{
	assert_true(until_ms >= mono_ms() + RUN_STREAM_MIN_MS - 50);
	struct sent *t = ctx;

	t->begun++;
	return t->fail ? -1 : 0;
}

static int write_ev(void *ctx, const char *data, size_t len, int64_t until_ms)
{
	assert_true(until_ms >= mono_ms() + RUN_STREAM_MIN_MS - 50);
	struct sent *t = ctx;

	if (t->fail)
		return -1;
	assert_true(t->len + len < sizeof(t->text));
	memcpy(t->text + t->len, data, len);
	t->len += len;
	t->text[t->len] = '\0';
	return 0;
}

/* A child whose captures hold what the pump read so far (pipes open: not final). */
static void set(struct capture *cap, const char *bytes, size_t n)
{
	cap->buf = (char *)bytes;
	cap->len = n;
}

static struct child open_child(void)
{
	struct child c = CHILD_INIT;

	c.out_fd = c.err_fd = 99; /* still open: the watch does not take them for ended */
	return c;
}

static void test_nothing_before_the_start_mark(void **state)
{
	struct sent *t = calloc(1, sizeof(*t));
	struct run_stream s = { .begin = begin, .write = write_ev, .ctx = t, .limit = 100 };
	struct child c = open_child();

	(void)state;
	set(&c.out, "", 0);
	set(&c.err, "docker pulled nothing", 21);
	assert_int_equal(run_stream_watch(&s, &c), 0);
	assert_int_equal(t->begun, 0);
	assert_int_equal(t->len, 0);
	set(&c.out, "\036hi\n", 4);
	set(&c.err, "docker said\036oops", 16);
	assert_int_equal(run_stream_watch(&s, &c), 0);
	assert_int_equal(t->begun, 1);
	assert_string_equal(t->text, "event: stdout\ndata: {\"text\":\"hi\\n\"}\n\n"
				     "event: stderr\ndata: {\"text\":\"oops\"}\n\n");
	free(t);
}

static void test_a_split_character_waits_then_a_dangling_one_ends_as_in_the_answer(void **state)
{
	struct sent *t = calloc(1, sizeof(*t));
	struct run_stream s = { .begin = begin, .write = write_ev, .ctx = t, .limit = 100 };
	struct child c = open_child();
	char out[] = "\036a\xe2\x82\xac" "b\xe2\x82";

	(void)state;
	set(&c.err, "\036", 1);
	set(&c.out, out, 3); /* the mark, "a", the first byte of the euro sign */
	run_stream_watch(&s, &c);
	assert_string_equal(t->text, "event: stdout\ndata: {\"text\":\"a\"}\n\n");
	t->len = 0;
	set(&c.out, out, 6); /* the euro sign whole, then "b" and half a character: the end */
	run_stream_watch(&s, &c);
	assert_string_equal(t->text, "event: stdout\ndata: {\"text\":\"\xe2\x82\xac" "b\"}\n\n");
	t->len = 0;
	set(&c.out, out, sizeof(out) - 1);
	assert_int_equal(run_stream_finish(&s, &c, 1), 0);
	/* as in the answer: each byte of it U+FFFD */
	assert_string_equal(t->text, "event: stdout\ndata: {\"text\":\"\xef\xbf\xbd\xef\xbf\xbd\"}\n\n");
	free(t);
}

static void test_a_character_cut_by_the_limit_is_dropped(void **state)
{
	struct sent *t = calloc(1, sizeof(*t));
	struct run_stream s = { .begin = begin, .write = write_ev, .ctx = t, .limit = 4 };
	struct child c = open_child();
	/* "abc" then a euro sign across the limit of 4 bytes, then more */
	char out[] = "\036abc\xe2\x82\xac" "def";

	(void)state;
	set(&c.err, "\036", 1);
	set(&c.out, out, sizeof(out) - 1);
	run_stream_watch(&s, &c);
	assert_int_equal(run_stream_finish(&s, &c, 1), 0);
	assert_string_equal(t->text, "event: stdout\ndata: {\"text\":\"abc\"}\n\n");
	free(t);
}

static void test_after_a_timeout_stderr_stops_where_docker_begins(void **state)
{
	struct sent *t = calloc(1, sizeof(*t));
	struct run_stream s = { .begin = begin, .write = write_ev, .ctx = t, .limit = 100 };
	struct child c = open_child();
	char err[] = "\036slow\nNo such exec instance";

	(void)state;
	set(&c.out, "\036", 1);
	set(&c.err, err, 6);
	run_stream_watch(&s, &c);
	assert_string_equal(t->text, "event: stderr\ndata: {\"text\":\"slow\\n\"}\n\n");
	t->len = 0;
	/* the pump stopped at the deadline (err_upto 6); the drain read more of both */
	set(&c.out, "\036late", 5);
	set(&c.err, err, sizeof(err) - 1);
	assert_int_equal(run_stream_finish(&s, &c, 6), 0);
	assert_string_equal(t->text, "event: stdout\ndata: {\"text\":\"late\"}\n\n");
	t->len = 0;
	assert_int_equal(run_stream_send(&s, "stderr", "Execution timed out after 10 seconds."), 0);
	assert_string_equal(t->text, "event: stderr\ndata: {\"text\":\"Execution timed out after 10 "
				     "seconds.\"}\n\n");
	free(t);
}

static void test_the_compiler_messages_come_first_once(void **state)
{
	struct sent *t = calloc(1, sizeof(*t));
	struct run_stream s = { .begin = begin, .write = write_ev, .ctx = t, .limit = 100,
				.compiled = 1 };
	struct child c = open_child();
	char err[] = "\035warning: x\n\034" "12\034\036boom";

	(void)state;
	/* stdout's start mark read before stderr's: the messages, whole, still come first */
	set(&c.out, "\036ok", 3);
	set(&c.err, err, 16); /* up to the compile's end mark */
	run_stream_watch(&s, &c);
	set(&c.err, err, sizeof(err) - 1);
	run_stream_watch(&s, &c);
	assert_string_equal(t->text, "event: compile\ndata: {\"text\":\"warning: x\\n\"}\n\n"
				     "event: stdout\ndata: {\"text\":\"ok\"}\n\n"
				     "event: stderr\ndata: {\"text\":\"boom\"}\n\n");
	assert_int_equal(s.compile_sent, 1);
	free(t);
}

/* The program's output read before the compiler's messages are whole waits for them. */
static void test_output_read_before_the_compile_ends_waits_for_it(void **state)
{
	struct sent *t = calloc(1, sizeof(*t));
	struct run_stream s = { .begin = begin, .write = write_ev, .ctx = t, .limit = 100,
				.compiled = 1 };
	struct child c = open_child();
	char err[] = "\035warning: x\n\034" "0\034";

	(void)state;
	set(&c.out, "\036ran\n", 5);
	set(&c.err, err, 12); /* the messages, without the compile's end mark */
	run_stream_watch(&s, &c);
	assert_null(strstr(t->text, "stdout"));
	set(&c.err, err, sizeof(err) - 1);
	run_stream_watch(&s, &c);
	assert_string_equal(t->text, "event: compile\ndata: {\"text\":\"warning: x\\n\"}\n\n"
				     "event: stdout\ndata: {\"text\":\"ran\\n\"}\n\n");
	free(t);
}

static void test_a_client_gone_ends_the_pump(void **state)
{
	struct sent *t = calloc(1, sizeof(*t));
	struct run_stream s = { .begin = begin, .write = write_ev, .ctx = t, .limit = 100 };
	struct child c = open_child();

	(void)state;
	set(&c.err, "\036", 1);
	set(&c.out, "\036a", 2);
	assert_int_equal(run_stream_watch(&s, &c), 0);
	t->fail = 1;
	set(&c.out, "\036ab", 3);
	assert_int_equal(run_stream_watch(&s, &c), 1);
	assert_int_equal(run_stream_watch(&s, &c), 1); /* and stays so */
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nothing_before_the_start_mark),
		cmocka_unit_test(test_a_split_character_waits_then_a_dangling_one_ends_as_in_the_answer),
		cmocka_unit_test(test_a_character_cut_by_the_limit_is_dropped),
		cmocka_unit_test(test_after_a_timeout_stderr_stops_where_docker_begins),
		cmocka_unit_test(test_the_compiler_messages_come_first_once),
		cmocka_unit_test(test_output_read_before_the_compile_ends_waits_for_it),
		cmocka_unit_test(test_a_client_gone_ends_the_pump),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
