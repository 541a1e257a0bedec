/* sse.h - a run's Server-Sent Events (text/event-stream): output as it comes, then the result. */
#ifndef SCE_SSE_H
#define SCE_SSE_H

#include <stddef.h>

/*
 * One event is "event: <name>\ndata: <one line of JSON>\n\n"; a comment ": keep-alive\n\n" keeps
 * proxies from closing a quiet connection.
 *
 * sse_text_new() makes a stdout/stderr/compile event of the n bytes at s, {"text": "..."}: only
 * their complete characters unless final is set (a character split across two reads is held
 * back, *used stops before it), bytes that are not UTF-8 and NULs as U+FFFD, as in the ordinary
 * answer. *used is how many of the n bytes the event holds. NULL with *used 0 when there is
 * nothing to send yet (take == 0) or when out of memory.
 * sse_event_new() makes an event whose data is json (one line, no newline in it).
 * The caller frees what they return.
 */
#define SSE_KEEPALIVE ": keep-alive\n\n"
#define SSE_KEEPALIVE_MS 5000

char *sse_text_new(const char *name, const char *s, size_t n, int final, size_t *used);
char *sse_event_new(const char *name, const char *json);

#endif
