/* test_pool.c - claiming idle containers: each one goes to at most one run, also when the
 * records lock can't be had; records that are not this instance's are never used. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "pool.h"
#include "records.h"
#include "spawn.h"
#include "tmpdir.h"

#define CLAIMERS 24
#define IDLE 6

static char dir[64];
static struct config cfg;

static int setup(void **state)
{
	char path[PATH_MAX];

	(void)state;
	if (tmpdir_make(dir, sizeof(dir), "pool"))
		return -1;
	config_defaults(&cfg);
	snprintf(cfg.state_dir, sizeof(cfg.state_dir), "%s", dir);
	snprintf(cfg.instance, sizeof(cfg.instance), "unit");
	cfg.langs.n = 2;
	strcpy(cfg.langs.list[0].name, "python");
	strcpy(cfg.langs.list[1].name, "ruby");
	snprintf(path, sizeof(path), "%s/tmp", dir);
	return mkdir(path, 0700);
}

static int teardown(void **state)
{
	(void)state;
	return tmpdir_remove(dir);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

/* An idle record as the refill leaves it: "<pid> <64 hex digits>". */
static void add_idle(const char *name)
{
	char path[PATH_MAX], text[128];

	snprintf(path, sizeof(path), "%s/pool/python/%s", dir, name);
	snprintf(text, sizeof(text), "%d %064x\n", 1, 7);
	write_file(path, text);
}

/* CLAIMERS processes claim at once, released together; returns how many runs got each of the
 * IDLE containers (names sce-unit-1-<16 hex digits: i>) in counts. */
static void race(int counts[IDLE])
{
	int go[2], results[2], i, status;
	pid_t pids[CLAIMERS];
	char c = 0;

	assert_int_equal(pipe(go), 0);
	assert_int_equal(pipe(results), 0);
	for (i = 0; i < CLAIMERS; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			struct container ct;
			char got = -1;

			close(go[1]);
			if (read(go[0], &c, 1) != 0) /* EOF: all start together */
				_exit(2);
			if (pool_claim(&cfg, &cfg.langs.list[0], &ct) == 0)
				got = (char)(ct.name[strlen(ct.name) - 1] - '0');
			if (write(results[1], &got, 1) != 1)
				_exit(2);
			_exit(0);
		}
	}
	close(go[0]);
	close(results[1]);
	close(go[1]);
	memset(counts, 0, sizeof(int) * IDLE);
	for (i = 0; i < CLAIMERS; i++) {
		char got;

		assert_int_equal(read(results[0], &got, 1), 1);
		if (got >= 0) {
			assert_true(got < IDLE);
			counts[(int)got]++;
		}
	}
	close(results[0]);
	for (i = 0; i < CLAIMERS; i++) {
		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
}

static void add_all_idle(void)
{
	char name[64];
	int i;

	for (i = 0; i < IDLE; i++) {
		snprintf(name, sizeof(name), "sce-unit-1-%016x", i);
		add_idle(name);
	}
}

static void test_each_container_claimed_once(void **state)
{
	int counts[IDLE], i, round;

	(void)state;
	for (round = 0; round < 20; round++) {
		add_all_idle();
		race(counts);
		for (i = 0; i < IDLE; i++)
			assert_int_equal(counts[i], 1); /* CLAIMERS > IDLE: every one taken, once */
		assert_int_equal(pool_size(&cfg, &cfg.langs.list[0]), 0);
	}
}

/* records.lock unusable (here: a directory, so open() fails): nobody claims anything, and
 * the idle records stay where they were. */
static void test_no_lock_no_claim(void **state)
{
	char lock[PATH_MAX], path[PATH_MAX];
	int counts[IDLE], i, round;

	(void)state;
	snprintf(lock, sizeof(lock), "%s/records.lock", dir);
	unlink(lock);
	assert_int_equal(mkdir(lock, 0700), 0);
	for (round = 0; round < 20; round++) {
		add_all_idle();
		race(counts);
		for (i = 0; i < IDLE; i++)
			assert_int_equal(counts[i], 0);
		assert_int_equal(pool_size(&cfg, &cfg.langs.list[0]), IDLE);
	}
	assert_int_equal(rmdir(lock), 0);
	for (i = 0; i < IDLE; i++) {
		snprintf(path, sizeof(path), "%s/pool/python/sce-unit-1-%016x", dir, i);
		unlink(path);
	}
}

/* Names of another instance, or not container names at all, and records with an id that is not
 * docker's are never handed out. */
static void test_foreign_records_are_not_used(void **state)
{
	char path[PATH_MAX], text[128];
	struct container ct;

	(void)state;
	add_idle("sce-other-1-0000000000000000");
	add_idle("sce-unit-b-1-0000000000000000"); /* instance "unit-b", not "unit" */
	add_idle("sce-unit-1-x;rm");
	add_idle("nginx");
	snprintf(path, sizeof(path), "%s/pool/python/sce-unit-1-0000000000000005", dir);
	write_file(path, "1 ../../../../etc\n");
	assert_int_equal(pool_claim(&cfg, &cfg.langs.list[0], &ct), 1);
	snprintf(text, sizeof(text), "%d %064x\n", 1, 9);
	write_file(path, text);
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(pool_claim(&cfg, &cfg.langs.list[0], &ct), 0);
	assert_string_equal(ct.name, "sce-unit-1-0000000000000005");
}

/* The state directories: made at start, a pool for each language of the table; refused when
 * another user could write to one. */
static void test_state_directories(void **state)
{
	char path[PATH_MAX], err[512];
	struct stat st;

	(void)state;
	assert_int_equal(records_check_state(&cfg, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/pool/ruby", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 077, 0);
	snprintf(path, sizeof(path), "%s/code", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(chmod(path, 0777), 0);
	assert_int_equal(records_check_state(&cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no one else may write there"));
	assert_int_equal(chmod(path, 0700), 0);
}

/* A fake docker CLI in dir: every call logged; "version" fails while $dir/down exists, "rm"
 * while $dir/rmfail does. (It only reaches the error paths: the HTTP suites use the engine.) */
static void fake_docker(void)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/docker", dir);
	write_file(path, "#!/bin/sh\n"
			 "d=$(dirname \"$0\")\n"
			 "echo \"$*\" >>\"$d/calls\"\n"
			 "case \"$1\" in\n"
			 "version) [ -e \"$d/down\" ] && exit 1; echo 20.10; exit 0 ;;\n"
			 "rm) [ -e \"$d/rmfail\" ] && { echo 'Error response from daemon: busy' >&2; exit 1; }; exit 0 ;;\n"
			 "esac\n"
			 "exit 0\n");
	assert_int_equal(chmod(path, 0700), 0);
	snprintf(cfg.docker, sizeof(cfg.docker), "%s", path);
}

static int exists(const char *sub, const char *name)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s/%s", dir, sub, name);
	return access(path, F_OK) == 0;
}

/* Two used containers, as a run leaves them (an owned record), handed over to the keeper. */
static void hand_over_two(struct container ct[2])
{
	char path[PATH_MAX], text[128];
	int i;

	for (i = 0; i < 2; i++) {
		memset(&ct[i], 0, sizeof(ct[i]));
		snprintf(ct[i].name, sizeof(ct[i].name), "sce-unit-1-%016x", 10 + i);
		snprintf(path, sizeof(path), "%s/owned/%s", dir, ct[i].name);
		snprintf(text, sizeof(text), "%d %064x\n", (int)getpid(), 10 + i);
		write_file(path, text);
		assert_int_equal(pool_hand_over(&cfg, &ct[i]), 0);
		assert_false(exists("owned", ct[i].name));
		assert_true(exists("done", ct[i].name));
	}
	assert_int_equal(pool_handed_count(&cfg), 2);
}

static void read_calls(char *buf, size_t len)
{
	char path[PATH_MAX];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/calls", dir);
	f = fopen(path, "r");
	assert_non_null(f);
	n = fread(buf, 1, len - 1, f);
	buf[n] = '\0';
	fclose(f);
	unlink(path);
}

/* The keeper removes what was handed over with one docker rm; one docker cannot remove becomes
 * a stray (owned, no live owner) for the sweep; while docker does not answer, nothing moves. */
static void test_handed_over_containers_are_removed_together(void **state)
{
	struct container ct[2];
	char calls[4096], path[PATH_MAX];

	(void)state;
	fake_docker();
	hand_over_two(ct);
	assert_int_equal(pool_remove_handed(&cfg, NULL), 0);
	read_calls(calls, sizeof(calls));
	/* one call for both */
	assert_true(!strncmp(calls, "rm --force --volumes sce-unit-1-", 32));
	assert_non_null(strstr(calls, ct[0].name));
	assert_non_null(strstr(calls, ct[1].name));
	assert_string_equal(strchr(calls, '\n'), "\n");
	assert_int_equal(pool_handed_count(&cfg), 0);
	assert_false(exists("owned", ct[0].name) || exists("owned", ct[1].name));

	/* docker away: the records wait in done/ */
	hand_over_two(ct);
	snprintf(path, sizeof(path), "%s/down", dir);
	write_file(path, "");
	snprintf(path, sizeof(path), "%s/rmfail", dir);
	write_file(path, "");
	assert_int_equal(pool_remove_handed(&cfg, NULL), -1);
	assert_int_equal(pool_handed_count(&cfg), 2);

	/* docker back, but it cannot remove them: strays for the sweep, made due */
	snprintf(path, sizeof(path), "%s/down", dir);
	unlink(path);
	assert_int_equal(pool_remove_handed(&cfg, NULL), -1);
	assert_int_equal(pool_handed_count(&cfg), 0);
	{
		long pid;
		char id[80];

		snprintf(path, sizeof(path), "%s/owned/%s", dir, ct[0].name);
		records_read(path, &pid, id);
		assert_int_equal(pid, 0);
		unlink(path);
		snprintf(path, sizeof(path), "%s/owned/%s", dir, ct[1].name);
		unlink(path);
	}
	snprintf(path, sizeof(path), "%s/rmfail", dir);
	unlink(path);
	read_calls(calls, sizeof(calls));
}

/* In a child: once go is written to, takes records_making() as soon as it may, tells ready,
 * holds it for hold_ms, and exits 0 when it had it no sooner than not_before_ms after go. (Forked
 * before the parent takes its locks, which it would otherwise hold too.) */
static pid_t maker(int hold_ms, int not_before_ms, const int go[2], const int ready[2])
{
	pid_t pid = fork();

	if (pid == 0) {
		int64_t start;
		int fd;
		char c;

		if (read(go[0], &c, 1) != 1)
			_exit(2);
		start = mono_ms();
		fd = records_making(&cfg);
		if (write(ready[1], "x", 1) != 1)
			_exit(2);
		usleep(hold_ms * 1000);
		_exit(fd >= 0 && mono_ms() - start >= not_before_ms + hold_ms ? 0 : 1);
	}
	return pid;
}

static void expect_exit_0(pid_t pid)
{
	int status;

	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* A sweep of everything waits for the container being made, and none is begun while it runs
 * (else its record, written after the sweep's listing, would be dropped: a container left with
 * no record). */
static void test_a_sweep_of_everything_halts_the_making(void **state)
{
	int go[2], ready[2], gate, fd;
	int64_t start;
	char c;
	pid_t pid;

	(void)state;
	assert_int_equal(pipe(go), 0);
	assert_int_equal(pipe(ready), 0);
	pid = maker(300, 0, go, ready);
	assert_int_equal(write(go[1], "x", 1), 1);
	assert_int_equal(read(ready[0], &c, 1), 1);
	start = mono_ms();
	fd = records_halt_making(&cfg, &gate);
	assert_true(fd >= 0 && gate >= 0);
	assert_true(mono_ms() - start >= 250); /* it waited for the maker */
	expect_exit_0(pid);
	records_unlock(fd);
	records_unlock(gate);

	pid = maker(0, 300, go, ready);
	fd = records_halt_making(&cfg, &gate);
	assert_true(fd >= 0 && gate >= 0);
	assert_int_equal(write(go[1], "x", 1), 1); /* begins while the sweep holds it */
	usleep(400 * 1000);
	records_unlock(fd);
	records_unlock(gate);
	assert_int_equal(read(ready[0], &c, 1), 1);
	expect_exit_0(pid); /* it had to wait for the sweep's end */
	close(go[0]);
	close(go[1]);
	close(ready[0]);
	close(ready[1]);
}

/* In a child: once go is written to, halts the making (waiting for the makers), holds it for
 * hold_ms, and exits 0 when it had it. */
static pid_t halter(int hold_ms, const int go[2])
{
	pid_t pid = fork();

	if (pid == 0) {
		int gate, fd;
		char c;

		if (read(go[0], &c, 1) != 1)
			_exit(2);
		fd = records_halt_making(&cfg, &gate);
		usleep(hold_ms * 1000);
		_exit(fd >= 0 && gate >= 0 ? 0 : 1);
	}
	return pid;
}

/* A sweep that waits for a container being made goes first: a maker that comes while it waits
 * does not begin before the sweep has ended (flock alone would let it in at once, and a steady
 * flow of makers would hold the sweep off for ever). */
static void test_a_waiting_sweep_goes_before_the_next_maker(void **state)
{
	int go_a[2], go_b[2], go_h[2], ready[2];
	pid_t a, b, h;
	char c;

	(void)state;
	assert_int_equal(pipe(go_a), 0);
	assert_int_equal(pipe(go_b), 0);
	assert_int_equal(pipe(go_h), 0);
	assert_int_equal(pipe(ready), 0);
	a = maker(600, 0, go_a, ready);
	b = maker(0, 500, go_b, ready); /* had it no sooner than 500 ms after its go */
	h = halter(300, go_h);
	assert_int_equal(write(go_a[1], "x", 1), 1);
	assert_int_equal(read(ready[0], &c, 1), 1); /* A makes a container */
	assert_int_equal(write(go_h[1], "x", 1), 1); /* the sweep waits for A */
	usleep(100 * 1000);
	assert_int_equal(write(go_b[1], "x", 1), 1); /* B comes: ~500 ms of A, then 300 of H */
	assert_int_equal(read(ready[0], &c, 1), 1);
	expect_exit_0(a);
	expect_exit_0(h);
	expect_exit_0(b);
	close(go_a[0]);
	close(go_a[1]);
	close(go_b[0]);
	close(go_b[1]);
	close(go_h[0]);
	close(go_h[1]);
	close(ready[0]);
	close(ready[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_state_directories),
	    cmocka_unit_test(test_each_container_claimed_once),
	    cmocka_unit_test(test_no_lock_no_claim),
	    cmocka_unit_test(test_foreign_records_are_not_used),
	    cmocka_unit_test(test_handed_over_containers_are_removed_together),
	    cmocka_unit_test(test_a_sweep_of_everything_halts_the_making),
	    cmocka_unit_test(test_a_waiting_sweep_goes_before_the_next_maker),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
