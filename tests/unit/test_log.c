/* test_log.c - a log line is one line of text, whatever the message holds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

/* What log_msg(fmt, arg) writes to stderr. */
static void logged(const char *arg, char *out, size_t len)
{
	char path[] = "/tmp/sce-test-log.XXXXXX";
	int fd = mkstemp(path), saved = dup(2);
	ssize_t n;

	assert_true(fd >= 0 && saved >= 0);
	assert_int_equal(dup2(fd, 2), 2);
	log_msg("docker said: %s", arg);
	assert_int_equal(dup2(saved, 2), 2);
	close(saved);
	n = pread(fd, out, len - 1, 0);
	assert_true(n > 0);
	out[n] = '\0';
	close(fd);
	unlink(path);
}

static void test_escape_sequences_and_line_breaks(void **state)
{
	char out[4096];
	const unsigned char *p;

	(void)state;
	log_init("test_log");
	logged("\x1b[31mred\x1b]0;title\x07 two\nlines\r\x7f C1:\xc2\x9b"
	       "2J done",
	       out, sizeof(out));
	for (p = (const unsigned char *)out; *p; p++)
		if (p[1])
			assert_true(*p >= 0x20 && *p != 0x7f && !(*p == 0xc2 && p[1] < 0xa0));
	assert_int_equal(out[strlen(out) - 1], '\n');
	assert_non_null(strstr(out, "docker said: \\x1b[31mred\\x1b]0;title\\x07 two\\x0alines\\x0d"
				    "\\x7f C1:\\u009b2J done\n"));
}

static void test_utf8_text_stays(void **state)
{
	char out[4096];

	(void)state;
	logged("caf\xc3\xa9 \xe2\x82\xac", out, sizeof(out));
	assert_non_null(strstr(out, "docker said: caf\xc3\xa9 \xe2\x82\xac\n"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_escape_sequences_and_line_breaks),
	    cmocka_unit_test(test_utf8_text_stays),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
