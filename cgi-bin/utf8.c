/* utf8.c - UTF-8 validation, code point counting and repair of arbitrary program output. */
#include "utf8.h"

#include <stdlib.h>
#include <string.h>

size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	unsigned char lo = 0x80, hi = 0xBF;
	size_t len, i;

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		len = 2;
	else if (c >= 0xE0 && c <= 0xEF)
		len = 3;
	else if (c >= 0xF0 && c <= 0xF4)
		len = 4;
	else
		return 0;
	if (c == 0xE0)
		lo = 0xA0;          /* overlong */
	else if (c == 0xED)
		hi = 0x9F;          /* surrogates */
	else if (c == 0xF0)
		lo = 0x90;          /* overlong */
	else if (c == 0xF4)
		hi = 0x8F;          /* above U+10FFFF */
	if (n < len)
		return 0;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < len; i++)
		if ((s[i] & 0xC0) != 0x80)
			return 0;
	return len;
}

int utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, k;

	while (i < n) {
		k = utf8_seq(p + i, n - i);
		if (!k)
			return 0;
		i += k;
	}
	return 1;
}

size_t utf8_count(const char *s, size_t n)
{
	size_t i, count = 0;

	for (i = 0; i < n; i++)
		if (((unsigned char)s[i] & 0xC0) != 0x80)
			count++;
	return count;
}

size_t utf8_trim_partial(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t back, need;

	for (back = 1; back <= 3 && back <= n; back++) {
		unsigned char c = p[n - back];

		if ((c & 0xC0) == 0x80)
			continue; /* a continuation byte: the lead byte is further back */
		need = c > 0xF4 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 1;
		return back < need ? n - back : n;
	}
	return n;
}

char *utf8_sanitize_new(const char *s, size_t n)
{
	static const char replacement[] = "\xEF\xBF\xBD";
	const unsigned char *p = (const unsigned char *)s;
	char *out, *o;
	size_t i = 0, k;

	/* Each input byte becomes at most 3 output bytes. */
	if (n > ((size_t)-1 - 1) / 3)
		return NULL;
	out = malloc(n * 3 + 1);
	if (!out)
		return NULL;
	o = out;
	while (i < n) {
		k = utf8_seq(p + i, n - i);
		if (k && p[i] != '\0') {
			memcpy(o, p + i, k);
			o += k;
			i += k;
		} else {
			memcpy(o, replacement, 3);
			o += 3;
			i++;
		}
	}
	*o = '\0';
	return out;
}
