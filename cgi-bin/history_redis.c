/* history_redis.c - the shared history in Redis (hiredis): ZADD, ZREMRANGEBYRANK, ZREVRANGE. */
#include "history_redis.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "spawn.h"

static redisContext *conn;
static int64_t failed_at = -1; /* mono_ms() of the last slow failure */

/* A failure that took time (a Redis that hangs, or a host that does not answer) is not tried
 * again for HISTORY_REDIS_RETRY_MS; a quick one (connection refused: Redis stopped) is, at the
 * next call, so the history is shared again as soon as Redis is back. */
static void failed_since(const struct config *cfg, int64_t began)
{
	int64_t now = mono_ms();

	failed_at = now - began >= cfg->redis_timeout_ms / 2 ? now : -1;
}

/* Whether a connection failed because the other end closed it (Redis restarted, or it dropped
 * an idle client), rather than by a timeout. */
static int closed_by_peer(const redisContext *c)
{
	return c->err == REDIS_ERR_EOF ||
	       (c->err == REDIS_ERR_IO && (errno == ECONNRESET || errno == EPIPE));
}

static void drop(void)
{
	if (conn)
		redisFree(conn);
	conn = NULL;
}

/* The password: the first line of the file, without its newline. */
static int read_password(const char *path, char *pw, size_t size, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	int ret = -1;

	if (!f) {
		snprintf(err, errlen, "cannot read redis_password_file %s", path);
		return -1;
	}
	if (fgets(pw, (int)size, f)) {
		pw[strcspn(pw, "\r\n")] = '\0';
		ret = 0;
	} else {
		snprintf(err, errlen, "redis_password_file %s is empty", path);
	}
	fclose(f);
	return ret;
}

static int connect_redis(const struct config *cfg, char *err, size_t errlen)
{
	struct timeval tv = { cfg->redis_timeout_ms / 1000, (cfg->redis_timeout_ms % 1000) * 1000 };
	int64_t began = mono_ms();
	char pw[512];
	redisReply *reply;

	if (conn)
		return 0;
	if (failed_at >= 0 && mono_ms() - failed_at < HISTORY_REDIS_RETRY_MS) {
		snprintf(err, errlen, "redis %s:%d unreachable (tried again after %d ms)",
			 cfg->redis_host, cfg->redis_port, HISTORY_REDIS_RETRY_MS);
		return -1;
	}
	conn = redisConnectWithTimeout(cfg->redis_host, cfg->redis_port, tv);
	if (!conn || conn->err || redisSetTimeout(conn, tv) != REDIS_OK) {
		snprintf(err, errlen, "redis %s:%d: %s", cfg->redis_host, cfg->redis_port,
			 conn ? conn->errstr : "out of memory");
		goto fail;
	}
	if (cfg->redis_password_file[0]) {
		const char *argv[2] = { "AUTH", pw };

		if (read_password(cfg->redis_password_file, pw, sizeof(pw), err, errlen))
			goto fail;
		reply = redisCommandArgv(conn, 2, argv, NULL);
		memset(pw, 0, sizeof(pw));
		if (!reply || reply->type == REDIS_REPLY_ERROR) {
			snprintf(err, errlen, "redis AUTH: %.200s",
				 reply ? reply->str : conn->errstr);
			if (reply)
				freeReplyObject(reply);
			goto fail;
		}
		freeReplyObject(reply);
	}
	failed_at = -1;
	return 0;
fail:
	drop();
	failed_since(cfg, began);
	return -1;
}

/* Sends n commands at once (cmds[i] of argcs[i] words) and reads their n replies into replies[]
 * (each freed by the caller; an error reply is one too). A connection made earlier that Redis
 * closed (restarted since, or it dropped an idle client) is made again, and the commands sent
 * once more: every command here may be sent twice. Returns 0, or -1 with err filled, no reply
 * kept and the connection dropped (failed_since). */
static int exchange(const struct config *cfg, size_t n, const int *argcs, const char **const *cmds,
		    redisReply **replies, char *err, size_t errlen)
{
	size_t i, got = 0;
	int attempt, ok = 0, again;
	int64_t began = mono_ms();

	for (attempt = 0; attempt < 2; attempt++) {
		int had = conn != NULL;

		if (connect_redis(cfg, err, errlen))
			return -1;
		ok = 1;
		for (i = 0; i < n && ok; i++)
			ok = redisAppendCommandArgv(conn, argcs[i], cmds[i], NULL) == REDIS_OK;
		for (got = 0; got < n && ok; got++) {
			if (redisGetReply(conn, (void **)&replies[got]) != REDIS_OK)
				break;
		}
		if (ok && got == n)
			break;
		ok = 0;
		again = had && closed_by_peer(conn); /* before anything else can touch errno */
		snprintf(err, errlen, "redis %s", conn->errstr[0] ? conn->errstr : "failed");
		while (got)
			freeReplyObject(replies[--got]);
		drop();
		if (!again)
			break;
	}
	if (!ok)
		failed_since(cfg, began);
	return ok ? 0 : -1;
}

/* The first error among n replies, into err: 1 when there was one. */
static int any_error(redisReply **replies, size_t n, char *err, size_t errlen)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (replies[i]->type == REDIS_REPLY_ERROR) {
			snprintf(err, errlen, "redis: %.200s", replies[i]->str);
			return 1;
		}
	}
	return 0;
}

int history_redis_add(const struct config *cfg, const char *const *texts, const long long *scores,
		      size_t n, char *err, size_t errlen)
{
	const char **argv = calloc(2 + 2 * n, sizeof(*argv));
	char (*nums)[24] = calloc(n ? n : 1, sizeof(*nums)), stop[24];
	const char *trim[4] = { "ZREMRANGEBYRANK", cfg->redis_key, "0", stop };
	const char **const cmds[2] = { argv, trim };
	int argcs[2] = { (int)(2 + 2 * n), 4 };
	redisReply *replies[2];
	size_t i;
	int ret = -1;

	if (!argv || !nums) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	argv[0] = "ZADD";
	argv[1] = cfg->redis_key;
	for (i = 0; i < n; i++) {
		snprintf(nums[i], sizeof(nums[i]), "%lld", scores[i]);
		argv[2 + 2 * i] = nums[i];
		argv[3 + 2 * i] = texts[i];
	}
	/* Ranks from the lowest score: all but the newest history_size. */
	snprintf(stop, sizeof(stop), "%d", -cfg->history_size - 1);
	if (exchange(cfg, 2, argcs, cmds, replies, err, errlen))
		goto out;
	ret = any_error(replies, 2, err, errlen) ? -1 : 0;
	freeReplyObject(replies[0]);
	freeReplyObject(replies[1]);
out:
	free(argv);
	free(nums);
	return ret;
}

char *history_redis_newest_new(const struct config *cfg, size_t *len, char *err, size_t errlen)
{
	char stop[24], *text = NULL;
	const char *argv[4] = { "ZREVRANGE", cfg->redis_key, "0", stop };
	const char **const cmds[1] = { argv };
	const int argcs[1] = { 4 };
	redisReply *reply;
	size_t i, total = 4; /* '[', ']', '\n' and the NUL */

	snprintf(stop, sizeof(stop), "%d", cfg->history_size - 1);
	if (exchange(cfg, 1, argcs, cmds, &reply, err, errlen))
		return NULL;
	if (any_error(&reply, 1, err, errlen))
		goto out;
	if (reply->type != REDIS_REPLY_ARRAY) {
		snprintf(err, errlen, "redis: %s is not a sorted set", cfg->redis_key);
		goto out;
	}
	for (i = 0; i < reply->elements; i++)
		total += reply->element[i]->len + 1;
	text = malloc(total);
	if (!text) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	*len = 0;
	text[(*len)++] = '[';
	for (i = 0; i < reply->elements; i++) {
		if (i)
			text[(*len)++] = ',';
		memcpy(text + *len, reply->element[i]->str, reply->element[i]->len);
		*len += reply->element[i]->len;
	}
	text[(*len)++] = ']';
	text[(*len)++] = '\n';
	text[*len] = '\0';
out:
	freeReplyObject(reply);
	return text;
}

int history_redis_ping(const struct config *cfg, char *err, size_t errlen)
{
	const char *argv[1] = { "PING" };
	const char **const cmds[1] = { argv };
	const int argcs[1] = { 1 };
	redisReply *reply;
	int ret;

	if (exchange(cfg, 1, argcs, cmds, &reply, err, errlen))
		return -1;
	ret = any_error(&reply, 1, err, errlen) ? -1 : 0;
	freeReplyObject(reply);
	return ret;
}
