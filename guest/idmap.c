#include "idmap.h"

#include <stdio.h>

void idmap_swap(char buf[IDMAP_TEXT_MAX], uint32_t host, uint32_t box) {
  uint32_t lo = host < box ? host : box, hi = host < box ? box : host;
  int n = 0;
  if (lo > 0) n += snprintf(buf + n, IDMAP_TEXT_MAX - (size_t)n, "0 0 %u\n", lo);
  n += snprintf(buf + n, IDMAP_TEXT_MAX - (size_t)n, "%u %u 1\n%u %u 1\n", host, box, box, host);
  if (hi - lo > 1) n += snprintf(buf + n, IDMAP_TEXT_MAX - (size_t)n, "%u %u %u\n", lo + 1, lo + 1, hi - lo - 1);
  if (hi < 4294967294u) snprintf(buf + n, IDMAP_TEXT_MAX - (size_t)n, "%u %u %u\n", hi + 1, hi + 1, 4294967294u - hi);
}
