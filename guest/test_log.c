/* log.h for the tests: the fuzzer makes thousands of "malformed" reports; keep them quiet
 * unless TEST_VERBOSE is set. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

void log_msg(const char *fmt, ...) {
  if (!getenv("TEST_VERBOSE")) return;
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

void log_errno(const char *op, const char *path) {
  int saved = errno;
  log_msg("%s(%s): %s", op, path ? path : "", strerror(saved));
  errno = saved;
}
