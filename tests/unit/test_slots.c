/* test_slots.c - counted slots: n per key, a bounded wait, freed when a holder dies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "slots.h"
#include "spawn.h"
#include "tmpdir.h"

static char dir[64];

static int setup(void **state)
{
	(void)state;
	return tmpdir_make(dir, sizeof(dir), "slots");
}

static int teardown(void **state)
{
	(void)state;
	return tmpdir_remove(dir);
}

static void test_cap_per_key(void **state)
{
	char err[256], k1[32], k2[32];
	int a, b, c, d;

	(void)state;
	client_key("10.0.0.1", k1, sizeof(k1));
	client_key("10.0.0.2", k2, sizeof(k2));
	assert_string_not_equal(k1, k2);
	assert_int_equal(slot_take(dir, k1, 2, mono_ms() + 0, -1, &a, err, sizeof(err)), 0);
	assert_int_equal(slot_take(dir, k1, 2, mono_ms() + 0, -1, &b, err, sizeof(err)), 0);
	assert_int_equal(slot_take(dir, k1, 2, mono_ms() + 0, -1, &c, err, sizeof(err)), 1);
	assert_int_equal(c, -1);
	assert_int_equal(slot_take(dir, k2, 2, mono_ms() + 0, -1, &d, err, sizeof(err)), 0);
	slot_release(a);
	assert_int_equal(slot_take(dir, k1, 2, mono_ms() + 0, -1, &c, err, sizeof(err)), 0);
	slot_release(b);
	slot_release(c);
	slot_release(d);
}

static void test_bounded_wait(void **state)
{
	char err[256];
	int a, b;
	int64_t start;

	(void)state;
	assert_int_equal(slot_take(dir, "run", 1, mono_ms() + 0, -1, &a, err, sizeof(err)), 0);
	start = mono_ms();
	assert_int_equal(slot_take(dir, "run", 1, mono_ms() + 300, -1, &b, err, sizeof(err)), 1);
	assert_true(mono_ms() - start >= 300 && mono_ms() - start < 1500);
	slot_release(a);
	assert_int_equal(slot_take(dir, "run", 1, mono_ms() + 300, -1, &b, err, sizeof(err)), 0);
	slot_release(b);
}

static void test_no_limit_and_bad_dir(void **state)
{
	char err[256];
	int a;

	(void)state;
	assert_int_equal(slot_take("/nonexistent", "x", 0, mono_ms() + 0, -1, &a, err, sizeof(err)), 0);
	assert_int_equal(a, -1);
	assert_int_equal(slot_take("/nonexistent/dir", "x", 1, mono_ms() + 0, -1, &a, err, sizeof(err)), -1);
}

/* A process killed while holding a slot gives it back. */
static void test_dead_holder_frees_its_slot(void **state)
{
	char err[256], c;
	int a, pipefd[2], status;
	pid_t pid;

	(void)state;
	assert_int_equal(pipe(pipefd), 0);
	pid = fork();
	if (pid == 0) {
		int fd;
		if (slot_take(dir, "k", 1, mono_ms() + 0, -1, &fd, err, sizeof(err)) || write(pipefd[1], "x", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	assert_int_equal(read(pipefd[0], &c, 1), 1);
	assert_int_equal(slot_take(dir, "k", 1, mono_ms() + 0, -1, &a, err, sizeof(err)), 1);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	assert_int_equal(slot_take(dir, "k", 1, mono_ms() + 0, -1, &a, err, sizeof(err)), 0);
	slot_release(a);
	close(pipefd[0]);
	close(pipefd[1]);
}

/* A client that leaves while its request waits ends the wait at once. */
static void test_client_gone_ends_the_wait(void **state)
{
	char err[256];
	int a, b, sv[2];
	int64_t start;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(slot_take(dir, "gone", 1, mono_ms(), -1, &a, err, sizeof(err)), SLOT_TAKEN);
	start = mono_ms();
	assert_int_equal(slot_take(dir, "gone", 1, mono_ms() + 200, sv[0], &b, err, sizeof(err)),
			 SLOT_BUSY);
	assert_true(mono_ms() - start >= 200);
	close(sv[1]); /* the client hangs up */
	start = mono_ms();
	assert_int_equal(slot_take(dir, "gone", 1, mono_ms() + 5000, sv[0], &b, err, sizeof(err)),
			 SLOT_GONE);
	assert_true(mono_ms() - start < 1000);
	assert_int_equal(b, -1);
	slot_release(a);
	close(sv[0]);
}

/* A wait that ends busy leaves no descriptor open, and never the slot of another. */
static void test_waiting_leaks_nothing(void **state)
{
	char err[256], fdpath[64];
	int a, b, c, before = 0, after = 0;
	struct dirent *e;
	DIR *d;

	(void)state;
	snprintf(fdpath, sizeof(fdpath), "/proc/%ld/fd", (long)getpid());
	assert_int_equal(slot_take(dir, "once", 2, mono_ms(), -1, &a, err, sizeof(err)), SLOT_TAKEN);
	assert_int_equal(slot_take(dir, "once", 2, mono_ms(), -1, &b, err, sizeof(err)), SLOT_TAKEN);
	d = opendir(fdpath);
	while (d && (e = readdir(d)))
		before += e->d_name[0] != '.';
	closedir(d);
	assert_int_equal(slot_take(dir, "once", 2, mono_ms() + 100, -1, &c, err, sizeof(err)),
			 SLOT_BUSY);
	assert_int_equal(c, -1);
	d = opendir(fdpath);
	while (d && (e = readdir(d)))
		after += e->d_name[0] != '.';
	closedir(d);
	assert_int_equal(after, before);
	slot_release(a);
	slot_release(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cap_per_key),
		cmocka_unit_test(test_bounded_wait),
		cmocka_unit_test(test_no_limit_and_bad_dir),
		cmocka_unit_test(test_dead_holder_frees_its_slot),
		cmocka_unit_test(test_client_gone_ends_the_wait),
		cmocka_unit_test(test_waiting_leaks_nothing),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
