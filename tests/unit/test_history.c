/* test_history.c - history.json: newest first, trimming, recovery, and hostile files in its place. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "history.h"
#include "history_store.h"
#include "spawn.h"
#include "tmpdir.h"

static char dir[64];
static char path[128];

static int setup(void **state)
{
	(void)state;
	if (tmpdir_make(dir, sizeof(dir), "history"))
		return -1;
	snprintf(path, sizeof(path), "%s/history.json", dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return tmpdir_remove(dir);
}

static cJSON *entry(int i)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "n", i);
	return o;
}

static int count_files(const char *part)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	while ((e = readdir(d)))
		if (strstr(e->d_name, part))
			n++;
	closedir(d);
	return n;
}

static void write_file(const char *text)
{
	FILE *f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
}

static void test_missing_is_empty(void **state)
{
	char err[256];
	cJSON *arr;

	(void)state;
	arr = history_read_new(path, NULL, err, sizeof(err));
	assert_non_null(arr);
	assert_int_equal(cJSON_GetArraySize(arr), 0);
	cJSON_Delete(arr);
}

static void test_newest_first_and_trimmed(void **state)
{
	char err[256];
	cJSON *arr;
	int i;

	(void)state;
	for (i = 0; i < 13; i++)
		assert_int_equal(history_append(path, 10, 1000, entry(i), err, sizeof(err)), 0);
	arr = history_read_new(path, NULL, err, sizeof(err));
	assert_int_equal(cJSON_GetArraySize(arr), 10);
	for (i = 0; i < 10; i++)
		assert_int_equal(cJSON_GetArrayItem(arr, i)->child->valueint, 12 - i);
	cJSON_Delete(arr);
	assert_int_equal(count_files(".tmp"), 0);
	assert_int_equal(count_files(".lock"), 1);
}

static void test_corrupt_file_is_set_aside(void **state)
{
	char err[256];
	cJSON *arr;

	(void)state;
	write_file("[{\"n\":1},");
	assert_null(history_read_new(path, NULL, err, sizeof(err)));
	assert_string_equal(err, "history is not a JSON array");
	assert_int_equal(history_append(path, 10, 1000, entry(7), err, sizeof(err)), 0);
	arr = history_read_new(path, NULL, err, sizeof(err));
	assert_int_equal(cJSON_GetArraySize(arr), 1);
	cJSON_Delete(arr);
	assert_int_equal(count_files(".corrupt-"), 1);
	write_file("{\"an\":\"object\"}");
	assert_int_equal(history_append(path, 10, 1000, entry(8), err, sizeof(err)), 0);
	assert_int_equal(count_files(".corrupt-"), 2);
}

/* A symlink planted in place of history.json is never followed: its target stays untouched. */
static void test_symlink_is_not_followed(void **state)
{
	char target[160], err[256], buf[64] = "";
	FILE *f;
	struct stat st;

	(void)state;
	snprintf(target, sizeof(target), "%s/target", dir);
	f = fopen(target, "w");
	fputs("secret", f);
	fclose(f);
	unlink(path);
	assert_int_equal(symlink(target, path), 0);
	assert_null(history_read_new(path, NULL, err, sizeof(err)));
	assert_int_equal(history_append(path, 10, 1000, entry(1), err, sizeof(err)), 0);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	f = fopen(target, "r");
	assert_non_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	assert_string_equal(buf, "secret");
}

/* A FIFO in place of history.json does not block a reader or a writer. */
static void test_fifo_does_not_block(void **state)
{
	char err[256];
	int64_t start = mono_ms();

	(void)state;
	unlink(path);
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_null(history_read_new(path, NULL, err, sizeof(err)));
	assert_string_equal(err, "history is not a regular file");
	assert_int_equal(history_append(path, 10, 1000, entry(1), err, sizeof(err)), 0);
	assert_true(mono_ms() - start < 1000);
}

/* A directory in its place: the write fails cleanly (the run is still answered). */
static void test_directory_in_place(void **state)
{
	char err[256], inner[160];
	cJSON *arr;

	(void)state;
	unlink(path);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(inner, sizeof(inner), "%s/keep", path);
	close(open(inner, O_CREAT | O_WRONLY, 0600));
	assert_null(history_read_new(path, NULL, err, sizeof(err)));
	/* The directory is set aside (renamed, not emptied), and a new history starts. */
	assert_int_equal(history_append(path, 10, 1000, entry(5), err, sizeof(err)), 0);
	arr = history_read_new(path, NULL, err, sizeof(err));
	assert_int_equal(cJSON_GetArraySize(arr), 1);
	cJSON_Delete(arr);
}

/* A stuck lock holder makes the append give up after lock_ms, not wait forever. */
static void test_stuck_lock_times_out(void **state)
{
	char lock[160], err[256];
	int fd;
	int64_t start;

	(void)state;
	snprintf(lock, sizeof(lock), "%s.lock", path);
	fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	assert_int_equal(flock(fd, LOCK_EX), 0);
	start = mono_ms();
	assert_int_equal(history_append(path, 10, 300, entry(1), err, sizeof(err)), -1);
	assert_non_null(strstr(err, "history.json.lock busy for 300 ms"));
	assert_true(mono_ms() - start >= 300 && mono_ms() - start < 2000);
	close(fd);
	assert_int_equal(history_append(path, 10, 300, entry(2), err, sizeof(err)), 0);
}

/* The history holds everyone's programs and output: the service's user's alone, whatever the
 * umask, as is its lock file. */
static void test_files_are_the_services_alone(void **state)
{
	char err[256], lock[160];
	struct stat st;
	mode_t old = umask(0);

	(void)state;
	assert_int_equal(history_append(path, 10, 300, entry(1), err, sizeof(err)), 0);
	umask(old);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	snprintf(lock, sizeof(lock), "%s.lock", path);
	assert_int_equal(stat(lock, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
}

/* A history that keeps going bad (a flood of runs over the size limit, a disk error) does not
 * fill the disk with copies set aside: the newest few are kept. */
static void test_set_aside_copies_are_capped(void **state)
{
	char err[256];
	FILE *f;
	int i;

	(void)state;
	for (i = 0; i < 6; i++) {
		f = fopen(path, "w");
		assert_non_null(f);
		fputs("not json", f);
		fclose(f);
		assert_int_equal(history_append(path, 10, 300, entry(i), err, sizeof(err)), 0);
	}
	assert_int_equal(count_files(".corrupt-"), HISTORY_ASIDE_KEEP);
}

/* Many processes appending at once lose nothing. */
static void test_concurrent_processes(void **state)
{
	char err[256];
	cJSON *arr;
	int i, status;

	(void)state;
	unlink(path);
	for (i = 0; i < 8; i++) {
		if (fork() == 0) {
			int k;
			for (k = 0; k < 5; k++)
				if (history_append(path, 100, 10000, entry(i * 10 + k), err, sizeof(err)))
					_exit(1);
			_exit(0);
		}
	}
	for (i = 0; i < 8; i++) {
		wait(&status);
		assert_int_equal(status, 0);
	}
	arr = history_read_new(path, NULL, err, sizeof(err));
	assert_int_equal(cJSON_GetArraySize(arr), 40);
	cJSON_Delete(arr);
}

/* A writer killed at any moment leaves the old file or the new one, never half of one; the next
 * writer removes the temp file it may have left. */
static void test_writer_killed_mid_write(void **state)
{
	char err[256], big[4096];
	cJSON *arr;
	int i, status;

	(void)state;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	for (i = 0; i < 60; i++) {
		pid_t pid = fork();

		if (pid == 0) {
			for (;;) {
				cJSON *o = cJSON_CreateObject();
				cJSON_AddStringToObject(o, "pad", big);
				history_append(path, 10, 10000, o, err, sizeof(err));
			}
		}
		usleep((useconds_t)(rand() % 3000));
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		arr = history_read_new(path, NULL, err, sizeof(err)); /* [] if nothing was renamed yet */
		assert_non_null(arr);
		assert_true(cJSON_GetArraySize(arr) <= 10);
		cJSON_Delete(arr);
	}
	assert_int_equal(history_append(path, 10, 1000, entry(1), err, sizeof(err)), 0);
	assert_int_equal(count_files(".tmp"), 0);
}


/* The Redis backend with Redis away (a port where nothing listens): every entry is kept, in this
 * host's file and waiting for Redis, the newest history_size of them; a line of the waiting file
 * that is not an entry is dropped; the flush leaves them when Redis is still away. */
static void test_entries_wait_while_redis_is_away(void **state)
{
	struct config cfg;
	char err[256], waiting[256], *text;
	size_t len;
	int degraded, unreadable, i, fd;
	FILE *f;

	(void)state;
	config_defaults(&cfg);
	strcpy(cfg.history_backend, "redis");
	cfg.redis_port = 1; /* nothing listens: refused at once */
	cfg.history_size = 3;
	snprintf(cfg.history_path, sizeof(cfg.history_path), "%s", path);
	snprintf(cfg.state_dir, sizeof(cfg.state_dir), "%s", dir);
	snprintf(waiting, sizeof(waiting), "%s/history-waiting", dir);
	assert_int_equal(history_waiting(&cfg), 0);
	for (i = 0; i < 5; i++)
		assert_int_equal(history_record(&cfg, entry(i), err, sizeof(err)), 0);
	assert_int_equal(history_waiting(&cfg), 3);
	assert_int_equal(history_degraded(&cfg), 1);
	/* a line that is not an entry (a hand edit, a disk error) is dropped, not sent */
	f = fopen(waiting, "a");
	assert_non_null(f);
	fputs("garbage\n", f);
	fclose(f);
	history_flush(&cfg);
	assert_int_equal(history_waiting(&cfg), 4); /* untouched: Redis is still away */
	assert_int_equal(history_record(&cfg, entry(5), err, sizeof(err)), 0);
	f = fopen(waiting, "r");
	assert_non_null(f);
	{
		char line[256];
		int n = 0;
		long long prev = 0, score;

		while (fgets(line, sizeof(line), f)) {
			assert_int_equal(sscanf(line, "%lld", &score), 1);
			assert_true(score >= prev); /* oldest first */
			prev = score;
			assert_non_null(strstr(line, n == 0 ? "{\"n\":3}" : n == 1 ? "{\"n\":4}"
									  : "{\"n\":5}"));
			n++;
		}
		assert_int_equal(n, 3);
	}
	fclose(f);
	/* /history answers this host's own copy, marked degraded */
	text = history_newest_new(&cfg, &len, &degraded, &unreadable, err, sizeof(err));
	assert_non_null(text);
	assert_int_equal(degraded, 1);
	assert_string_equal(text, "[{\"n\":5},{\"n\":4},{\"n\":3}]\n");
	free(text);
	/* the waiting file is the service's alone */
	fd = open(waiting, O_RDONLY);
	{
		struct stat st;
		assert_int_equal(fstat(fd, &st), 0);
		assert_int_equal(st.st_mode & 0777, 0600);
	}
	close(fd);
	/* the file backend has nothing waiting, whatever is there */
	strcpy(cfg.history_backend, "file");
	assert_int_equal(history_waiting(&cfg), 0);
	assert_int_equal(history_degraded(&cfg), 0);
}

static void expect_newest(const struct config *cfg, const char *want)
{
	char err[256], *text;
	size_t len;
	int degraded, unreadable;

	text = history_newest_new(cfg, &len, &degraded, &unreadable, err, sizeof(err));
	assert_non_null(text);
	assert_string_equal(text, want);
	assert_int_equal(len, strlen(want));
	free(text);
}

/* /history answers the text it read last while the file is the same, and reads a file that
 * changed: replaced whole by a run (the same size), edited in place, gone. */
static void test_newest_follows_every_change(void **state)
{
	struct config cfg;
	char err[256];
	int i;

	(void)state;
	config_defaults(&cfg);
	snprintf(cfg.history_path, sizeof(cfg.history_path), "%s", path);
	for (i = 0; i < 3; i++)
		assert_int_equal(history_append(path, 3, 1000, entry(i), err, sizeof(err)), 0);
	expect_newest(&cfg, "[{\"n\":2},{\"n\":1},{\"n\":0}]\n");
	expect_newest(&cfg, "[{\"n\":2},{\"n\":1},{\"n\":0}]\n"); /* from what it kept */
	assert_int_equal(history_append(path, 3, 1000, entry(3), err, sizeof(err)), 0);
	expect_newest(&cfg, "[{\"n\":3},{\"n\":2},{\"n\":1}]\n"); /* same size, new file */
	write_file("[{\"n\":7}]");
	expect_newest(&cfg, "[{\"n\":7}]\n");
	unlink(path);
	expect_newest(&cfg, "[]\n");
	write_file("[{\"n\":8}]");
	expect_newest(&cfg, "[{\"n\":8}]\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_missing_is_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_newest_follows_every_change, setup, teardown),
		cmocka_unit_test_setup_teardown(test_entries_wait_while_redis_is_away, setup, teardown),
		cmocka_unit_test_setup_teardown(test_newest_first_and_trimmed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_file_is_set_aside, setup, teardown),
		cmocka_unit_test_setup_teardown(test_symlink_is_not_followed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fifo_does_not_block, setup, teardown),
		cmocka_unit_test_setup_teardown(test_directory_in_place, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stuck_lock_times_out, setup, teardown),
		cmocka_unit_test_setup_teardown(test_files_are_the_services_alone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_aside_copies_are_capped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_processes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writer_killed_mid_write, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
