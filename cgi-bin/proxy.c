/* proxy.c - the client behind the front, from X-Forwarded-For, believed from the front only. */
#include "proxy.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

/* The address as 16 bytes (IPv4 as IPv4-mapped IPv6); 0 when it is none. */
static int parse(const char *s, size_t n, unsigned char out[16])
{
	char one[64];
	unsigned char v4[4];

	if (n == 0 || n >= sizeof(one))
		return 0;
	memcpy(one, s, n);
	one[n] = '\0';
	if (inet_pton(AF_INET, one, v4) == 1) {
		memset(out, 0, 10);
		out[10] = out[11] = 0xff;
		memcpy(out + 12, v4, 4);
		return 1;
	}
	return inet_pton(AF_INET6, one, out) == 1;
}

static int is_front(const char *fronts, const unsigned char peer[16])
{
	unsigned char addr[16];
	size_t n;

	for (fronts += strspn(fronts, " \t"); *fronts; fronts += strspn(fronts, " \t")) {
		n = strcspn(fronts, " \t");
		if (parse(fronts, n, addr) && !memcmp(addr, peer, 16))
			return 1;
		fronts += n;
	}
	return 0;
}

int proxy_client(const char *fronts, const char *remote, const char *xff, char *client,
		 size_t size)
{
	unsigned char peer[16], addr[16];
	const char *last = strrchr(xff, ',');
	size_t n;

	if (!*fronts || !parse(remote, strlen(remote), peer) || !is_front(fronts, peer))
		return 0;
	last = last ? last + 1 : xff;
	last += strspn(last, " \t");
	n = strcspn(last, " \t");
	if (parse(last, n, addr) && n < size)
		snprintf(client, size, "%.*s", (int)n, last);
	return 1;
}
