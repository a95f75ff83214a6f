/* A minimal test harness for the guest's C tests (sds-style: self-contained, no framework). */
#ifndef BOXLITE_TEST_H
#define BOXLITE_TEST_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static int test_failures;
static int test_checks;

#define CHECK(cond)                                                                \
  do {                                                                             \
    test_checks++;                                                                 \
    if (!(cond)) {                                                                 \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);     \
      test_failures++;                                                             \
    }                                                                              \
  } while (0)

#define CHECK_STR(got, want)                                                                        \
  do {                                                                                              \
    const char *got_ = (got), *want_ = (want);                                                      \
    test_checks++;                                                                                  \
    if (!got_ || strcmp(got_, want_) != 0) {                                                        \
      fprintf(stderr, "%s:%d: %s is \"%s\", want \"%s\"\n", __FILE__, __LINE__, #got, got_ ? got_ : "(null)", want_); \
      test_failures++;                                                                              \
    }                                                                                               \
  } while (0)

static inline int test_finish(const char *name) {
  if (test_failures) {
    fprintf(stderr, "%s: %d of %d checks failed\n", name, test_failures, test_checks);
    return 1;
  }
  printf("%s: %d checks passed\n", name, test_checks);
  return 0;
}

/* xorshift64*: a fixed seed makes every fuzz run the same run. */
static inline uint64_t test_rand(uint64_t *state) {
  uint64_t x = *state;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *state = x;
  return x * 2685821657736338717ull;
}

static uint64_t test_rng = 0x9e3779b97f4a7c15ull;
/* A random number in [0, n). */
static inline size_t pick(size_t n) { return (size_t)(test_rand(&test_rng) % n); }

#endif
