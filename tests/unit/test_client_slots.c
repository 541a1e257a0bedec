/* test_client_slots.c - the per-client cap: n slots per address, freed when a holder dies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client_slots.h"

static char dir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/sce-test-slots.XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd);
}

static void test_cap_per_address(void **state)
{
	char err[256];
	int a, b, c, d;

	(void)state;
	assert_int_equal(client_slot_take(dir, "10.0.0.1", 2, &a, err, sizeof(err)), 0);
	assert_int_equal(client_slot_take(dir, "10.0.0.1", 2, &b, err, sizeof(err)), 0);
	assert_int_equal(client_slot_take(dir, "10.0.0.1", 2, &c, err, sizeof(err)), 1);
	assert_int_equal(c, -1);
	assert_int_equal(client_slot_take(dir, "10.0.0.2", 2, &d, err, sizeof(err)), 0);
	client_slot_release(a);
	assert_int_equal(client_slot_take(dir, "10.0.0.1", 2, &c, err, sizeof(err)), 0);
	client_slot_release(b);
	client_slot_release(c);
	client_slot_release(d);
}

static void test_no_cap(void **state)
{
	char err[256];
	int a;

	(void)state;
	assert_int_equal(client_slot_take("/nonexistent", "10.0.0.1", 0, &a, err, sizeof(err)), 0);
	assert_int_equal(a, -1);
	client_slot_release(a);
}

static void test_unusable_directory(void **state)
{
	char err[256];
	int a;

	(void)state;
	assert_int_equal(client_slot_take("/nonexistent/dir", "10.0.0.1", 1, &a, err, sizeof(err)), -1);
}

/* A process killed while holding a slot gives it back. */
static void test_dead_holder_frees_its_slot(void **state)
{
	char err[256];
	int a, pipefd[2], status;
	pid_t pid;
	char c;

	(void)state;
	assert_int_equal(pipe(pipefd), 0);
	pid = fork();
	if (pid == 0) {
		int fd;
		if (client_slot_take(dir, "10.0.0.9", 1, &fd, err, sizeof(err)))
			_exit(1);
		if (write(pipefd[1], "x", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	assert_int_equal(read(pipefd[0], &c, 1), 1);
	assert_int_equal(client_slot_take(dir, "10.0.0.9", 1, &a, err, sizeof(err)), 1);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	assert_int_equal(client_slot_take(dir, "10.0.0.9", 1, &a, err, sizeof(err)), 0);
	client_slot_release(a);
	close(pipefd[0]);
	close(pipefd[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cap_per_address),
		cmocka_unit_test(test_no_cap),
		cmocka_unit_test(test_unusable_directory),
		cmocka_unit_test(test_dead_holder_frees_its_slot),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
