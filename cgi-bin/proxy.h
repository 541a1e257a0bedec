/* proxy.h - requests that reach a host through its front (the load balancer). */
#ifndef SCE_PROXY_H
#define SCE_PROXY_H

#include <stddef.h>

/*
 * proxy_client() tells whether remote (the peer the web server saw) is one of fronts (IP
 * addresses separated by spaces; an IPv4-mapped IPv6 address counts as its IPv4 one). When it
 * is, the client is the last address of xff (X-Forwarded-For, to which the front added the
 * address it saw), written to client; returns 1. A front's request whose X-Forwarded-For does
 * not end with an IP address keeps the front's own address as the client. Returns 0, client
 * untouched, when remote is not a front: then X-Forwarded-For is anyone's word and is ignored.
 */
int proxy_client(const char *fronts, const char *remote, const char *xff, char *client,
		 size_t size);

#endif
