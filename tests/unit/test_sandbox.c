/* test_sandbox.c - the docker argv, and the sandbox's error paths driven by a fake docker CLI.
 * (That the sandbox really isolates anything is shown by the HTTP suite, with the real engine.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "sandbox.h"
#include "spawn.h"

static char dir[64];
static struct config cfg;

static int has_pair(char **argv, const char *flag, const char *value)
{
	for (; argv[0] && argv[1]; argv++)
		if (!strcmp(argv[0], flag) && !strcmp(argv[1], value))
			return 1;
	return 0;
}

static int has(char **argv, const char *arg)
{
	for (; *argv; argv++)
		if (!strcmp(*argv, arg))
			return 1;
	return 0;
}

static void test_argv(void **state)
{
	struct docker_argv a;
	struct config defaults;
	int n;

	(void)state;
	config_defaults(&defaults);
	sandbox_argv(&a, &defaults, LANG_PYTHON, "sce-default-1-ab");
	assert_string_equal(a.argv[0], "/usr/bin/docker");
	assert_string_equal(a.argv[1], "run");
	assert_true(has_pair(a.argv, "--name", "sce-default-1-ab"));
	assert_true(has_pair(a.argv, "--label", "org.safe-code-executor.instance=default"));
	assert_true(has_pair(a.argv, "--network", "none"));
	assert_true(has(a.argv, "--read-only"));
	assert_true(has_pair(a.argv, "--memory", "128m"));
	assert_true(has_pair(a.argv, "--memory-swap", "128m"));
	assert_true(has_pair(a.argv, "--pids-limit", "64"));
	assert_true(has_pair(a.argv, "--cpus", "1.0"));
	assert_true(has_pair(a.argv, "--cap-drop", "ALL"));
	assert_true(has_pair(a.argv, "--security-opt", "no-new-privileges"));
	assert_true(has_pair(a.argv, "--security-opt", "seccomp=/etc/safe-code-executor/seccomp.json"));
	assert_true(has_pair(a.argv, "--mount", "type=tmpfs,destination=/dev/mqueue,readonly,tmpfs-size=4096"));
	assert_true(has_pair(a.argv, "--user", "65534:65534"));
	assert_true(has(a.argv, "--init"));
	assert_true(has_pair(a.argv, "--ipc", "none"));
	assert_true(has_pair(a.argv, "--log-driver", "none"));
	assert_true(has_pair(a.argv, "--pull", "never"));
	assert_true(has_pair(a.argv, "--ulimit", "nofile=256:256"));
	assert_true(has_pair(a.argv, "--ulimit", "fsize=1048576:1048576"));
	assert_true(has_pair(a.argv, "--ulimit", "core=0"));
	assert_true(has(a.argv, "--interactive"));
	assert_true(has_pair(a.argv, "--runtime", "runc"));
	assert_false(has(a.argv, "--privileged"));
	assert_false(has(a.argv, "--volume") || has(a.argv, "-v") || has(a.argv, "--tmpfs"));
	for (n = 0; a.argv[n]; n++) /* the one mount: an empty read-only tmpfs */
		if (!strcmp(a.argv[n], "--mount"))
			assert_string_equal(a.argv[n + 1],
					    "type=tmpfs,destination=/dev/mqueue,readonly,tmpfs-size=4096");
	assert_false(has(a.argv, "--env") || has(a.argv, "-e"));
	assert_true(has(a.argv, "sce-python:3.11"));
	assert_false(has(a.argv, "sce-node:18"));
	for (n = 0; a.argv[n]; n++)
		;
	assert_string_equal(a.argv[n - 4], "python3");
	assert_string_equal(a.argv[n - 1], "-");
	sandbox_argv(&a, &defaults, LANG_JAVASCRIPT, "x");
	assert_true(has(a.argv, "sce-node:18"));
	assert_false(has(a.argv, "sce-python:3.11"));
	for (n = 0; a.argv[n]; n++)
		;
	assert_string_equal(a.argv[n - 2], "node");
	assert_string_equal(a.argv[n - 1], "-");
}

/* A fake docker: behaviour from $dir/mode, "docker inspect" answers $dir/inspect, and every
 * "docker rm" is logged to $dir/rm.log. */
static const char fake[] =
	"#!/bin/sh\n"
	"d=$(dirname \"$0\")\n"
	"case \"$1\" in\n"
	"rm) echo \"$*\" >>\"$d/rm.log\"; exit 0 ;;\n"
	"inspect) cat \"$d/inspect\" 2>/dev/null || { echo 'Error: No such object' >&2; exit 1; }; exit 0 ;;\n"
	"esac\n"
	"case $(cat \"$d/mode\") in\n"
	"noimage) echo 'docker: Error response from daemon: No such image: sce-python:3.11.' >&2; exit 125 ;;\n"
	"nodaemon) echo 'docker: Cannot connect to the Docker daemon at unix:///var/run/docker.sock.' >&2; exit 125 ;;\n"
	"hang) exec sleep 60 ;;\n"
	"ok) cat >\"$d/stdin\"; printf '.hello\\n'; exit 0 ;;\n"
	"exit137) cat >/dev/null; printf '.'; exit 137 ;;\n"
	"exit125) cat >/dev/null; printf '.'; exit 125 ;;\n"
	"loop) cat >/dev/null; printf '.started\\n'; exec sleep 60 ;;\n"
	"esac\n";

static void put(const char *name, const char *text)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
}

static char *slurp(const char *name)
{
	static char buf[4096];
	char path[128];
	FILE *f;
	size_t n = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	buf[0] = '\0';
	f = fopen(path, "r");
	if (f) {
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
	return buf;
}

static int setup(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/sce-test-sandbox.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	put("docker", fake);
	config_defaults(&cfg);
	snprintf(cfg.docker, sizeof(cfg.docker), "%s/docker", dir);
	chmod(cfg.docker, 0755);
	cfg.timeout_s = 1;
	cfg.start_timeout_s = 1;
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd);
}

static int run(const char *mode, struct run_result *res, char *err)
{
	put("mode", mode);
	return sandbox_run(&cfg, LANG_PYTHON, "print(1)", 8, NULL, res, err, 256);
}

static void test_ok_and_code_on_stdin(void **state)
{
	struct run_result res = RUN_RESULT_INIT;
	char err[256];

	(void)state;
	assert_int_equal(run("ok", &res, err), 0);
	assert_string_equal(res.output, "hello\n");
	assert_string_equal(res.error, "");
	assert_int_equal(res.exit_code, 0);
	assert_int_equal(res.status, RUN_OK);
	assert_string_equal(slurp("stdin"), "print(1)");
	assert_non_null(strstr(slurp("rm.log"), "rm --force --volumes sce-default-"));
	run_result_release(&res);
}

static void test_missing_image(void **state)
{
	struct run_result res = RUN_RESULT_INIT;
	char err[256];

	(void)state;
	assert_int_equal(run("noimage", &res, err), -1);
	assert_string_equal(err, "sandbox image sce-python:3.11 is not available: build it with make images");
	assert_null(res.output);
}

static void test_no_daemon(void **state)
{
	struct run_result res = RUN_RESULT_INIT;
	char err[256];

	(void)state;
	assert_int_equal(run("nodaemon", &res, err), -1);
	assert_string_equal(err, "sandbox unavailable: the Docker engine is not running");
}

static void test_no_docker_binary(void **state)
{
	struct run_result res = RUN_RESULT_INIT;
	char err[256], saved[sizeof(cfg.docker)];

	(void)state;
	strcpy(saved, cfg.docker);
	strcpy(cfg.docker, "/nonexistent/docker");
	assert_int_equal(run("ok", &res, err), -1);
	assert_string_equal(err, "sandbox unavailable: cannot run docker");
	strcpy(cfg.docker, saved);
}

static void test_start_timeout_removes_the_container(void **state)
{
	struct run_result res = RUN_RESULT_INIT;
	char err[256];
	int64_t start = mono_ms();

	(void)state;
	snprintf(err, sizeof(err), "%s/rm.log", dir);
	unlink(err);
	assert_int_equal(run("hang", &res, err), -1);
	assert_string_equal(err, "sandbox unavailable: the container did not start in time");
	assert_true(mono_ms() - start < 6000);
	assert_non_null(strstr(slurp("rm.log"), "rm --force"));
}

static void test_run_timeout(void **state)
{
	struct run_result res = RUN_RESULT_INIT;
	char err[256];
	int64_t start = mono_ms();

	(void)state;
	assert_int_equal(run("loop", &res, err), 0);
	assert_int_equal(res.status, RUN_TIMEOUT);
	assert_int_equal(res.exit_code, -2);
	assert_string_equal(res.output, "started\n");
	assert_string_equal(res.error, "Execution timed out after 1 seconds.");
	assert_true(mono_ms() - start < 6000);
	run_result_release(&res);
}

static void test_137_asks_the_engine(void **state)
{
	struct run_result res = RUN_RESULT_INIT;
	char err[256];

	(void)state;
	put("inspect", "exited 137 true\n");
	assert_int_equal(run("exit137", &res, err), 0);
	assert_int_equal(res.status, RUN_MEMORY);
	assert_int_equal(res.exit_code, 137);
	assert_string_equal(res.error, "Memory limit exceeded (128 MB).");
	run_result_release(&res);
	put("inspect", "exited 137 false\n");
	assert_int_equal(run("exit137", &res, err), 0);
	assert_int_equal(res.status, RUN_ERROR);
	assert_string_equal(res.error, "");
	run_result_release(&res);
}

static void test_125_of_a_vanished_container_is_a_failure(void **state)
{
	struct run_result res = RUN_RESULT_INIT;
	char err[256], path[128];

	(void)state;
	snprintf(path, sizeof(path), "%s/inspect", dir);
	unlink(path);
	assert_int_equal(run("exit125", &res, err), -1);
	assert_string_equal(err, "sandbox failed while running");
	put("inspect", "running 0 false\n");
	assert_int_equal(run("exit125", &res, err), -1); /* the CLI failed, the container runs on */
	assert_string_equal(err, "sandbox failed while running");
	put("inspect", "exited 125 false\n");
	assert_int_equal(run("exit125", &res, err), 0);
	assert_int_equal(res.exit_code, 125);
	assert_int_equal(res.status, RUN_ERROR);
	run_result_release(&res);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_argv),
		cmocka_unit_test(test_ok_and_code_on_stdin),
		cmocka_unit_test(test_missing_image),
		cmocka_unit_test(test_no_daemon),
		cmocka_unit_test(test_no_docker_binary),
		cmocka_unit_test(test_start_timeout_removes_the_container),
		cmocka_unit_test(test_run_timeout),
		cmocka_unit_test(test_137_asks_the_engine),
		cmocka_unit_test(test_125_of_a_vanished_container_is_a_failure),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
