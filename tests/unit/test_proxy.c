/* test_proxy.c - whose request it is behind a front: X-Forwarded-For believed from it alone. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "proxy.h"

static void expect(const char *fronts, const char *remote, const char *xff, int via,
		   const char *client)
{
	char c[64];

	snprintf(c, sizeof(c), "%s", remote);
	assert_int_equal(proxy_client(fronts, remote, xff, c, sizeof(c)), via);
	assert_string_equal(c, client);
}

static void test_from_the_front(void **state)
{
	(void)state;
	expect("127.0.0.2", "127.0.0.2", "192.0.2.7", 1, "192.0.2.7");
	/* the front added the last one; the rest is the client's word */
	expect("10.0.0.5 127.0.0.2", "127.0.0.2", "6.6.6.6, 192.0.2.7", 1, "192.0.2.7");
	expect("127.0.0.2", "127.0.0.2", "6.6.6.6,2001:db8::1", 1, "2001:db8::1");
	/* an IPv4-mapped peer is its IPv4 address */
	expect("127.0.0.2", "::ffff:127.0.0.2", "192.0.2.7", 1, "192.0.2.7");
	expect("::1", "::1", " 192.0.2.9 ", 1, "192.0.2.9");
	/* from the front without a usable header: the front's own address */
	expect("127.0.0.2", "127.0.0.2", "", 1, "127.0.0.2");
	expect("127.0.0.2", "127.0.0.2", "unknown", 1, "127.0.0.2");
	expect("127.0.0.2", "127.0.0.2", "192.0.2.7, not-an-address", 1, "127.0.0.2");
}

static void test_not_from_the_front(void **state)
{
	(void)state;
	/* anyone else's X-Forwarded-For is ignored */
	expect("127.0.0.2", "127.0.0.1", "127.0.0.2", 0, "127.0.0.1");
	expect("127.0.0.2", "127.0.0.22", "192.0.2.7", 0, "127.0.0.22");
	/* no front configured: nobody is one */
	expect("", "127.0.0.2", "192.0.2.7", 0, "127.0.0.2");
	expect("127.0.0.2", "", "192.0.2.7", 0, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_from_the_front),
		cmocka_unit_test(test_not_from_the_front),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
