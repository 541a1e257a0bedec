/* test_slots.c - counted slots: n per key, a bounded wait, freed when a holder dies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "slots.h"
#include "spawn.h"
#include "tmpdir.h"

static char dir[64];

static int setup(void **state)
{
	char line[96];

	(void)state;
	if (tmpdir_make(dir, sizeof(dir), "slots"))
		return -1;
	snprintf(line, sizeof(line), "%s/line", dir);
	return mkdir(line, 0700);
}

static int teardown(void **state)
{
	(void)state;
	return tmpdir_remove(dir);
}

/* The entries in the line (waiting, or left behind by a waiter that died). */
static int in_line(void)
{
	char path[96];
	struct dirent *e;
	int n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "%s/line", dir);
	d = opendir(path);
	while (d && (e = readdir(d)))
		n += e->d_name[0] != '.';
	if (d)
		closedir(d);
	return n;
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
	assert_int_equal(in_line(), 0);
	slot_release(a);
	slot_release(b);
}

/* Waits (up to 5 s) until n entries are in the line. */
static void until_in_line(int n)
{
	struct timespec pause = { 0, 5 * 1000 * 1000 };
	int64_t deadline = mono_ms() + 5000;

	while (in_line() != n && mono_ms() < deadline)
		nanosleep(&pause, NULL);
	assert_int_equal(in_line(), n);
}

/* A child that waits (up to 5 s) for the one slot of key, writes letter to out once it has it
 * ('-' if not), holds it hold_ms and exits. It closes held, the parent's slot (a flock belongs to
 * the open file, which the child would share). */
static pid_t waiter(const char *key, int held, int out, char letter, int hold_ms)
{
	struct timespec hold = { hold_ms / 1000, (hold_ms % 1000) * 1000L * 1000 };
	char err[256], c = '-';
	pid_t pid = fork();
	int fd;

	if (pid)
		return pid;
	close(held);
	if (slot_take(dir, key, 1, mono_ms() + 5000, -1, &fd, err, sizeof(err)) == SLOT_TAKEN)
		c = letter;
	if (write(out, &c, 1) != 1)
		_exit(1);
	nanosleep(&hold, NULL);
	slot_release(fd);
	_exit(0);
}

static void reap_all(pid_t *pids, int n)
{
	int i, status;

	for (i = 0; i < n; i++) {
		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
}

/* The set-up of a test with one waiter: a pipe, the one slot of key taken into *held, and a
 * waiter (see waiter()) seen in the line behind it. */
static pid_t one_waiting(const char *key, int *held, int p[2], int hold_ms)
{
	char err[256];
	pid_t pid;

	assert_int_equal(pipe(p), 0);
	assert_int_equal(slot_take(dir, key, 1, mono_ms(), -1, held, err, sizeof(err)), SLOT_TAKEN);
	pid = waiter(key, *held, p[1], 'B', hold_ms);
	until_in_line(1);
	return pid;
}

/* Reads the letter of the waiter that took the slot. */
static char taker(int p[2])
{
	char c = 0;

	assert_int_equal(read(p[0], &c, 1), 1);
	return c;
}

/* Those who wait get the freed slot in the order they came. */
static void test_waiters_are_served_in_arrival_order(void **state)
{
	char err[256], order[6] = "";
	int a, p[2], i, got = 0;
	ssize_t r;
	pid_t pids[5];

	(void)state;
	assert_int_equal(pipe(p), 0);
	assert_int_equal(slot_take(dir, "fifo", 1, mono_ms(), -1, &a, err, sizeof(err)), SLOT_TAKEN);
	for (i = 0; i < 5; i++) {
		pids[i] = waiter("fifo", a, p[1], (char)('B' + i), 20);
		until_in_line(i + 1);
	}
	slot_release(a);
	while (got < 5 && (r = read(p[0], order + got, (size_t)(5 - got))) > 0)
		got += (int)r;
	assert_string_equal(order, "BCDEF");
	reap_all(pids, 5);
	assert_int_equal(in_line(), 0);
	close(p[0]);
	close(p[1]);
}

/* A slot freed while someone waits is not taken by a request that comes after it. */
static void test_a_newcomer_does_not_go_before_a_waiter(void **state)
{
	char err[256];
	int a, b, p[2];
	enum slot_result r;
	pid_t pid;

	(void)state;
	pid = one_waiting("cut", &a, p, 2000); /* it holds it long enough for the newcomer to come */
	slot_release(a);
	r = slot_take(dir, "cut", 1, mono_ms(), -1, &b, err, sizeof(err));
	slot_release(b);
	assert_int_equal(r, SLOT_BUSY);
	assert_int_equal(taker(p), 'B');
	reap_all(&pid, 1);
	close(p[0]);
	close(p[1]);
}

/* A waiter killed in the line holds up no one behind it, and its entry goes. */
static void test_a_killed_waiter_leaves_the_line(void **state)
{
	char err[256], c;
	int a, p[2], status;
	int64_t start;
	pid_t dead, next;

	(void)state;
	assert_int_equal(pipe(p), 0);
	assert_int_equal(slot_take(dir, "dead", 1, mono_ms(), -1, &a, err, sizeof(err)), SLOT_TAKEN);
	dead = waiter("dead", a, p[1], 'X', 0);
	until_in_line(1);
	next = waiter("dead", a, p[1], 'C', 0);
	until_in_line(2);
	kill(dead, SIGKILL);
	assert_int_equal(waitpid(dead, &status, 0), dead);
	start = mono_ms();
	slot_release(a);
	assert_int_equal(read(p[0], &c, 1), 1);
	assert_int_equal(c, 'C');
	assert_true(mono_ms() - start < 3000); /* well before its deadline (5 s) */
	reap_all(&next, 1);
	assert_int_equal(in_line(), 0);
	close(p[0]);
	close(p[1]);
}

/* A holder killed while one waits: the waiter gets its slot well before its deadline, though
 * the kernel reports the killed holder's close before its lock goes. */
static void test_a_killed_holder_frees_its_slot_for_a_waiter(void **state)
{
	char err[256], c;
	int p[2], status, fd;
	int64_t start;
	pid_t holder, next;

	(void)state;
	assert_int_equal(pipe(p), 0);
	holder = fork();
	if (holder == 0) {
		if (slot_take(dir, "killed", 1, mono_ms(), -1, &fd, err, sizeof(err)) ||
		    write(p[1], "H", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	assert_int_equal(read(p[0], &c, 1), 1);
	next = waiter("killed", -1, p[1], 'B', 0);
	until_in_line(1);
	start = mono_ms();
	kill(holder, SIGKILL);
	assert_int_equal(waitpid(holder, &status, 0), holder);
	assert_int_equal(read(p[0], &c, 1), 1);
	assert_int_equal(c, 'B');
	assert_true(mono_ms() - start < 3000);
	reap_all(&next, 1);
	close(p[0]);
	close(p[1]);
}

/* A slot whose lock goes with no event (as when a killed holder's close is reported before its
 * lock goes) is still seen by the waiter, at its next look, well before its deadline. */
static void test_a_lock_gone_without_an_event_is_seen(void **state)
{
	int a, p[2];
	int64_t start;
	pid_t next;

	(void)state;
	next = one_waiting("quiet", &a, p, 0);
	start = mono_ms();
	assert_int_equal(flock(a, LOCK_UN), 0); /* unlocked, not closed: no inotify event */
	assert_int_equal(taker(p), 'B');
	assert_true(mono_ms() - start < 3000); /* its deadline is 5 s away */
	reap_all(&next, 1);
	close(a);
	close(p[0]);
	close(p[1]);
}

/* The sweep removes what a waiter that died left in the line, and nothing of one alive. */
static void test_the_sweep_removes_what_dead_waiters_left(void **state)
{
	struct timespec old[2] = { { time(NULL) - 120, 0 }, { time(NULL) - 120, 0 } };
	char err[256], c, stale[96], fresh[96];
	int a, b, p[2], status;
	pid_t dead, alive;

	(void)state;
	assert_int_equal(pipe(p), 0);
	assert_int_equal(slot_take(dir, "left", 1, mono_ms(), -1, &a, err, sizeof(err)), SLOT_TAKEN);
	assert_int_equal(slot_take(dir, "held", 1, mono_ms(), -1, &b, err, sizeof(err)), SLOT_TAKEN);
	dead = waiter("left", a, p[1], 'X', 0);
	until_in_line(1);
	kill(dead, SIGKILL);
	assert_int_equal(waitpid(dead, &status, 0), dead);
	alive = fork();
	if (alive == 0) {
		close(a);
		waiter("held", b, p[1], 'B', 0); /* the child's child: exits */
		_exit(0);
	}
	until_in_line(2);
	snprintf(stale, sizeof(stale), "%s/line/.left.1.1", dir);
	snprintf(fresh, sizeof(fresh), "%s/line/.left.2.2", dir);
	close(open(stale, O_CREAT | O_WRONLY, 0600)); /* a waiter that died joining, long ago */
	close(open(fresh, O_CREAT | O_WRONLY, 0600)); /* one joining now */
	assert_int_equal(utimensat(AT_FDCWD, stale, old, 0), 0);
	slot_sweep_line(dir);
	assert_int_equal(in_line(), 1); /* the live one's */
	assert_int_equal(access(stale, F_OK), -1);
	assert_int_equal(access(fresh, F_OK), 0);
	unlink(fresh);
	slot_release(b);
	assert_int_equal(read(p[0], &c, 1), 1);
	assert_int_equal(c, 'B');
	slot_release(a);
	reap_all(&alive, 1);
	close(p[0]);
	close(p[1]);
}

static long switches(pid_t pid)
{
	char path[64], line[128];
	long n = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		sscanf(line, "voluntary_ctxt_switches: %ld", &n);
	if (f)
		fclose(f);
	return n;
}

/* A waiter sleeps until something it waits for happens, but for a look every SLOT_LOOK_MS: it
 * does not poll. */
static void test_a_waiter_sleeps_until_woken(void **state)
{
	struct timespec wait = { 0, 500 * 1000 * 1000 };
	int a, p[2];
	long before;
	pid_t pid;

	(void)state;
	pid = one_waiting("sleep", &a, p, 0);
	nanosleep(&wait, NULL); /* settled in its wait */
	before = switches(pid);
	nanosleep(&wait, NULL);
	assert_true(before >= 0 && switches(pid) - before <= 2);
	slot_release(a);
	assert_int_equal(taker(p), 'B');
	reap_all(&pid, 1);
	close(p[0]);
	close(p[1]);
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
		cmocka_unit_test(test_waiters_are_served_in_arrival_order),
		cmocka_unit_test(test_a_newcomer_does_not_go_before_a_waiter),
		cmocka_unit_test(test_a_killed_waiter_leaves_the_line),
		cmocka_unit_test(test_a_waiter_sleeps_until_woken),
		cmocka_unit_test(test_a_killed_holder_frees_its_slot_for_a_waiter),
		cmocka_unit_test(test_a_lock_gone_without_an_event_is_seen),
		cmocka_unit_test(test_the_sweep_removes_what_dead_waiters_left),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
