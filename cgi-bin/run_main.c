/* run_main.c - run.fcgi: the program behind POST /run. */
#include "front.h"
#include "handlers.h"

int main(int argc, char **argv)
{
	static const struct program run = { run_handle, run_after, run_prepare, run_cleanup, 0,
					    run_keep };
	return front_main(argc, argv, &run);
}
