/* netd's C tests: the house harness (CHECK, CHECK_STR, test_finish, the seeded pick) and what
 * the fuzz loops of its parsers share. */
#ifndef BOXLITE_NETD_TEST_H
#define BOXLITE_NETD_TEST_H

#include <stdlib.h>

#include "../../guest/test.h"

#define FUZZ_ROUNDS 20000

/* An exact-size heap copy, so that ASan sees a read one byte past the end. */
static inline uint8_t *copy_exact(const void *bytes, size_t len) {
  uint8_t *copy = malloc(len ? len : 1);
  if (len) memcpy(copy, bytes, len);
  return copy;
}

/*
 * Applies one to four edits to buf[0, len) (cap bytes): a bit flipped, a byte set to a value on
 * a binary parser's edges (lengths 0, 63, 64; pointer bits; '.', ':', CR, LF), a big-endian
 * 16-bit field set to an edge length, a cut, random bytes appended, or a slice copied over
 * another. Returns the new length.
 */
static inline size_t mutate(uint8_t *buf, size_t len, size_t cap) {
  static const uint8_t edges[] = {0x00, 0x01, 0x03, 0x16, 0x3f, 0x40, 0x7f, 0x80, 0xc0, 0xc1, 0xff, '.', ':', '\r', '\n', ' ', 'A'};
  static const uint16_t lengths[] = {0, 1, 2, 3, 4, 5, 32, 63, 64, 255, 256, 16384, 16385, 0xffff};
  for (size_t edits = 1 + pick(4); edits > 0; edits--) {
    size_t at = len ? pick(len) : 0;
    switch (pick(6)) {
    case 0:
      if (len) buf[at] ^= (uint8_t)(1u << pick(8));
      break;
    case 1:
      if (len) buf[at] = edges[pick(sizeof edges)];
      break;
    case 2:
      if (len >= 2) {
        uint16_t v = lengths[pick(sizeof lengths / sizeof *lengths)];
        at = pick(len - 1);
        buf[at] = (uint8_t)(v >> 8);
        buf[at + 1] = (uint8_t)v;
      }
      break;
    case 3:
      len = pick(len + 1);
      break;
    case 4:
      for (size_t extra = pick(17); extra > 0 && len < cap; extra--) buf[len++] = (uint8_t)test_rand(&test_rng);
      break;
    default:
      if (len) {
        size_t from = pick(len), n = 1 + pick(len - (from > at ? from : at));
        memmove(buf + at, buf + from, n);
      }
    }
  }
  return len;
}

#endif
