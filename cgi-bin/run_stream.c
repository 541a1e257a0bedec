/* run_stream.c - a running program's output, passed on as Server-Sent Events. */
#include "run_stream.h"

#include <stdlib.h>
#include <string.h>

#include "container.h"
#include "marks.h"
#include "sse.h"

/* When a write must have ended. */
static int64_t write_until(const struct run_stream *s)
{
	int64_t least = mono_ms() + RUN_STREAM_MIN_MS;

	return s->until_ms > least ? s->until_ms : least;
}

static int send_raw(struct run_stream *s, const char *data, size_t len)
{
	if (!s->failed && s->write(s->ctx, data, len, write_until(s)))
		s->failed = 1;
	s->last_ms = mono_ms();
	return s->failed ? -1 : 0;
}

/* Sends the bytes [*sent, upto) of buf as events of one name. capped: upto is where a limit cut
 * the text (a character it splits is dropped); final: nothing more comes (a character left
 * incomplete is U+FFFD); neither: an incomplete last character waits for its end. */
static int pass_on(struct run_stream *s, const char *name, const char *buf, size_t *sent,
		   size_t upto, int capped, int final)
{
	size_t used;
	char *ev;

	while (*sent < upto) {
		ev = sse_text_new(name, buf + *sent, upto - *sent, final && !capped, &used);
		if (!ev)
			return 0; /* a character not whole yet (or no memory: the result says all) */
		*sent += used;
		if (send_raw(s, ev, strlen(ev))) {
			free(ev);
			return -1;
		}
		free(ev);
	}
	return 0;
}

/* Notes where the program's stderr begins (after its start mark), and passes on the compiler's
 * messages once, as soon as they are whole (the compile's end mark read), before any stderr. */
static int pass_on_compile(struct run_stream *s, const struct capture *err, size_t err_stop)
{
	size_t upto = err->len < err_stop ? err->len : err_stop, from;
	const char *mark = upto ? memchr(err->buf, CONTAINER_START_MARK, upto) : NULL;
	struct compile_part cp;

	if (!s->err_from && mark)
		s->err_from = s->err_sent = (size_t)(mark - err->buf) + 1;
	if (s->compile_sent || !s->compiled)
		return 0;
	marks_compile(err, s->err_from ? s->err_from - 1 : upto, 1, &cp);
	if (!cp.ended && !s->err_from)
		return 0; /* not whole yet */
	s->compile_sent = 1;
	if (!cp.seen || cp.to <= cp.from)
		return 0;
	from = cp.from;
	if (cp.to - cp.from > COMPILE_OUTPUT_MAX)
		return pass_on(s, "compile", err->buf, &from, cp.from + COMPILE_OUTPUT_MAX, 1, 1);
	return pass_on(s, "compile", err->buf, &from, cp.to, 0, 1);
}

static int step(struct run_stream *s, const struct child *c, size_t err_stop, int final)
{
	const struct capture *out = &c->out, *err = &c->err;
	size_t end;
	int capped;

	if (s->failed)
		return -1;
	if (!s->begun) {
		if (!out->len || out->buf[0] != CONTAINER_START_MARK)
			return 0;
		s->begun = 1;
		s->out_sent = 1;
		s->last_ms = mono_ms();
		if (s->begin(s->ctx, write_until(s))) {
			s->failed = 1;
			return -1;
		}
	}
	if (pass_on_compile(s, err, err_stop))
		return -1;
	capped = out->len > 1 + s->limit || out->truncated;
	/* the program's output waits for the compiler's messages, which come on the other pipe */
	if ((s->compile_sent || !s->compiled || final) &&
	    pass_on(s, "stdout", out->buf, &s->out_sent,
		    out->len > 1 + s->limit ? 1 + s->limit : out->len, capped, final))
		return -1;
	end = err->len < err_stop ? err->len : err_stop;
	if (s->err_from && end >= s->err_from) {
		capped = end - s->err_from > s->limit || (err->truncated && end == err->len);
		if (pass_on(s, "stderr", err->buf, &s->err_sent,
			    end - s->err_from > s->limit ? s->err_from + s->limit : end, capped, final))
			return -1;
	}
	if (mono_ms() - s->last_ms >= SSE_KEEPALIVE_MS &&
	    send_raw(s, SSE_KEEPALIVE, strlen(SSE_KEEPALIVE)))
		return -1;
	return 0;
}

int run_stream_watch(void *stream, const struct child *c)
{
	return step(stream, c, (size_t)-1, c->out_fd < 0 && c->err_fd < 0) ? 1 : 0;
}

int run_stream_finish(struct run_stream *s, const struct child *c, size_t err_upto)
{
	return step(s, c, err_upto, 1);
}

int run_stream_send(struct run_stream *s, const char *name, const char *text)
{
	size_t sent = 0;

	return pass_on(s, name, text, &sent, strlen(text), 0, 1);
}
