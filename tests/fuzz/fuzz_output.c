/* fuzz_output.c - libFuzzer target: any bytes a program prints become valid UTF-8 without NUL,
 * and a JSON answer that parses back to exactly that text. */
#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct response res = RESPONSE_INIT;
	size_t keep = utf8_trim_partial((const char *)data, size);
	char *text = utf8_sanitize_new((const char *)data, keep);
	cJSON *obj, *back;

	if (keep > size || size - keep > 3 || !text || !utf8_valid(text, strlen(text)))
		abort();
	obj = cJSON_CreateObject();
	cJSON_AddStringToObject(obj, "output", text);
	response_json(&res, 200, obj);
	if (res.status != 200 || !utf8_valid(res.body, res.body_len))
		abort();
	back = cJSON_Parse(res.body);
	if (!back || strcmp(cJSON_GetObjectItemCaseSensitive(back, "output")->valuestring, text))
		abort();
	cJSON_Delete(back);
	cJSON_Delete(obj);
	response_release(&res);
	free(text);
	return 0;
}
