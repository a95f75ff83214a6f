/* Console logging: everything goes to stderr, which the kernel points at hvc0. */
#ifndef BOXLITE_LOG_H
#define BOXLITE_LOG_H

/* Logs "boxlite-guest: <message>". */
void log_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Logs "boxlite-guest: op(path): strerror(errno)"; path may be NULL. Preserves errno. */
void log_errno(const char *op, const char *path);

#endif
