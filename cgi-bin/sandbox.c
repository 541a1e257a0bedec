/* sandbox.c - spawns `docker run` with a deadline, collects the outcome, removes the container. */
#include "sandbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "spawn.h"
#include "utf8.h"

/*
 * The container's command: print one byte to say the program is starting, then run it with no
 * environment but PATH, under a KILL backstop so that a container whose supervisor died still
 * ends by itself.
 */
#define LAUNCHER "printf . && exec env -i PATH=/usr/bin:/bin timeout -s KILL \"$@\""
#define DOCKER_TIMEOUT_MS 15000 /* for docker rm and docker inspect */

static const char *const python_cmd[] = { "python3", "-I", "-u", "-", NULL };
static const char *const node_cmd[] = { "node", "-", NULL };

static const char *image_of(const struct config *cfg, enum language lang)
{
	return lang == LANG_JAVASCRIPT ? cfg->javascript_image : cfg->python_image;
}

const char *run_status_name(enum run_status status)
{
	static const char *const names[] = { "ok", "error", "timeout", "memory_limit" };
	return names[status];
}

void sandbox_argv(struct docker_argv *a, const struct config *cfg, enum language lang,
		  const char *name)
{
	const char *const *cmd = lang == LANG_JAVASCRIPT ? node_cmd : python_cmd;
	const char *image = image_of(cfg, lang);
	size_t n = 0;

	snprintf(a->name, sizeof(a->name), "%s", name);
	snprintf(a->label, sizeof(a->label), "org.safe-code-executor.instance=%s", cfg->instance);
	snprintf(a->memory, sizeof(a->memory), "%dm", cfg->memory_mb);
	snprintf(a->pids, sizeof(a->pids), "%d", cfg->pids_limit);
	snprintf(a->nofile, sizeof(a->nofile), "nofile=%d:%d", cfg->nofile, cfg->nofile);
	snprintf(a->fsize, sizeof(a->fsize), "fsize=%lld:%lld", (long long)cfg->fsize_kb * 1024,
		 (long long)cfg->fsize_kb * 1024);
	snprintf(a->backstop, sizeof(a->backstop), "%d", cfg->timeout_s + 30);
	snprintf(a->seccomp, sizeof(a->seccomp), "seccomp=%s", cfg->seccomp_profile);

#define ARG(s) (a->argv[n++] = (char *)(s))
	ARG(cfg->docker);
	ARG("run");
	ARG("--name"); ARG(a->name);
	ARG("--label"); ARG(a->label);
	ARG("--interactive");
	ARG("--runtime"); ARG(cfg->runtime);
	ARG("--sig-proxy=false");
	ARG("--pull"); ARG("never");
	ARG("--log-driver"); ARG("none");
	ARG("--network"); ARG("none");
	ARG("--read-only");
	ARG("--ipc"); ARG("none"); /* and so no /dev/shm */
	ARG("--mount"); ARG("type=tmpfs,destination=/dev/mqueue,readonly,tmpfs-size=4096");
	ARG("--memory"); ARG(a->memory);
	ARG("--memory-swap"); ARG(a->memory);
	ARG("--pids-limit"); ARG(a->pids);
	ARG("--cpus"); ARG(cfg->cpus);
	ARG("--cap-drop"); ARG("ALL");
	ARG("--security-opt"); ARG("no-new-privileges");
	ARG("--security-opt"); ARG(a->seccomp);
	ARG("--user"); ARG("65534:65534");
	ARG("--init");
	ARG("--ulimit"); ARG(a->nofile);
	ARG("--ulimit"); ARG(a->fsize);
	ARG("--ulimit"); ARG("core=0");
	ARG("--workdir"); ARG("/tmp");
	ARG("--hostname"); ARG("sandbox");
	ARG("--entrypoint"); ARG("/bin/sh");
	ARG(image);
	ARG("-c"); ARG(LAUNCHER); ARG("sh");
	ARG(a->backstop);
	for (; *cmd; cmd++)
		ARG(*cmd);
	a->argv[n] = NULL;
#undef ARG
}

static void new_name(char *buf, size_t len, const char *instance)
{
	unsigned char r[8];
	size_t i;
	int o;

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		memset(r, 0, sizeof(r)); /* the pid below still tells runs apart */
	o = snprintf(buf, len, "sce-%s-%ld-", instance, (long)getpid());
	for (i = 0; i < sizeof(r) && o > 0 && (size_t)o + 2 < len; i++)
		o += snprintf(buf + o, len - (size_t)o, "%02x", r[i]);
}

/* Returns 0 when docker removed it (or it was not there). */
static int container_remove(const struct config *cfg, const char *name)
{
	char *argv[] = { (char *)cfg->docker, "rm", "--force", "--volumes", (char *)name, NULL };
	char out[256];

	if (spawn_capture(cfg->docker, argv, DOCKER_TIMEOUT_MS, out, sizeof(out)) == 0)
		return 0;
	log_msg("docker rm %s failed; the start-up sweep will remove it", name);
	return -1;
}

/* State of a container that has exited: 0 and the fields, or -1 when docker does not know it
 * or it has not exited (the CLI failed, not the program). */
static int container_state(const struct config *cfg, const char *name, int *exit_code,
			   int *oom_killed)
{
	char *argv[] = { (char *)cfg->docker, "inspect", "--type", "container", "--format",
			 "{{.State.Status}} {{.State.ExitCode}} {{.State.OOMKilled}}", (char *)name,
			 NULL };
	char out[128], status[32], oom[16];

	if (spawn_capture(cfg->docker, argv, DOCKER_TIMEOUT_MS, out, sizeof(out)) != 0 ||
	    sscanf(out, "%31s %d %15s", status, exit_code, oom) != 3 || strcmp(status, "exited"))
		return -1;
	*oom_killed = !strcmp(oom, "true");
	return 0;
}


/* The client's message for a container that never started, from what docker said. */
static void start_failure(const struct config *cfg, enum language lang, const char *docker_err,
			  char *err, size_t errlen)
{
	const char *image = image_of(cfg, lang);

	if (docker_err && strstr(docker_err, "No such image"))
		snprintf(err, errlen, "sandbox image %s is not available: build it with make images",
			 image);
	else if (docker_err && strstr(docker_err, "Cannot connect to the Docker daemon"))
		snprintf(err, errlen, "sandbox unavailable: the Docker engine is not running");
	else
		snprintf(err, errlen, "sandbox unavailable: the container did not start");
	log_msg("container for %s did not start: %s", language_name(lang),
		docker_err ? docker_err : "(no message)");
}

/* stderr, then (on a line of its own) the service's message. */
static char *join_message(const char *text, const char *msg)
{
	size_t n = strlen(text), m = strlen(msg);
	int nl = n && text[n - 1] != '\n';
	char *s = malloc(n + (size_t)nl + m + 1);

	if (!s)
		return NULL;
	memcpy(s, text, n);
	if (nl)
		s[n] = '\n';
	memcpy(s + n + nl, msg, m + 1);
	return s;
}

int sandbox_run(const struct config *cfg, enum language lang, const char *code, size_t code_len,
		const struct interrupt *intr, struct run_result *res, char *err, size_t errlen)
{
	struct child c = CHILD_INIT;
	struct docker_argv a;
	char name[96], msg[128];
	int64_t started = 0, ended;
	enum pump_end end;
	int ret = -1, spawned = 0, removed = 0, code_exit, oom = 0, timed_out = 0;
	size_t out_len, err_from = 0;

	memset(res, 0, sizeof(*res));
	new_name(name, sizeof(name), cfg->instance);
	sandbox_argv(&a, cfg, lang, name);
	c.in = code;
	c.in_len = code_len;
	c.out.limit = cfg->output_limit + 1; /* + the start byte */
	c.err.limit = cfg->output_limit;
	if (child_spawn(&c, cfg->docker, a.argv, msg, sizeof(msg))) {
		log_msg("%s", msg);
		snprintf(err, errlen, "sandbox unavailable: cannot run docker");
		goto out;
	}
	spawned = 1;
	end = child_pump(&c, mono_ms() + cfg->start_timeout_s * 1000LL, 1, intr);
	if (end == PUMP_OUTPUT) {
		started = mono_ms();
		err_from = c.err.len; /* what came before is docker's, not the program's */
		if (err_from)
			log_msg("docker said before the start: %s", c.err.buf);
		end = child_pump(&c, started + cfg->timeout_s * 1000LL, 0, intr);
	}
	ended = mono_ms();
	if (end != PUMP_EOF) {
		/* Killing the client would leave the container running: remove the container, let the
		 * client pass on what the program printed, then make sure the client is gone. */
		removed = !container_remove(cfg, name) && started;
		if (child_pump(&c, mono_ms() + 2000, 0, NULL) != PUMP_EOF)
			child_kill(&c);
		timed_out = end == PUMP_DEADLINE && started;
	}
	if (child_wait(&c, mono_ms() + 5000))
		child_kill(&c);
	if (end == PUMP_STOPPED || end == PUMP_GONE || end == PUMP_ERROR) {
		snprintf(err, errlen, "%s", end == PUMP_STOPPED ? "service is shutting down"
					    : end == PUMP_GONE  ? "client went away"
								: "sandbox failed while running");
		goto out;
	}
	if (!started) {
		if (end == PUMP_DEADLINE)
			snprintf(err, errlen, "sandbox unavailable: the container did not start in time");
		else
			start_failure(cfg, lang, c.err.buf, err, errlen);
		goto out;
	}
	if (!timed_out) {
		if (!WIFEXITED(c.status)) {
			snprintf(err, errlen, "sandbox failed while running");
			goto out;
		}
		code_exit = WEXITSTATUS(c.status);
		/* docker's own failures share these codes with programs: ask the engine. */
		if (code_exit == 125 || code_exit == 126 || code_exit == 127 || code_exit == 137) {
			if (container_state(cfg, name, &code_exit, &oom)) {
				log_msg("container %s ended with %d and docker no longer knows it", name,
					code_exit);
				snprintf(err, errlen, "sandbox failed while running");
				goto out;
			}
		}
		res->exit_code = code_exit;
		res->status = oom ? RUN_MEMORY : code_exit ? RUN_ERROR : RUN_OK;
	} else {
		res->exit_code = -2;
		res->status = RUN_TIMEOUT;
	}
	res->duration_ms = (long)(ended - started);
	res->truncated = c.out.truncated || c.err.truncated;
	out_len = c.out.len - 1;
	if (c.out.truncated)
		out_len = utf8_trim_partial(c.out.buf + 1, out_len);
	res->output = utf8_sanitize_new(c.out.buf + 1, out_len);
	res->error = utf8_sanitize_new(c.err.buf ? c.err.buf + err_from : "",
				       c.err.truncated
					       ? utf8_trim_partial(c.err.buf + err_from, c.err.len - err_from)
					       : c.err.len - err_from);
	if (res->error && (timed_out || oom)) {
		char *joined;

		if (timed_out)
			snprintf(msg, sizeof(msg), "Execution timed out after %d seconds.", cfg->timeout_s);
		else
			snprintf(msg, sizeof(msg), "Memory limit exceeded (%d MB).", cfg->memory_mb);
		joined = join_message(res->error, msg);
		free(res->error);
		res->error = joined;
	}
	if (!res->output || !res->error) {
		snprintf(err, errlen, "out of memory");
		run_result_release(res);
		goto out;
	}
	ret = 0;
out:
	/* Also when it never started: its creation may have raced the first removal. */
	if (spawned && !removed)
		container_remove(cfg, name);
	child_release(&c);
	return ret;
}

void run_result_release(struct run_result *res)
{
	free(res->output);
	free(res->error);
	res->output = res->error = NULL;
}
