/* test_sandbox.c - the docker command lines, and the sandbox's and the pool's paths driven by a
 * fake docker CLI. (That the sandbox isolates anything is shown by the HTTP suites, with the
 * real engine and images.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "container.h"
#include "pool.h"
#include "records.h"
#include "sandbox.h"
#include "spawn.h"
#include "sweep.h"
#include "tmpdir.h"

#define ID "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static char dir[64];
static struct config cfg;

/* Python and JavaScript as the table has them, and a compiled language. */
static void add_languages(struct config *c)
{
	static const struct language langs[] = {
		{ .name = "python", .label = "Python", .image = "sce-python:3.11", .file = "main.py",
		  .run = "python3 -I -u main.py" },
		{ .name = "javascript", .label = "JavaScript", .image = "sce-node:18", .file = "main.js",
		  .run = "node --snapshot-blob /usr/lib/sce/node-main.blob main.js", .prestart = 1 },
		{ .name = "c", .label = "C", .image = "sce-gcc:12", .file = "main.c",
		  .compile = "gcc -O2 -o /build/main main.c", .run = "/build/main", .build_mb = 64,
		  .timeout_s = 3, .memory_mb = 256 },
	};
	int i;

	c->langs.n = 3;
	for (i = 0; i < 3; i++) {
		c->langs.list[i] = langs[i];
		if (!c->langs.list[i].timeout_s)
			c->langs.list[i].timeout_s = c->timeout_s;
		if (!c->langs.list[i].memory_mb)
			c->langs.list[i].memory_mb = c->memory_mb;
		c->langs.list[i].pids_limit = c->pids_limit;
		c->langs.list[i].compile_timeout_s = c->compile_timeout_s;
	}
}

#define PY (&cfg.langs.list[0])
#define JS (&cfg.langs.list[1])
#define C (&cfg.langs.list[2])

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

static int argc_of(char **argv)
{
	int n = 0;

	while (argv[n])
		n++;
	return n;
}

static void test_create_argv(void **state)
{
	struct docker_argv a;
	struct config defaults;
	struct container ct;
	int n;

	(void)state;
	char mount[512];

	config_defaults(&defaults);
	add_languages(&defaults);
	container_init(&ct, &defaults, &defaults.langs.list[0]);
	assert_int_equal(strncmp(ct.name, "sce-default-", 12), 0);
	container_create_argv(&a, &defaults, &ct);
	assert_string_equal(a.argv[0], "/usr/bin/docker");
	assert_string_equal(a.argv[1], "run");
	assert_true(has(a.argv, "--detach"));
	assert_true(has_pair(a.argv, "--name", ct.name));
	assert_true(has_pair(a.argv, "--label", "org.safe-code-executor.instance=default"));
	assert_true(has_pair(a.argv, "--runtime", "runc"));
	assert_true(has_pair(a.argv, "--network", "none"));
	assert_true(has(a.argv, "--read-only"));
	assert_true(has_pair(a.argv, "--memory", "128m"));
	assert_true(has_pair(a.argv, "--memory-swap", "128m"));
	assert_true(has_pair(a.argv, "--pids-limit", "64"));
	assert_true(has_pair(a.argv, "--cpus", "1.0"));
	assert_true(has_pair(a.argv, "--cap-drop", "ALL"));
	assert_true(has_pair(a.argv, "--security-opt", "no-new-privileges"));
	assert_true(has_pair(a.argv, "--security-opt", "seccomp=/etc/safe-code-executor/seccomp.json"));
	assert_true(has_pair(a.argv, "--user", "65534:65534"));
	assert_true(has(a.argv, "--init"));
	assert_true(has_pair(a.argv, "--ipc", "none"));
	assert_true(has_pair(a.argv, "--log-driver", "none"));
	assert_true(has_pair(a.argv, "--pull", "never"));
	assert_true(has_pair(a.argv, "--ulimit", "nofile=256:256"));
	assert_true(has_pair(a.argv, "--ulimit", "fsize=1048576:1048576"));
	assert_true(has_pair(a.argv, "--ulimit", "core=0"));
	assert_false(has(a.argv, "--privileged"));
	assert_false(has(a.argv, "--volume") || has(a.argv, "-v") || has(a.argv, "--tmpfs"));
	/* the two mounts: an empty read-only tmpfs, the container's directory read-only */
	snprintf(mount, sizeof(mount), "type=bind,source=/var/lib/safe-code-executor/code/%s,"
				       "target=/code,readonly", ct.name);
	for (n = 0; a.argv[n]; n++)
		if (!strcmp(a.argv[n], "--mount") && strcmp(a.argv[n + 1], mount))
			assert_string_equal(a.argv[n + 1],
					    "type=tmpfs,destination=/dev/mqueue,readonly,tmpfs-size=4096");
	assert_true(has_pair(a.argv, "--mount", mount));
	assert_true(has_pair(a.argv, "--workdir", "/code"));
	assert_true(has_pair(a.argv, "--label", "org.safe-code-executor.language=python"));
	assert_false(has(a.argv, "--env") || has(a.argv, "-e"));
	assert_true(has(a.argv, "sce-python:3.11"));
	assert_false(has(a.argv, "sce-node:18"));
	n = argc_of(a.argv);
	assert_string_equal(a.argv[n - 1], "exec sleep 3600");
	ct.lang = &defaults.langs.list[1];
	container_create_argv(&a, &defaults, &ct);
	assert_true(has(a.argv, "sce-node:18"));
	assert_false(has(a.argv, "sce-python:3.11"));
	/* pre-started: the run command is the container's, under attach, waiting */
	assert_true(has_pair(a.argv, "--entrypoint", "/usr/lib/sce/attach"));
	assert_true(has_pair(a.argv, "sce-node:18", "--wait"));
	n = argc_of(a.argv);
	assert_string_equal(a.argv[n - 6], "3600");
	assert_string_equal(a.argv[n - 5], "40"); /* the backstop: timeout + 30 s */
	assert_string_equal(a.argv[n - 4], "node");
	assert_string_equal(a.argv[n - 1], "main.js");
	assert_true(has(a.argv, "--init")); /* so it is not PID 1 */
	/* a compiled language: its own limits, and a writable /build for the compiler only there */
	ct.lang = &defaults.langs.list[2];
	container_create_argv(&a, &defaults, &ct);
	assert_true(has(a.argv, "sce-gcc:12"));
	assert_true(has_pair(a.argv, "--memory", "256m"));
	assert_true(has_pair(a.argv, "--memory-swap", "256m"));
	assert_true(has_pair(a.argv, "--tmpfs",
			     "/build:rw,exec,nosuid,nodev,size=64m,uid=65534,gid=65534,mode=0700"));
}

static void test_exec_argv(void **state)
{
	struct docker_argv a;
	struct config defaults;
	struct container ct;
	int n;

	(void)state;
	config_defaults(&defaults);
	add_languages(&defaults);
	container_init(&ct, &defaults, &defaults.langs.list[0]);
	container_exec_argv(&a, &defaults, &ct);
	n = argc_of(a.argv);
	assert_string_equal(a.argv[1], "exec");
	assert_string_equal(a.argv[2], "--interactive");
	assert_string_equal(a.argv[3], ct.name);
	assert_string_equal(a.argv[n - 5], "40"); /* the backstop: timeout + 30 s */
	assert_string_equal(a.argv[n - 4], "python3"); /* the table's command, word by word */
	assert_string_equal(a.argv[n - 3], "-I");
	assert_string_equal(a.argv[n - 1], "main.py");
	/* pre-started: only attach, which brings the run's streams to the waiting command */
	ct.lang = &defaults.langs.list[1];
	container_exec_argv(&a, &defaults, &ct);
	n = argc_of(a.argv);
	assert_int_equal(n, 5);
	assert_string_equal(a.argv[3], ct.name);
	assert_string_equal(a.argv[4], "/usr/lib/sce/attach");
	/* compiled: the compile command and its seconds before the backstop (the language's 3 s + 30) */
	ct.lang = &defaults.langs.list[2];
	container_exec_argv(&a, &defaults, &ct);
	n = argc_of(a.argv);
	assert_string_equal(a.argv[n - 4], "gcc -O2 -o /build/main main.c");
	assert_string_equal(a.argv[n - 3], "10");
	assert_string_equal(a.argv[n - 2], "33");
	assert_string_equal(a.argv[n - 1], "/build/main");
	assert_non_null(strstr(a.argv[n - 6], "timeout -s KILL $t $c </dev/null"));
}

/* The fake docker: "run" prints an id (or fails as $dir/create says), "exec" behaves as
 * $dir/mode says, "rm" and "ps" are logged / answered from $dir/ps. */
static const char fake[] =
	"#!/bin/sh\n"
	"d=$(dirname \"$0\")\n"
	"case \"$1\" in\n"
	"rm) echo \"$*\" >>\"$d/rm.log\"; touch \"$d/removed\"; exit 0 ;;\n"
	"ps) cat \"$d/ps\" 2>/dev/null; exit 0 ;;\n"
	"inspect) cat \"$d/running\" 2>/dev/null || echo true; exit 0 ;;\n"
	"run) case $(cat \"$d/create\" 2>/dev/null) in\n"
	"     noimage) echo 'docker: Error response from daemon: No such image: sce-python:3.11.' >&2; exit 125 ;;\n"
	"     nodaemon) echo 'docker: Cannot connect to the Docker daemon at unix:///var/run/docker.sock.' >&2; exit 125 ;;\n"
	"     esac\n"
	"     echo run >>\"$d/run.log\"; echo " ID "; exit 0 ;;\n"
	"esac\n"
	"case $(cat \"$d/mode\") in\n"
	"hang) exec sleep 60 ;;\n"
	"ok) cat >\"$d/stdin\"; cat \"$d/state/code/$3/main.py\" >\"$d/program\"; "
	"ls -ld \"$d/state/code/$3\" \"$d/state/code/$3/main.py\" >\"$d/modes\"; "
	"printf '\\036' >&2; printf '\\036hello\\n'; exit 0 ;;\n"
	/* a compiled language: the compiler's messages and time, then the run */
	"compiled) cat >\"$d/stdin\"; printf '\\035warning: x\\n\\03442\\034' >&2; printf '\\036' >&2; "
	"printf '\\036ran\\n'; echo err >&2; exit 0 ;;\n"
	"compilefail) cat >/dev/null; printf '\\035main.c:1: error: y\\n\\0347\\034' >&2; exit 1 ;;\n"
	"compilekill) cat >/dev/null; printf '\\035\\0349999\\034' >&2; exit 137 ;;\n"
	/* a program printing the compiler's marks itself */
	"fakemarks) cat >/dev/null; printf '\\036' >&2; printf '\\036'; "
	"printf '\\035mine\\03412\\034' >&2; exit 0 ;;\n"
	"noise) cat >/dev/null; echo 'WARNING: something. Really.' >&2; sleep 0.2; printf '\\036'; printf '\\036' >&2; sleep 0.2; echo out; echo err >&2; exit 3 ;;\n"
	/* the program's stderr read before the start mark on stdout (a late poll) */
	"early) cat >/dev/null; printf '\\036early\\n' >&2; sleep 0.3; printf '\\036out\\n'; exit 1 ;;\n"
	/* docker's words once the container was removed under a running exec */
	"daemon) cat >/dev/null; rm -f \"$d/removed\"; printf '\\036' >&2; printf '\\036'; echo prog >&2; "
	"while [ ! -e \"$d/removed\" ]; do sleep 0.05; done; "
	"echo 'Error response from daemon: No such exec instance: 0123abcd' >&2; exit 137 ;;\n"
	/* docker exec's own failure, on stdout (docker/cli#2025) */
	"ociexec) cat >/dev/null; echo 'OCI runtime exec failed: exec failed: cannot exec in a stopped container: unknown'; exit 126 ;;\n"
	"exit137) cat >/dev/null; printf '\\036' >&2; printf '\\036'; exit 137 ;;\n"
	"loop) cat >/dev/null; printf '\\036' >&2; printf '\\036started\\n'; exec sleep 60 ;;\n"
	"gone) echo \"Error response from daemon: Container $3 is not running\" >&2; exit 1 ;;\n"
	"esac\n";

static void put(const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
}

static char *slurp(const char *name)
{
	static char buf[4096];
	char path[256];
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

static void drop(const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	unlink(path);
}

/* Entries of <state>/<sub>: records of containers being made or used ("owned"; the pool's are
 * counted by pool_size), or the containers' directories ("code"). */
static int entries(const char *sub)
{
	char path[256];
	struct dirent *e;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "%s/state/%s", dir, sub);
	d = opendir(path);
	if (!d)
		return 0;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static int setup(void **state)
{
	(void)state;
	if (tmpdir_make(dir, sizeof(dir), "sandbox"))
		return -1;
	put("docker", fake);
	config_defaults(&cfg);
	snprintf(cfg.docker, sizeof(cfg.docker), "%s/docker", dir);
	chmod(cfg.docker, 0755);
	snprintf(cfg.state_dir, sizeof(cfg.state_dir), "%s/state", dir);
	snprintf(cfg.cgroup_root, sizeof(cfg.cgroup_root), "%s/cgroup", dir);
	cfg.timeout_s = 1;
	cfg.start_timeout_s = 1;
	add_languages(&cfg);
	C->timeout_s = 1;
	return records_check_state(&cfg, dir, sizeof(dir)) ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	return tmpdir_remove(dir);
}

/* Runs a program of lang in mode, with "in\0put" as its input; afterwards the container is
 * handed back as the handler does. */
static int run_in(const struct language *lang, const char *mode, struct run_result *res, char *err)
{
	struct run_spec spec = { .lang = lang, .code = "print(1)", .code_len = 8, .input = "in\0put",
				 .input_len = 6 };
	int r;

	put("mode", mode);
	r = sandbox_run(&cfg, &spec, res, err, 256);
	if (res->has_container)
		pool_done(&cfg, &res->ct);
	return r;
}

static int run(const char *mode, struct run_result *res, char *err)
{
	return run_in(PY, mode, res, err);
}

/* The program is a file in the container's directory, its input on stdin; both gone after. */
static void test_ok_program_file_input_and_cleanup(void **state)
{
	struct run_result res = RUN_RESULT_INIT;
	char err[256], path[256];
	FILE *f;
	char in[16];

	(void)state;
	drop("rm.log");
	assert_int_equal(run("ok", &res, err), 0);
	assert_string_equal(res.output, "hello\n");
	assert_string_equal(res.error, "");
	assert_int_equal(res.exit_code, 0);
	assert_int_equal(res.status, RUN_OK);
	assert_string_equal(res.compile_output, "");
	assert_int_equal(res.compile_ms, -1);
	assert_false(res.warm);
	assert_int_equal(res.used.memory_peak, -1); /* no cgroup files: unknown */
	snprintf(path, sizeof(path), "%s/stdin", dir);
	f = fopen(path, "r");
	assert_int_equal(fread(in, 1, sizeof(in), f), 6);
	fclose(f);
	assert_memory_equal(in, "in\0put", 6);
	assert_string_equal(slurp("program"), "print(1)");
	/* readable by the sandbox's user, writable by nobody else */
	assert_non_null(strstr(slurp("modes"), "drwxr-xr-x"));
	assert_non_null(strstr(slurp("modes"), "-rw-r--r--"));
	assert_non_null(strstr(slurp("rm.log"), "rm --force --volumes sce-default-"));
	assert_int_equal(entries("owned"), 0);
	assert_int_equal(entries("code"), 0);
	run_result_release(&res);
}

/* A compiled language: the compiler's messages and time apart from the program's output; a
 * failed compile answers with the compiler's exit code, nothing run. */
static void test_compile(void **state)
{
	struct run_result res = RUN_RESULT_INIT;
	char err[256], path[512];

	(void)state;
	assert_int_equal(run_in(C, "compiled", &res, err), 0);
	assert_int_equal(res.status, RUN_OK);
	assert_string_equal(res.compile_output, "warning: x\n");
	assert_int_equal(res.compile_ms, 42);
	assert_string_equal(res.output, "ran\n");
	assert_string_equal(res.error, "err\n");
	run_result_release(&res);
	assert_int_equal(run_in(C, "compilefail", &res, err), 0);
	assert_int_equal(res.status, RUN_COMPILE_ERROR);
	assert_int_equal(res.exit_code, 1);
	assert_int_equal(res.compile_ms, 7);
	assert_string_equal(res.compile_output, "main.c:1: error: y\n");
	assert_string_equal(res.output, "");
	assert_string_equal(res.error, "");
	assert_int_equal(res.duration_ms, 0);
	run_result_release(&res);
	/* killed: by the compile's time limit, or the OOM killer when the cgroup counted one */
	assert_int_equal(run_in(C, "compilekill", &res, err), 0);
	assert_int_equal(res.status, RUN_COMPILE_ERROR);
	assert_int_equal(res.exit_code, 137);
	assert_string_equal(res.compile_output, "Compilation timed out after 10 seconds.");
	run_result_release(&res);
	snprintf(path, sizeof(path), "mkdir -p %s/cgroup/memory/docker/" ID, dir);
	assert_int_equal(system(path), 0);
	put("cgroup/memory/docker/" ID "/memory.oom_control", "oom_kill 1\n");
	assert_int_equal(run_in(C, "compilekill", &res, err), 0);
	assert_string_equal(res.compile_output, "Compilation ran out of memory (256 MB).");
	run_result_release(&res);
	snprintf(path, sizeof(path), "rm -r %s/cgroup", dir);
	assert_int_equal(system(path), 0);
	assert_int_equal(entries("code"), 0);
	/* the marks printed by a program, interpreted or compiled, are its own stderr */
	assert_int_equal(run_in(PY, "fakemarks", &res, err), 0);
	assert_string_equal(res.compile_output, "");
	assert_int_equal(res.compile_ms, -1);
	assert_string_equal(res.error, "\035mine\03412\034");
	run_result_release(&res);
}

static void test_docker_noise_before_the_start_is_not_the_programs(void **state)
{
	struct run_result res = RUN_RESULT_INIT;
	char err[256];

	(void)state;
	assert_int_equal(run("noise", &res, err), 0);
	assert_string_equal(res.output, "out\n");
	assert_string_equal(res.error, "err\n");
	assert_int_equal(res.exit_code, 3);
	assert_int_equal(res.status, RUN_ERROR);
	run_result_release(&res);
}

/* The start is marked on each stream: stderr the program wrote before its stdout mark was read
 * is still the program's. */
static void test_early_stderr_is_the_programs(void **state)
{
	struct run_result res = RUN_RESULT_INIT;
	char err[256];

	(void)state;
	assert_int_equal(run("early", &res, err), 0);
	assert_string_equal(res.output, "out\n");
	assert_string_equal(res.error, "early\n");
	assert_int_equal(res.exit_code, 1);
	run_result_release(&res);
}

/* What docker says once the service has removed the container (a run cut at its deadline) is
 * logged, not answered. */
static void test_docker_words_after_the_kill_are_not_the_programs(void **state)
{
	struct run_result res = RUN_RESULT_INIT;
	char err[256];

	(void)state;
	assert_int_equal(run("daemon", &res, err), 0);
	assert_int_equal(res.status, RUN_TIMEOUT);
	assert_string_equal(res.error, "prog\nExecution timed out after 1 seconds.");
	assert_null(strstr(res.error, "daemon"));
	run_result_release(&res);
}

/* What docker exec prints on stdout when it cannot exec is not the program's output. */
static void test_docker_failure_on_stdout_is_not_a_run(void **state)
{
	struct run_result res = RUN_RESULT_INIT;
	char err[256];

	(void)state;
	assert_int_equal(run("ociexec", &res, err), -1);
	assert_null(res.output);
	assert_string_equal(err, "sandbox unavailable: the container did not start");
}

static void test_missing_image(void **state)
{
	struct run_result res = RUN_RESULT_INIT;
	char err[256];

	(void)state;
	put("create", "noimage");
	assert_int_equal(run("ok", &res, err), -1);
	assert_string_equal(err, "sandbox image sce-python:3.11 is not available: build it with make images");
	assert_null(res.output);
	assert_int_equal(entries("owned"), 0);
	put("create", "nodaemon");
	assert_int_equal(run("ok", &res, err), -1);
	assert_string_equal(err, "sandbox unavailable: the Docker engine is not running");
	drop("create");
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
	drop("rm.log");
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

/* 137 is a memory limit only when the container's cgroup counted an OOM kill. */
static void test_137_and_the_oom_counter(void **state)
{
	struct run_result res = RUN_RESULT_INIT;
	char err[256], path[512];

	(void)state;
	assert_int_equal(run("exit137", &res, err), 0);
	assert_int_equal(res.status, RUN_ERROR);
	assert_string_equal(res.error, "");
	run_result_release(&res);
	/* The same 137 while the whole container stopped (the engine restarting): not the
	 * program's; the sandbox failed. */
	put("running", "false\n");
	assert_int_equal(run("exit137", &res, err), -1);
	assert_string_equal(err, "sandbox failed while running: the container was stopped");
	assert_int_equal(res.failure, 502); /* it had started: not "nothing ran" */
	drop("running");
	snprintf(path, sizeof(path), "mkdir -p %s/cgroup/memory/docker/" ID " %s/cgroup/cpuacct/docker/" ID,
		 dir, dir);
	assert_int_equal(system(path), 0);
	put("cgroup/memory/docker/" ID "/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n");
	put("cgroup/memory/docker/" ID "/memory.max_usage_in_bytes", "134217728\n");
	put("cgroup/cpuacct/docker/" ID "/cpuacct.usage", "250000000\n");
	assert_int_equal(run("exit137", &res, err), 0);
	assert_int_equal(res.status, RUN_MEMORY);
	assert_int_equal(res.exit_code, 137);
	assert_string_equal(res.error, "Memory limit exceeded (128 MB).");
	assert_int_equal(res.used.memory_peak, 134217728);
	assert_int_equal(res.used.cpu_ns, 250000000);
	run_result_release(&res);
}

/* Warm pool: refill makes containers ahead, a run takes one (and only one), a dead warm one is
 * replaced by a new one, and the sweep removes what has no live owner. */
static void test_pool(void **state)
{
	struct run_result res = RUN_RESULT_INIT;
	char err[256], ps[512];

	(void)state;
	assert_int_equal(entries("code"), 0);
	PY->warm = 2;
	drop("run.log");
	pool_refill(&cfg, NULL, NULL);
	assert_int_equal(pool_size(&cfg, PY), 2);
	assert_int_equal(pool_size(&cfg, JS), 0);
	assert_int_equal(entries("code"), 2);
	assert_int_equal(run("ok", &res, err), 0);
	assert_true(res.warm);
	assert_int_equal(pool_size(&cfg, PY), 1);
	assert_int_equal(entries("owned"), 0);
	run_result_release(&res);
	pool_refill(&cfg, NULL, NULL);
	assert_int_equal(pool_size(&cfg, PY), 2);
	/* A warm container that is no longer running: the run gets a new one. */
	put("mode", "gone");
	drop("run.log");
	assert_int_equal(run("gone", &res, err), -1);
	/* the dead one from the pool, then a new one made for the run: the other idle one stays */
	assert_int_equal(pool_size(&cfg, PY), 1);
	assert_int_equal(entries("owned"), 0);
	/* The sweep: a container without a record goes; an idle running one stays. */
	pool_refill(&cfg, NULL, NULL);
	drop("rm.log");
	snprintf(ps, sizeof(ps), "sce-default-1-stray running\n");
	put("ps", ps);
	sweep(&cfg, SWEEP_EVERYTHING); /* also the idle ones */
	assert_non_null(strstr(slurp("rm.log"), "sce-default-1-stray"));
	assert_int_equal(pool_size(&cfg, PY), 0);
	assert_int_equal(entries("code"), 0);
	PY->warm = 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_argv),
		cmocka_unit_test(test_exec_argv),
		cmocka_unit_test(test_ok_program_file_input_and_cleanup),
		cmocka_unit_test(test_compile),
		cmocka_unit_test(test_docker_noise_before_the_start_is_not_the_programs),
		cmocka_unit_test(test_early_stderr_is_the_programs),
		cmocka_unit_test(test_docker_failure_on_stdout_is_not_a_run),
		cmocka_unit_test(test_docker_words_after_the_kill_are_not_the_programs),
		cmocka_unit_test(test_missing_image),
		cmocka_unit_test(test_no_docker_binary),
		cmocka_unit_test(test_start_timeout_removes_the_container),
		cmocka_unit_test(test_run_timeout),
		cmocka_unit_test(test_137_and_the_oom_counter),
		cmocka_unit_test(test_pool),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
