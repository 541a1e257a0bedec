/* sandbox.c - one run: a container, docker exec with a deadline, the outcome and the figures. */
#include "sandbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "log.h"
#include "marks.h"
#include "pool.h"
#include "spawn.h"
#include "utf8.h"

const char *run_status_name(enum run_status status)
{
	static const char *const names[] = { "ok", "error", "timeout", "memory_limit", "compile_error" };
	return names[status];
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

/* The program's part of a captured stream, bytes [from, upto), at most limit of them, without a
 * character cut in half, as valid UTF-8; *cut set when some was dropped. */
static char *text_of(const struct capture *cap, size_t from, size_t upto, size_t limit, int *cut)
{
	size_t n = upto > from ? upto - from : 0;
	const char *s = cap->buf ? cap->buf + from : "";

	if (n > limit) {
		n = limit;
		*cut = 1;
	}
	if (*cut)
		n = utf8_trim_partial(s, n);
	return utf8_sanitize_new(s, n);
}

/* Whether docker's output of a run that did not start holds text. */
static int docker_said(const struct child *c, const char *text)
{
	return (c->err.buf && strstr(c->err.buf, text)) || (c->out.buf && strstr(c->out.buf, text));
}

/* The answer to a compile that failed: the compiler's messages (and the service's, when it ran
 * out of time or memory), its exit code; nothing ran. */
static int compile_failed(const struct language *l, const struct capture *err,
			  const struct compile_part *cp, int exit_code, int timed_out,
			  struct run_result *res)
{
	char msg[128];
	int cut = 0;

	res->status = RUN_COMPILE_ERROR;
	res->exit_code = exit_code;
	res->compile_ms = cp->ms;
	res->compile_output = text_of(err, cp->from, cp->to, COMPILE_OUTPUT_MAX, &cut);
	res->truncated = cut;
	res->output = utf8_sanitize_new("", 0);
	res->error = utf8_sanitize_new("", 0);
	if (res->used.oom_kills > 0)
		snprintf(msg, sizeof(msg), "Compilation ran out of memory (%d MB).", l->memory_mb);
	else if (timed_out || exit_code == 137)
		snprintf(msg, sizeof(msg), "Compilation timed out after %d seconds.", l->compile_timeout_s);
	else
		msg[0] = '\0';
	if (res->compile_output && msg[0]) {
		char *joined = join_message(res->compile_output, msg);

		free(res->compile_output);
		res->compile_output = joined;
	}
	return res->output && res->error && res->compile_output ? 0 : -1;
}

/* Runs the program in ct. 0: it ran, or did not compile (res filled); 1: the container was not
 * usable (a stale warm one; the caller may try a new one); -1: failure, err filled. */
static int exec_in(const struct config *cfg, struct container *ct, const struct run_spec *spec,
		   struct run_result *res, char *err, size_t errlen)
{
	const struct language *l = ct->lang;
	int compiled = LANGUAGE_COMPILED(l);
	struct child c = CHILD_INIT;
	struct docker_argv a;
	struct compile_part cp;
	struct figures at_start = { -1, -1, -1 };
	char msg[128];
	int64_t started = 0, ended, deadline;
	int began;
	enum pump_end end;
	struct interrupt intr = { .gone_fd = -1 };
	struct run_stream *stream = spec->stream;
	int ret = -1, timed_out = 0, oom = 0, out_cut, err_cut;
	size_t err_from = 0, err_upto = (size_t)-1;

	if (spec->intr)
		intr = *spec->intr;
	if (stream) {
		stream->limit = cfg->output_limit;
		stream->compiled = compiled;
		intr.watch = run_stream_watch;
		intr.watch_ctx = stream;
	}
	if (container_put_program(cfg, ct, spec->code, spec->code_len)) {
		snprintf(err, errlen, "service unavailable: cannot pass the program to the sandbox");
		return -1;
	}
	container_exec_argv(&a, cfg, ct);
	c.in = spec->input;
	c.in_len = spec->input_len;
	c.out.limit = cfg->output_limit + 2; /* + the start mark, + one to know it went over */
	/* + what docker may say before the start mark, + the compiler's messages and marks */
	c.err.limit = cfg->output_limit + 4096 + (compiled ? COMPILE_OUTPUT_MAX + 64 : 0);
	if (child_spawn(&c, cfg->docker, a.argv, msg, sizeof(msg))) {
		log_msg("%s", msg);
		snprintf(err, errlen, "sandbox unavailable: cannot run docker");
		goto out;
	}
	deadline = mono_ms() + (cfg->start_timeout_s + (compiled ? l->compile_timeout_s : 0)) * 1000LL;
	if (stream)
		stream->until_ms = deadline;
	end = child_pump(&c, deadline, 1, &intr);
	if (end == PUMP_OUTPUT && c.out.buf[0] != CONTAINER_START_MARK) /* docker's words */
		end = child_pump(&c, mono_ms() + cfg->start_timeout_s * 1000LL, 0, &intr);
	else if (end == PUMP_OUTPUT) {
		started = mono_ms();
		if (compiled || l->prestart) /* the program's CPU time is counted from here */
			container_figures(cfg, ct->id, &at_start);
		deadline = started + l->timeout_s * 1000LL;
		if (stream)
			stream->until_ms = deadline;
		end = child_pump(&c, deadline, 0, &intr);
	}
	ended = mono_ms();
	if (end != PUMP_EOF) {
		/* Killing the client would leave the program running: remove the container now (its
		 * figures read first), let the client pass on what the program printed, then make sure
		 * the client is gone. What reaches stderr once the container is being removed is
		 * docker's ("No such exec instance"...), not the program's. */
		err_upto = c.err.len;
		container_figures(cfg, ct->id, &res->used);
		ct->removed = container_remove(cfg, ct->name) == 0;
		if (child_pump(&c, mono_ms() + 2000, 0, NULL) != PUMP_EOF)
			child_kill(&c);
		timed_out = end == PUMP_DEADLINE;
	}
	if (child_wait(&c, mono_ms() + 5000))
		child_kill(&c);
	/* The start mark may have come only while a cut run was drained: the program had begun. */
	began = started || (c.out.len && c.out.buf[0] == CONTAINER_START_MARK);
	if (end == PUMP_STOPPED || end == PUMP_GONE || end == PUMP_ERROR) {
		/* 503 only when the program did not start: that answer promises nothing ran (a
		 * front may send the request to another host); a run cut short is a 502. */
		snprintf(err, errlen, "%s", end == PUMP_STOPPED ? (began ? "service is shutting down: "
									  "the run was cut short"
									: "service is shutting down")
					    : end == PUMP_GONE  ? "client went away"
								: "sandbox failed while running");
		res->failure = end == PUMP_STOPPED ? (began ? 502 : 503) : end == PUMP_GONE ? 499 : 500;
		goto out;
	}
	if (!started) {
		marks_compile(&c.err, err_upto, compiled, &cp);
		if (cp.seen && (timed_out || WIFEXITED(c.status))) {
			if (end == PUMP_EOF)
				container_figures(cfg, ct->id, &res->used);
			ret = compile_failed(l, &c.err, &cp, timed_out ? -2 : WEXITSTATUS(c.status),
					     timed_out, res);
			if (ret) {
				snprintf(err, errlen, "out of memory");
				res->failure = 500;
			}
		} else if (end == PUMP_DEADLINE) {
			snprintf(err, errlen, "sandbox unavailable: the container did not start in time");
			if (began) /* at the very end of the wait: it did, and was cut */
				res->failure = 502;
		} else if (docker_said(&c, "is not running") || docker_said(&c, "No such container")) {
			log_msg("container %s was no longer running", ct->name);
			ret = 1;
		} else {
			if (c.out.len)
				log_msg("docker said on stdout: %s", c.out.buf);
			container_failure(cfg, l, c.err.buf, err, errlen);
		}
		goto out;
	}
	err_from = marks_program_from(&c.err);
	if (err_upto > c.err.len)
		err_upto = c.err.len;
	if (err_from > err_upto)
		err_from = err_upto;
	marks_compile(&c.err, err_from ? err_from - 1 : 0, compiled, &cp);
	if ((cp.seen ? cp.from : err_from) > 1)
		log_msg("docker said before the start: %.*s", (int)((cp.seen ? cp.from : err_from) - 1),
			c.err.buf);
	if (err_upto < c.err.len)
		log_msg("docker said once the run was cut short: %.*s", (int)(c.err.len - err_upto),
			c.err.buf + err_upto);
	if (end == PUMP_EOF)
		container_figures(cfg, ct->id, &res->used);
	/* the program's CPU time and OOM kills, not the compiler's */
	if (res->used.cpu_ns >= 0 && at_start.cpu_ns >= 0)
		res->used.cpu_ns -= at_start.cpu_ns;
	if (res->used.oom_kills >= 0 && at_start.oom_kills >= 0)
		res->used.oom_kills -= at_start.oom_kills;
	if (timed_out) {
		res->exit_code = -2;
		res->status = RUN_TIMEOUT;
	} else if (!WIFEXITED(c.status)) {
		snprintf(err, errlen, "sandbox failed while running");
		res->failure = 500;
		goto out;
	} else {
		/* 137 is a SIGKILL: the OOM killer's when the cgroup counted one. */
		res->exit_code = WEXITSTATUS(c.status);
		oom = res->exit_code == 137 && res->used.oom_kills > 0;
		/* Killed by a signal: the program's own doing (it may kill itself), unless the whole
		 * container went with it (the engine stopped, or someone stopped the container). */
		if (res->exit_code > 128 && !oom && container_running(cfg, ct->name) != 1) {
			log_msg("container %s stopped during the run (exit %d)", ct->name, res->exit_code);
			snprintf(err, errlen, "sandbox failed while running: the container was stopped");
			res->failure = 502;
			goto out;
		}
		res->status = oom ? RUN_MEMORY : res->exit_code ? RUN_ERROR : RUN_OK;
	}
	res->duration_ms = (long)(ended - started);
	if (stream) { /* what the pump had not passed on: its end, and what came after a timeout */
		stream->until_ms = mono_ms() + RUN_STREAM_LAST_MS;
		run_stream_finish(stream, &c, err_upto);
	}
	out_cut = c.out.truncated;
	err_cut = c.err.truncated && err_upto == c.err.len;
	res->output = text_of(&c.out, 1, c.out.len, cfg->output_limit, &out_cut);
	res->error = text_of(&c.err, err_from, err_upto, cfg->output_limit, &err_cut);
	res->truncated = out_cut || err_cut;
	if (cp.seen) {
		int cut = 0;

		res->compile_ms = cp.ms;
		res->compile_output = text_of(&c.err, cp.from, cp.to, COMPILE_OUTPUT_MAX, &cut);
		res->truncated |= cut;
	} else {
		res->compile_output = utf8_sanitize_new("", 0);
	}
	if (res->error && (timed_out || oom)) {
		char *joined;

		if (timed_out)
			snprintf(msg, sizeof(msg), "Execution timed out after %d seconds.", l->timeout_s);
		else
			snprintf(msg, sizeof(msg), "Memory limit exceeded (%d MB).", l->memory_mb);
		joined = join_message(res->error, msg);
		if (joined && stream) /* the streamed stderr, too, ends with the service's words */
			run_stream_send(stream, "stderr", joined + strlen(res->error));
		free(res->error);
		res->error = joined;
	}
	if (!res->output || !res->error || !res->compile_output) {
		snprintf(err, errlen, "out of memory");
		res->failure = 500;
		run_result_release(res);
		goto out;
	}
	ret = 0;
out:
	child_release(&c);
	return ret;
}

int sandbox_run(const struct config *cfg, const struct run_spec *spec, struct run_result *res,
		char *err, size_t errlen)
{
	int attempt, r = -1;

	memset(res, 0, sizeof(*res));
	res->failure = 503;
	res->compile_ms = -1;
	for (attempt = 0; attempt < 2; attempt++) {
		/* The second attempt (after a dead warm one) makes a new container. */
		if (pool_get(cfg, spec->lang, attempt == 0, &res->ct, &res->warm, err, errlen))
			return -1;
		res->has_container = 1;
		r = exec_in(cfg, &res->ct, spec, res, err, errlen);
		if (r != 1)
			break;
		/* A warm container that died (dockerd restarted, idle too long): try a new one. */
		pool_done(cfg, &res->ct);
		res->stale = 1;
		res->has_container = 0;
		snprintf(err, errlen, "sandbox unavailable: the container did not start");
	}
	if (r)
		run_result_release(res); /* not run: nothing but the container to hand back */
	return r == 0 ? 0 : -1;
}

void run_result_release(struct run_result *res)
{
	free(res->output);
	free(res->error);
	free(res->compile_output);
	res->output = res->error = res->compile_output = NULL;
}
