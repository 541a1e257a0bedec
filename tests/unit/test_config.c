/* test_config.c - the config file: defaults, values, and a bad line stopping with its number. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

static char dir[] = "/tmp/sce-test-config.XXXXXX";
static char path[256], table[256];

/* The table of languages beside the config (where config_load() looks when "languages" is not
 * set). */
#define TABLE "# two languages\n[python]\nlabel = Python 3.11\nimage = sce-python:3.11\n" \
	      "packages = python3\nversion = python3 --version\nfile = main.py\n" \
	      "run = python3 -I -u main.py\nwarm = 2\n\n[c]\nlabel = C\nimage = sce-gcc:12\n" \
	      "file = main.c\ncompile = gcc -O2 -o /build/main main.c\nrun = /build/main\n" \
	      "timeout_s = 5\nmemory_mb = 256\n"

static void write_file(const char *name, const char *text)
{
	FILE *f = fopen(name, "w");

	fputs(text, f);
	fclose(f);
}

static int setup(void **state)
{
	(void)state;
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/sce.conf", dir);
	snprintf(table, sizeof(table), "%s/languages.conf", dir);
	write_file(table, TABLE);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(path);
	unlink(table);
	return rmdir(dir);
}

static int load(const char *text, struct config *cfg, char *err)
{
	write_file(path, text);
	return config_load(cfg, path, err, 512);
}

static void test_values(void **state)
{
	struct config cfg;
	char err[512], expect[300];

	(void)state;
	assert_int_equal(load("# comment\n\n port = 8080 # trailing\ntimeout_s=3\n"
			      "history_path = data/h.json\n"
			      "cpus = 0.5\nmax_body=500000\nport = 8081\n", &cfg, err), 0);
	assert_int_equal(cfg.port, 8081); /* the last one counts */
	assert_int_equal(cfg.timeout_s, 3);
	assert_string_equal(cfg.cpus, "0.5");
	assert_int_equal(cfg.max_body, 500000);
	/* the table, in its order, with the config's limits where an entry sets none */
	assert_int_equal(cfg.langs.n, 2);
	assert_string_equal(cfg.langs.list[0].name, "python");
	assert_string_equal(cfg.langs.list[0].image, "sce-python:3.11");
	assert_string_equal(cfg.langs.list[0].run, "python3 -I -u main.py");
	assert_int_equal(cfg.langs.list[0].warm, 2);
	assert_int_equal(cfg.langs.list[0].timeout_s, 3);
	assert_int_equal(cfg.langs.list[0].memory_mb, 128);
	assert_false(LANGUAGE_COMPILED(&cfg.langs.list[0]));
	assert_string_equal(cfg.langs.list[1].name, "c");
	assert_true(LANGUAGE_COMPILED(&cfg.langs.list[1]));
	assert_int_equal(cfg.langs.list[1].timeout_s, 5);
	assert_int_equal(cfg.langs.list[1].memory_mb, 256);
	assert_int_equal(cfg.langs.list[1].compile_timeout_s, 10);
	assert_int_equal(cfg.langs.list[1].build_mb, 64);
	assert_int_equal(cfg.langs.list[1].warm, 0);
	assert_int_equal(cfg.memory_mb, 128);
	assert_int_equal(cfg.max_code_chars, 5000);
	assert_int_equal(cfg.history_size, 10);
	snprintf(expect, sizeof(expect), "%s/data/h.json", dir);
	assert_string_equal(cfg.history_path, expect);
	assert_int_equal(load("history_path = ../h.json\n", &cfg, err), 0);
	assert_string_equal(cfg.history_path, "/tmp/h.json");
	assert_int_equal(load("history_path = ./not/yet/../there//h.json\n", &cfg, err), 0);
	snprintf(expect, sizeof(expect), "%s/not/there/h.json", dir);
	assert_string_equal(cfg.history_path, expect);
	assert_int_equal(load("history_path = /../../a/./b/..\n", &cfg, err), 0);
	assert_string_equal(cfg.history_path, "/a");
	/* the longest code and input, escaped, when max_body is not set */
	assert_int_equal(load("max_stdin_bytes = 10\nmax_code_chars = 100\n", &cfg, err), 0);
	assert_int_equal(cfg.max_body, 100 * 12 + 10 * 6 + 4096);
	/* the history backend, Redis, the front */
	assert_string_equal(cfg.history_backend, "file");
	assert_string_equal(cfg.redis_host, "127.0.0.1");
	assert_int_equal(cfg.redis_port, 6379);
	assert_string_equal(cfg.redis_key, "sce:history");
	assert_int_equal(cfg.redis_timeout_ms, 100);
	assert_string_equal(cfg.front_addresses, "");
	assert_int_equal(load("history_backend = redis\nredis_host = redis.internal\nredis_port = 6380\n"
			      "redis_key = school:sce.history\nfront_addresses = 10.0.0.5 ::1\n"
			      "instance = h2\n", &cfg, err), 0);
	assert_string_equal(cfg.history_backend, "redis");
	assert_string_equal(cfg.redis_host, "redis.internal");
	assert_int_equal(cfg.redis_port, 6380);
	assert_string_equal(cfg.redis_key, "school:sce.history");
	assert_string_equal(cfg.front_addresses, "10.0.0.5 ::1");
	assert_non_null(strstr(cfg.host_label, "/h2"));
}

static void expect_error(const char *text, const char *message)
{
	struct config cfg;
	char err[512], want[512];

	assert_int_equal(load(text, &cfg, err), -1);
	snprintf(want, sizeof(want), "%s:%s", path, message);
	assert_string_equal(err, want);
}

static void test_bad_lines(void **state)
{
	(void)state;
	expect_error("port = 1\nbogus = 2\n", "2: unknown key \"bogus\"");
	expect_error("\n\nport\n", "3: expected \"key = value\"");
	expect_error("port = 0\n", "1: port: out of range");
	expect_error("port = 80x\n", "1: port: not a whole number");
	expect_error("port = -1\n", "1: port: not a whole number");
	expect_error("timeout_s = \n", "1: timeout_s: empty value");
	expect_error("runtime = --privileged\n",
		     "1: runtime: may hold only letters, digits and ._:/@- and must not start with '-'");
	/* keys the table replaced name their replacement */
	expect_error("port = 1\npython_image = python:3.11-slim\n",
		     "2: python_image: no longer a key here: use \"image\" in the [python] entry of "
		     "languages.conf");
	expect_error("warm_javascript = 0\n",
		     "1: warm_javascript: no longer a key here: use \"warm\" in the [javascript] entry "
		     "of languages.conf");
	expect_error("[python]\n", "1: sce.conf has no sections (the languages are in languages.conf)");
	expect_error("max_body = 65536\n",
		     "1: max_body 65536 is less than the 457312 bytes the longest code and input may "
		     "take (leave it out to have that)");
	expect_error("state_dir = /var/a,b\n",
		     "1: state_dir: must not hold ',' or '\"' (it is mounted into the containers)");
	expect_error("instance = a;b\n",
		     "1: instance: may hold only letters, digits and _.- and must start with a letter or digit");
	expect_error("instance = a:b\n",
		     "1: instance: may hold only letters, digits and _.- and must start with a letter or digit");
	expect_error("cpus = lots\n", "1: cpus: not a number of CPUs between 0.01 and 1024");
	{
		char want[300];
		snprintf(want, sizeof(want), "2: seccomp_profile: cannot read %s/missing.json", dir);
		expect_error("port = 1\nseccomp_profile = missing.json\n", want);
	}
	expect_error("api_token = short\n", "1: api_token: must be 16 to 128 letters, digits or -._~+/=");
	expect_error("memory_mb = 99999999999999999999\n", "1: memory_mb: not a whole number");
	expect_error("bind = 127.0.0.1; include \"/etc/passwd\"\n",
		     "1: bind: not an IP address or a host name");
	expect_error("bind = -x\n", "1: bind: not an IP address or a host name");
	expect_error("history_backend = sqlite\n", "1: history_backend: must be file or redis");
	expect_error("redis_key = a b\n", "1: redis_key: may hold only letters, digits and _.:-");
	expect_error("redis_timeout_ms = 5\n", "1: redis_timeout_ms: out of range");
	expect_error("front_addresses = front.example\n",
		     "1: front_addresses: not a list of IP addresses separated by spaces");
	expect_error("front_addresses = 10.0.0.0/8\n",
		     "1: front_addresses: not a list of IP addresses separated by spaces");
	{
		char want[300];
		snprintf(want, sizeof(want), "1: redis_password_file: cannot read %s/nope", dir);
		expect_error("redis_password_file = nope\n", want);
	}
	expect_error("allowed_hosts = a.example:80\n",
		     "1: allowed_hosts: not a list of host names (no ports; IPv6 addresses in brackets) or *");
	expect_error("allowed_origins = https://a.example/x\n",
		     "1: allowed_origins: not a list of origins such as https://course.example.org or "
		     "http://127.0.0.1:8080 (scheme, host, optional port; no path)");
}

/* Values each in range that contradict each other are refused, naming the later line. */
static void test_contradictions(void **state)
{
	struct config cfg;
	char err[512];

	(void)state;
	expect_error("# x\ntimeout_s = 241\n",
		     "2: [python]: timeout_s 241 with compile_timeout_s 0 and start_timeout_s 30: more "
		     "than 270 s in all (a warm container is handed out until 3300 s old and ends at "
		     "3600 s)");
	/* the C entry has its own timeout_s (5), and a compile */
	expect_error("start_timeout_s = 100\ncompile_timeout_s = 166\n",
		     "2: [c]: timeout_s 5 with compile_timeout_s 166 and start_timeout_s 100: more "
		     "than 270 s in all (a warm container is handed out until 3300 s old and ends at "
		     "3600 s)");
	expect_error("per_client_waiting = 30\n",
		     "1: per_client_runs 2 + per_client_waiting 30 must stay below workers 32, or one "
		     "address could hold every worker");
	expect_error("output_limit = 4194304\n\nhistory_size = 2\n",
		     "3: history_size 2 with output_limit 4194304, max_code_chars 5000 and "
		     "history_stdin_bytes 4096: entries could add up to more than the 64 MiB a history "
		     "file may hold; lower one of them");
	assert_int_equal(load("timeout_s = 240\nhistory_size = 50\nbind = ::1\n"
			      "allowed_hosts = [::1] sce.example.org\n"
			      "allowed_origins = https://a.example http://b.example:8080\n", &cfg, err),
			 0);
	assert_string_equal(cfg.allowed_hosts, "[::1] sce.example.org");
}

/* A relative config path: relative values are taken from the file's directory, made absolute. */
static void test_relative_config_path(void **state)
{
	struct config cfg;
	char err[512], cwd[256], expect[300];

	(void)state;
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(dir), 0);
	load("history_path = ../x/h.json\n", &cfg, err);
	assert_int_equal(config_load(&cfg, "sce.conf", err, sizeof(err)), 0);
	assert_string_equal(cfg.history_path, "/tmp/x/h.json");
	assert_int_equal(chdir("/tmp"), 0);
	snprintf(expect, sizeof(expect), "%s/sce.conf", dir + 5);
	assert_int_equal(config_load(&cfg, expect, err, sizeof(err)), 0);
	assert_string_equal(cfg.history_path, "/tmp/x/h.json");
	assert_int_equal(chdir(cwd), 0);
}

static void test_missing_file(void **state)
{
	struct config cfg;
	char err[512];

	(void)state;
	assert_int_equal(config_load(&cfg, "/nonexistent/sce.conf", err, sizeof(err)), -1);
	assert_string_equal(err, "/nonexistent/sce.conf: No such file or directory");
}

/* The table: a bad entry stops the program with the table's line. */
static void expect_table_error(const char *text, const char *message)
{
	struct config cfg;
	char err[512], want[512];

	write_file(table, text);
	assert_int_equal(load("port = 1\n", &cfg, err), -1);
	snprintf(want, sizeof(want), "%s:%s", table, message);
	assert_string_equal(err, want);
	write_file(table, TABLE);
}

static void test_table(void **state)
{
	struct config cfg;
	char err[512];

	(void)state;
	expect_table_error("label = x\n", "1: expected \"[name]\" before the first key");
	expect_table_error("[Python]\n", "1: a language's name may hold only a-z, 0-9 and _+.- "
					   "(starting with a letter or digit), at most 31 of them");
	expect_table_error("[c.lock]\n", "1: a language's name may hold only a-z, 0-9 and _+.- "
					   "(starting with a letter or digit), at most 31 of them");
	expect_table_error("[py thon]\n", "1: a language's name may hold only a-z, 0-9 and _+.- "
					    "(starting with a letter or digit), at most 31 of them");
	expect_table_error("[a]\nlabel = A\nimage = a\nfile = a\nrun = a\n[a]\n",
			   "6: language \"a\" is already defined");
	expect_table_error("[a]\nlabel = A\nimage = a\nrun = a\n", "1: [a] has no \"file\"");
	expect_table_error("[a]\nlabel = A\n\nimage = --privileged\n",
			   "4: image: may hold only letters, digits and ._:/@- and must not start with '-'");
	expect_table_error("[a]\nfile = ../etc/passwd\n",
			   "2: file: must be a file name: letters, digits and _.-, not starting with . or -");
	expect_table_error("[a]\nfile = .bashrc\n",
			   "2: file: must be a file name: letters, digits and _.-, not starting with . or -");
	expect_table_error("[a]\nwarm = 65\n", "2: warm: out of range (0 to 64)");
	expect_table_error("[a]\nmemory_mb = lots\n", "2: memory_mb: not a whole number");
	expect_table_error("[a]\npackages = python3; rm -rf /\n", "2: packages: not a list of Debian package names");
	expect_table_error("[a]\nrun = python3 \x01\n", "2: run: may hold only printable ASCII characters");
	expect_table_error("[a]\nbogus = 1\n", "2: unknown key \"bogus\"");
	expect_table_error("[a]\nprestart = 1\n", "2: prestart: yes or no");
	expect_table_error("[a]\nlabel = A\nimage = a\nfile = a.c\ncompile = cc a.c\nrun = ./a\n"
			   "prestart = yes\n",
			   "1: [a]: prestart is for interpreters: a compiled language's program is "
			   "built before it runs");
	write_file(table, "# nothing\n");
	assert_int_equal(load("port = 1\n", &cfg, err), -1);
	assert_non_null(strstr(err, "languages.conf: no languages: add an entry such as [python]"));
	write_file(table, TABLE);
	/* one entry more is one language more, nothing else */
	write_file(table, TABLE "[python-fast]\nlabel = Python (2 s)\nimage = sce-python:3.11\n"
			  "file = main.py\nrun = python3 -I -u main.py\ntimeout_s = 2\n");
	assert_int_equal(load("port = 1\n", &cfg, err), 0);
	assert_int_equal(cfg.langs.n, 3);
	assert_ptr_equal(languages_find(&cfg.langs, "python-fast", 11), &cfg.langs.list[2]);
	assert_null(languages_find(&cfg.langs, "python-fas", 10));
	assert_int_equal(cfg.langs.list[2].timeout_s, 2);
	assert_int_equal(cfg.langs.list[2].prestart, 0);
	write_file(table, TABLE "[node]\nlabel = Node.js\nimage = sce-node:18\nfile = main.js\n"
			  "run = node main.js\nprestart = yes\n");
	assert_int_equal(load("port = 1\n", &cfg, err), 0);
	assert_int_equal(cfg.langs.list[2].prestart, 1);
	write_file(table, TABLE);
}

static void test_relative_docker_refused(void **state)
{
	struct config cfg;
	char err[512];

	(void)state;
	assert_int_equal(load("docker = /usr/local/bin/docker\n", &cfg, err), 0);
	assert_string_equal(cfg.docker, "/usr/local/bin/docker");
	expect_error("docker = docker\n", "1: docker: must be an absolute path");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_bad_lines),
		cmocka_unit_test(test_contradictions),
		cmocka_unit_test(test_relative_config_path),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_relative_docker_refused),
		cmocka_unit_test(test_table),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
