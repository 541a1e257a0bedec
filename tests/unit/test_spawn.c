/* test_spawn.c - child processes: feeding, draining with caps, deadlines, and what they inherit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "spawn.h"

static enum pump_end sh(struct child *c, const char *script, int64_t ms)
{
	char *argv[] = { "sh", "-c", (char *)script, NULL };
	char err[256];

	assert_int_equal(child_spawn(c, "/bin/sh", argv, err, sizeof(err)), 0);
	return child_pump(c, mono_ms() + ms, 0, NULL);
}

static void test_feeds_stdin_larger_than_a_pipe(void **state)
{
	struct child c = CHILD_INIT;
	size_t n = 1 << 20, i;
	char *in = malloc(n);

	(void)state;
	for (i = 0; i < n; i++)
		in[i] = (char)('a' + i % 26);
	c.in = in;
	c.in_len = n;
	c.out.limit = n;
	c.err.limit = 100;
	assert_int_equal(sh(&c, "cat", 10000), PUMP_EOF);
	assert_int_equal(child_wait(&c, mono_ms() + 5000), 0);
	assert_true(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0);
	assert_int_equal(c.out.len, n);
	assert_memory_equal(c.out.buf, in, n);
	assert_false(c.out.truncated);
	child_release(&c);
	free(in);
}

static void test_caps_both_streams_and_keeps_draining(void **state)
{
	struct child c = CHILD_INIT;

	(void)state;
	c.out.limit = 1000;
	c.err.limit = 10;
	assert_int_equal(sh(&c, "head -c 3000000 /dev/zero >&2; head -c 3000000 /dev/zero; echo done >&2",
			    20000), PUMP_EOF);
	assert_int_equal(child_wait(&c, mono_ms() + 5000), 0);
	assert_int_equal(WEXITSTATUS(c.status), 0);
	assert_int_equal(c.out.len, 1000);
	assert_int_equal(c.err.len, 10);
	assert_true(c.out.truncated && c.err.truncated);
	child_release(&c);
}

static void test_deadline(void **state)
{
	struct child c = CHILD_INIT;
	int64_t start = mono_ms();

	(void)state;
	c.out.limit = c.err.limit = 100;
	assert_int_equal(sh(&c, "echo early; exec sleep 30", 300), PUMP_DEADLINE);
	assert_true(mono_ms() - start < 2000);
	assert_string_equal(c.out.buf, "early\n");
	assert_int_equal(child_wait(&c, mono_ms() + 50), -1); /* still running */
	child_release(&c);                                    /* kills and reaps */
	assert_int_equal(c.pid, -1);
}

static void test_until_output(void **state)
{
	struct child c = CHILD_INIT;
	char *argv[] = { "sh", "-c", "sleep 0.2; printf x; sleep 30", NULL };
	char err[256];

	(void)state;
	c.out.limit = c.err.limit = 100;
	assert_int_equal(child_spawn(&c, "/bin/sh", argv, err, sizeof(err)), 0);
	assert_int_equal(child_pump(&c, mono_ms() + 5000, 1, NULL), PUMP_OUTPUT);
	assert_int_equal(c.out.len, 1);
	child_release(&c);
}

static void test_stop_flag(void **state)
{
	struct child c = CHILD_INIT;
	char *argv[] = { "sleep", "30", NULL };
	volatile sig_atomic_t stop = 1;
	struct interrupt intr = { .stop = &stop, .gone_fd = -1 };
	char err[256];

	(void)state;
	assert_int_equal(child_spawn(&c, "/bin/sleep", argv, err, sizeof(err)), 0);
	assert_int_equal(child_pump(&c, mono_ms() + 5000, 0, &intr), PUMP_STOPPED);
	child_release(&c);
}

/* The client's connection closing ends the pump at once. */
static void test_client_gone(void **state)
{
	struct child c = CHILD_INIT;
	char *argv[] = { "sleep", "30", NULL };
	volatile sig_atomic_t stop = 0;
	struct interrupt intr = { .stop = &stop, .gone_fd = -1 };
	int fds[2];
	char err[256];
	int64_t start;

	(void)state;
	assert_int_equal(pipe(fds), 0);
	intr.gone_fd = fds[0];
	assert_int_equal(child_spawn(&c, "/bin/sleep", argv, err, sizeof(err)), 0);
	assert_int_equal(child_pump(&c, mono_ms() + 200, 0, &intr), PUMP_DEADLINE);
	close(fds[1]);
	start = mono_ms();
	assert_int_equal(child_pump(&c, mono_ms() + 5000, 0, &intr), PUMP_GONE);
	assert_true(mono_ms() - start < 1000);
	child_release(&c);
	close(fds[0]);
}

/* Running, as opposed to gone or a zombie waiting for init. */
static int alive(pid_t pid)
{
	char path[64], buf[256], *paren;
	FILE *f;
	int ok = 0;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (fgets(buf, sizeof(buf), f) && (paren = strrchr(buf, ')')))
		ok = paren[2] != 'Z';
	fclose(f);
	return ok;
}

static void test_kill_takes_the_process_group(void **state)
{
	struct child c = CHILD_INIT;
	char *argv[] = { "sh", "-c", "sleep 30 & echo $!; wait", NULL };
	char err[256];
	pid_t grandchild;

	(void)state;
	c.out.limit = c.err.limit = 100;
	assert_int_equal(child_spawn(&c, "/bin/sh", argv, err, sizeof(err)), 0);
	assert_int_equal(child_pump(&c, mono_ms() + 5000, 1, NULL), PUMP_OUTPUT);
	usleep(100000);
	grandchild = (pid_t)atoi(c.out.buf);
	assert_true(grandchild > 0);
	child_release(&c);
	usleep(200000);
	assert_false(alive(grandchild));
}

/* No service variables; an empty signal mask; nothing ignored, even when the service itself
 * was started with every catchable signal ignored and some blocked (a background job of a
 * shell ignores SIGINT and SIGQUIT; a careless supervisor may ignore more). */
static void test_what_the_child_inherits(void **state)
{
	struct child c = CHILD_INIT;
	struct sigaction ignore, saved[NSIG];
	sigset_t block, old;
	int leak = open("/dev/null", O_RDONLY); /* not close-on-exec */
	const char *ign;
	int sig;

	(void)state;
	setenv("SCE_CANARY", "secret", 1);
	memset(&ignore, 0, sizeof(ignore));
	ignore.sa_handler = SIG_IGN;
	for (sig = 1; sig < NSIG; sig++)
		if (sigaction(sig, &ignore, &saved[sig]))
			saved[sig].sa_handler = SIG_ERR; /* SIGKILL, SIGSTOP, glibc's own */
	sigfillset(&block);
	sigprocmask(SIG_BLOCK, &block, &old);
	c.out.limit = c.err.limit = 4096;
	/* The shell blocks every signal while it waits for `env`: read the status of the process
	 * that replaces it, not of the shell at some moment of its wait. */
	assert_int_equal(sh(&c, "env; exec grep -E '^Sig(Blk|Ign)' /proc/self/status", 5000),
			 PUMP_EOF);
	sigprocmask(SIG_SETMASK, &old, NULL);
	for (sig = 1; sig < NSIG; sig++)
		if (saved[sig].sa_handler != SIG_ERR)
			sigaction(sig, &saved[sig], NULL);
	assert_null(strstr(c.out.buf, "SCE_CANARY"));
	assert_non_null(strstr(c.out.buf, "PATH=/usr/sbin:/usr/bin:/sbin:/bin\n"));
	assert_non_null(strstr(c.out.buf, "SigBlk:\t0000000000000000"));
	ign = strstr(c.out.buf, "SigIgn:\t");
	assert_non_null(ign);
	/* Every signal at its default: 1-31 and the real-time ones (glibc keeps 32 and 33 for
	 * itself, bits 31 and 32 of the mask). */
	assert_int_equal(strtoull(ign + 8, NULL, 16) & ~0x180000000ULL, 0);
	child_release(&c);
	close(leak);
	unsetenv("SCE_CANARY");
}

/* Looked at from outside, so that the listing itself opens nothing in the child. */
static void test_only_three_descriptors(void **state)
{
	struct child c = CHILD_INIT;
	char *argv[] = { "sleep", "30", NULL };
	char err[256], path[64];
	int leak = open("/dev/null", O_RDONLY); /* not close-on-exec */
	struct dirent *e;
	DIR *d;
	int n = 0;

	(void)state;
	assert_int_equal(child_spawn(&c, "/bin/sleep", argv, err, sizeof(err)), 0);
	usleep(100000);
	snprintf(path, sizeof(path), "/proc/%ld/fd", (long)c.pid);
	d = opendir(path);
	assert_non_null(d);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.') {
			assert_true(atoi(e->d_name) <= 2);
			n++;
		}
	closedir(d);
	assert_int_equal(n, 3);
	child_release(&c);
	close(leak);
}

static void test_spawn_capture(void **state)
{
	char out[64];
	char *echo[] = { "echo", "hi", NULL };
	char *three[] = { "sh", "-c", "exit 3", NULL };
	char *slow[] = { "sleep", "30", NULL };
	int64_t start;

	(void)state;
	assert_int_equal(spawn_capture("/bin/echo", echo, 5000, out, sizeof(out)), 0);
	assert_string_equal(out, "hi\n");
	assert_int_equal(spawn_capture("/bin/sh", three, 5000, out, sizeof(out)), 3);
	start = mono_ms();
	assert_int_equal(spawn_capture("/bin/sleep", slow, 200, out, sizeof(out)), -1);
	assert_true(mono_ms() - start < 2000);
	assert_int_equal(spawn_capture("/nonexistent/prog", echo, 1000, out, sizeof(out)), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_feeds_stdin_larger_than_a_pipe),
		cmocka_unit_test(test_caps_both_streams_and_keeps_draining),
		cmocka_unit_test(test_deadline),
		cmocka_unit_test(test_until_output),
		cmocka_unit_test(test_stop_flag),
		cmocka_unit_test(test_client_gone),
		cmocka_unit_test(test_kill_takes_the_process_group),
		cmocka_unit_test(test_what_the_child_inherits),
		cmocka_unit_test(test_only_three_descriptors),
		cmocka_unit_test(test_spawn_capture),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
