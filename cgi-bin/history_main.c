/* history_main.c - history.fcgi: the program behind GET /history. */
#include "front.h"
#include "handlers.h"

int main(int argc, char **argv)
{
	static const struct program history = { history_handle, NULL, NULL, NULL, 2, NULL };
	return front_main(argc, argv, &history);
}
