/* fuzz_request.c - libFuzzer target: request routing and /run body parsing must never crash, and
 * whatever they accept must hold the promised invariants. First byte: the content type. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "request.h"
#include "utf8.h"

static const char *const types[] = {
	"application/json", "application/x-www-form-urlencoded", "application/json; charset=utf-8",
	"text/plain", "application/x-www-form-urlencoded; charset=\"UTF-8\"",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Two languages, the default limits. */
static struct config cfg;

static void setup(void)
{
	cfg.max_code_chars = 5000;
	cfg.max_stdin_bytes = 65536;
	cfg.langs.n = 2;
	strcpy(cfg.langs.list[0].name, "python");
	strcpy(cfg.langs.list[1].name, "c");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct request req = REQUEST_INIT;
	struct run_request rr = RUN_REQUEST_INIT;
	char err[256];

	if (size < 1)
		return 0;
	if (!cfg.langs.n)
		setup();
	strcpy(req.method, "POST");
	strcpy(req.path, "/run");
	strcpy(req.content_type, types[data[0] % (sizeof(types) / sizeof(types[0]))]);
	req.body_len = size - 1;
	req.content_length = (long long)req.body_len;
	req.body = malloc(req.body_len + 1);
	memcpy(req.body, data + 1, req.body_len);
	req.body[req.body_len] = '\0';
	if (request_route(&req, "/run", "POST", "", 65536, err, sizeof(err)) == 0 &&
	    request_parse_run(&req, &cfg, &rr, err, sizeof(err)) == 0) {
		if (!rr.code || !rr.code_len || strlen(rr.code) != rr.code_len ||
		    !utf8_valid(rr.code, rr.code_len) || utf8_count(rr.code, rr.code_len) > 5000 ||
		    !rr.lang || !rr.input || rr.input[rr.input_len] != '\0' ||
		    !utf8_valid(rr.input, rr.input_len) || rr.input_len > 65536)
			abort();
		run_request_release(&rr);
	} else if (rr.code || rr.input || rr.lang) {
		abort(); /* a rejected request holds nothing */
	}
	free(req.body);
	return 0;
}
