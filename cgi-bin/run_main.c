/* run_main.c - run.fcgi: the program behind POST /run. */
#include "front.h"
#include "handlers.h"

int main(int argc, char **argv)
{
	return front_main(argc, argv, run_handle);
}
