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
static char path[256];

static int setup(void **state)
{
	(void)state;
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/sce.conf", dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(path);
	return rmdir(dir);
}

static int load(const char *text, struct config *cfg, char *err)
{
	FILE *f = fopen(path, "w");

	fputs(text, f);
	fclose(f);
	return config_load(cfg, path, err, 512);
}

static void test_values(void **state)
{
	struct config cfg;
	char err[512], expect[300];

	(void)state;
	assert_int_equal(load("# comment\n\n port = 8080 # trailing\ntimeout_s=3\n"
			      "python_image = python:3.11-slim\nhistory_path = data/h.json\n"
			      "cpus = 0.5\nmax_body=1000\nport = 8081\n", &cfg, err), 0);
	assert_int_equal(cfg.port, 8081); /* the last one counts */
	assert_int_equal(cfg.timeout_s, 3);
	assert_string_equal(cfg.python_image, "python:3.11-slim");
	assert_string_equal(cfg.javascript_image, "sce-node:18");
	assert_string_equal(cfg.cpus, "0.5");
	assert_int_equal(cfg.max_body, 1000);
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
	expect_error("python_image = --privileged\n",
		     "1: python_image: may hold only letters, digits and ._:/@- and must not start with '-'");
	expect_error("javascript_image = node 18\n",
		     "1: javascript_image: may hold only letters, digits and ._:/@- and must not start with '-'");
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
		     "2: timeout_s: at most 240 with start_timeout_s 30: a warm container is handed "
		     "out until 3300 s old and ends at 3600 s");
	expect_error("timeout_s = 200\nstart_timeout_s = 100\n",
		     "2: timeout_s: at most 170 with start_timeout_s 100: a warm container is handed "
		     "out until 3300 s old and ends at 3600 s");
	expect_error("per_client_waiting = 30\n",
		     "1: per_client_runs 2 + per_client_waiting 30 must stay below workers 32, or one "
		     "address could hold every worker");
	expect_error("output_limit = 8388608\n\nhistory_size = 2\n",
		     "3: history_size 2 with output_limit 8388608 and max_code_chars 5000: entries "
		     "could add up to more than the 64 MiB a history file may hold; lower one of them");
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
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
