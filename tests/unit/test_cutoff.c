/* test_cutoff.c - a write to a peer that reads nothing ends at its deadline. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cutoff.h"
#include "spawn.h"

struct writing {
	int fd;
	size_t total, written;
	int err;
};

/* Writes all of total bytes, as libfcgi does: again after a partial write, -1 at a failure. */
static int write_all(void *arg)
{
	struct writing *w = arg;
	char buf[65536];

	memset(buf, 'x', sizeof(buf));
	while (w->written < w->total) {
		size_t n = w->total - w->written < sizeof(buf) ? w->total - w->written : sizeof(buf);
		ssize_t got = write(w->fd, buf, n);

		if (got < 0) {
			w->err = errno;
			return -1;
		}
		w->written += (size_t)got;
	}
	return 0;
}

static void test_a_peer_that_reads_nothing_is_cut_at_the_deadline(void **state)
{
	struct writing w = { -1, 64 << 20, 0, 0 };
	int sv[2];
	int64_t start;

	(void)state;
	signal(SIGPIPE, SIG_IGN);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	w.fd = sv[0];
	start = mono_ms();
	assert_int_equal(cutoff_call(sv[0], start + 300, write_all, &w), -1);
	assert_true(mono_ms() - start >= 290);
	assert_true(mono_ms() - start < 2000);
	assert_true(w.err == EINTR || w.err == EPIPE);
	assert_true(w.written < w.total);
	/* the connection stays cut; the timer and the handler are gone */
	assert_int_equal(write(sv[0], "x", 1), -1);
	assert_int_equal(errno, EPIPE);
	{
		struct sigaction now;

		sigaction(SIGALRM, NULL, &now);
		assert_ptr_equal(now.sa_handler, SIG_DFL);
	}
	close(sv[0]);
	close(sv[1]);
}

static void test_a_write_that_ends_in_time_is_untouched(void **state)
{
	struct writing w = { -1, 1000, 0, 0 };
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	w.fd = sv[0];
	assert_int_equal(cutoff_call(sv[0], mono_ms() + 200, write_all, &w), 0);
	assert_int_equal(w.written, 1000);
	usleep(400 * 1000); /* no timer left to fire: the process is still here */
	assert_int_equal(write(sv[0], "y", 1), 1);
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_peer_that_reads_nothing_is_cut_at_the_deadline),
		cmocka_unit_test(test_a_write_that_ends_in_time_is_untouched),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
