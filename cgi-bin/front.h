/* front.h - the FastCGI (or plain CGI) front shared by the programs: the only code that sees FCGX_*. */
#ifndef SCE_FRONT_H
#define SCE_FRONT_H

#include <signal.h>

#include "http.h"

/* What a program does: handle answers one request; after (may be NULL) runs once each answer
 * has gone; prepare (may be NULL) is what --prepare does before the service starts serving, and
 * cleanup (may be NULL) what --cleanup does once it has stopped; workers is how many processes
 * --workers starts (0: the config's "workers"); keep (may be NULL) is what a keeper process
 * beside the workers does every KEEP_EVERY_MS, for no request in particular (the sweep). */
struct program {
	handler_fn handle;
	void (*after)(const struct service *svc);
	void (*prepare)(const struct service *svc);
	void (*cleanup)(const struct service *svc);
	int workers;
	void (*keep)(const struct service *svc);
};

/* How often the keeper (under --workers, when p->keep is set) calls p->keep. */
#define KEEP_EVERY_MS 100

/*
 * front_main() is a program's main(): it loads the config ($SCE_CONFIG or the built-in path;
 * a bad line ends the program with status 1 and the line number on stderr), then
 *   with --check-config: prints "Using history file at: PATH" and exits 0;
 *   with --languages: prints the table of languages for scripts/build-images.sh, one line each:
 *     name, image, packages, setup, version command, separated by tabs (setup "-" for none);
 *   with --render-page FILE: prints FILE (the page) with the line holding "<!-- languages -->"
 *     replaced by an <option> for each language, so the form offers them without JavaScript;
 *   with --prepare or --cleanup: runs p->prepare or p->cleanup and exits 0;
 *   under a FastCGI server (stdin is a listening socket): answers requests until stopped;
 *   with --workers [N] (stdin a listening socket, as systemd's StandardInput=socket gives it):
 *     keeps N worker processes (default p->workers) answering on it, and a keeper when p->keep
 *     is set, until SIGTERM;
 *   otherwise: answers one CGI request from the environment and stdin.
 * Each request is read into a struct request (the body only when it is a POST within the size
 * limit), passed to handle, and the struct response written out with the headers every answer
 * carries (X-Content-Type-Options: nosniff, Cache-Control: no-store).
 */
int front_main(int argc, char **argv, const struct program *p);

#endif
