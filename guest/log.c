#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* One write() per line so lines from the agent never interleave mid-line. */
static void write_line(const char *text, size_t len) {
  while (len > 0) {
    ssize_t n = write(STDERR_FILENO, text, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    text += n;
    len -= (size_t)n;
  }
}

void log_msg(const char *fmt, ...) {
  char line[512];
  int head = snprintf(line, sizeof line, "boxlite-guest: ");
  va_list ap;
  va_start(ap, fmt);
  int body = vsnprintf(line + head, sizeof line - (size_t)head - 1, fmt, ap);
  va_end(ap);
  size_t len = (size_t)head + (body < 0 ? 0 : (size_t)body);
  if (len > sizeof line - 2) len = sizeof line - 2;
  line[len++] = '\n';
  write_line(line, len);
}

void log_errno(const char *op, const char *path) {
  int saved = errno;
  if (path)
    log_msg("%s(%s): %s", op, path, strerror(saved));
  else
    log_msg("%s: %s", op, strerror(saved));
  errno = saved;
}
