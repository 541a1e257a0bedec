/* log.h - one-line messages to stderr, which the web server keeps in its error log. */
#ifndef SCE_LOG_H
#define SCE_LOG_H

/* log_init() names the program in every line; log_msg() writes "program[pid]: message". */
void log_init(const char *program);
void log_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
