/* tmpdir.h - a fresh directory under /tmp for each unit test, and its removal afterwards. */
#ifndef SCE_TEST_TMPDIR_H
#define SCE_TEST_TMPDIR_H

#include <ftw.h>
#include <stdio.h>

/* Makes /tmp/sce-test-<name>.XXXXXX into dir (size bytes); 0, or -1 when it cannot. */
static inline int tmpdir_make(char *dir, size_t size, const char *name)
{
	snprintf(dir, size, "/tmp/sce-test-%s.XXXXXX", name);
	return mkdtemp(dir) ? 0 : -1;
}

static inline int tmpdir_remove_one(const char *path, const struct stat *st, int flag,
				    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Removes dir and everything in it (symlinks themselves, not what they point to). */
static inline int tmpdir_remove(const char *dir)
{
	return nftw(dir, tmpdir_remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
