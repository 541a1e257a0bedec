/* utf8.h - UTF-8 checks and repair for text that crosses the API. */
#ifndef SCE_UTF8_H
#define SCE_UTF8_H

#include <stddef.h>

/*
 * utf8_seq() returns the length (1-4) of the well-formed UTF-8 sequence at s (at most n bytes
 * available), or 0 when the bytes there are not one: truncated, overlong, a surrogate, above
 * U+10FFFF, or a stray continuation byte.
 *
 * utf8_valid() is true when all n bytes are well-formed UTF-8.
 * utf8_count() counts the code points of well-formed text.
 *
 * utf8_trim_partial() returns n less the bytes of a sequence cut off at the end of s (what a
 * byte limit leaves of the last character), so that it is not shown as U+FFFD.
 *
 * utf8_sanitize_new() returns a NUL-terminated copy of n arbitrary bytes that is valid UTF-8 and
 * holds no NUL: each NUL and each ill-formed byte becomes U+FFFD. The caller frees it.
 * Returns NULL when out of memory.
 */
size_t utf8_seq(const unsigned char *s, size_t n);
int utf8_valid(const char *s, size_t n);
size_t utf8_count(const char *s, size_t n);
size_t utf8_trim_partial(const char *s, size_t n);
char *utf8_sanitize_new(const char *s, size_t n);

#endif
