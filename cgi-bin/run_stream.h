/* run_stream.h - a streamed run (POST /run with Accept: text/event-stream): what the program
 * prints is passed on as events while it runs. */
#ifndef SCE_RUN_STREAM_H
#define SCE_RUN_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "spawn.h"

/*
 * The caller fills begin, write and ctx; the sandbox fills limit, compiled and until_ms; the
 * rest is zero. begin() sends the head of the answer, once the program has started; write() one
 * event. Each gives up at until_ms (a client that stops reading must not hold the run past its
 * deadline) and returns 0, or -1 once the client is gone or a write was cut (the run then ends
 * at once: PUMP_GONE). The sandbox sets until_ms to the deadline of what it waits for (the
 * start, the program's time limit), and to RUN_STREAM_LAST_MS from now for what it sends once
 * the program has ended; a write gets RUN_STREAM_MIN_MS at least.
 *
 * run_stream_watch() is the pump's watch hook (struct interrupt): it begins the answer when the
 * start mark comes, then sends a "compile" event (the compiler's messages, once, when it
 * compiled), "stdout" and "stderr" events (the program's bytes after the start marks, within
 * limit per stream, characters whole: a character split across two reads waits for its end, one
 * cut by the limit is dropped, as in the ordinary answer), and a keep-alive comment after
 * SSE_KEEPALIVE_MS of silence. Non-zero once the client is gone.
 * run_stream_finish() sends what is left once the program has ended: the held-back bytes, what
 * was read after the pump stopped (a timeout), stderr up to err_upto only (after it, docker's
 * words).
 * run_stream_send() sends one event of a whole text (the service's message after stderr; the
 * compiler's messages of a run that did not start).
 * The caller sends the "result" or "error" event, and begins the answer itself when the run
 * ended without starting (a compile error).
 */
#define RUN_STREAM_LAST_MS 5000
#define RUN_STREAM_MIN_MS 1000

struct run_stream {
	int (*begin)(void *ctx, int64_t until_ms);
	int (*write)(void *ctx, const char *data, size_t len, int64_t until_ms);
	void *ctx;
	size_t limit; /* of each stream, as in the answer */
	int compiled;
	int64_t until_ms;
	int begun, failed, compile_sent;
	size_t out_sent, err_from, err_sent; /* where in the captures; err_from 0: not yet known */
	int64_t last_ms;                     /* when something was last sent */
};

int run_stream_watch(void *stream, const struct child *c);
int run_stream_finish(struct run_stream *s, const struct child *c, size_t err_upto);
int run_stream_send(struct run_stream *s, const char *name, const char *text);

#endif
