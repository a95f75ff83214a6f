/* The adaptive window: grows while requests come closer than the longest look, shrinks to
 * nothing while they do not, and never leaves [0, SPIN_MAX_NS]. */
#include "spin.h"
#include "test.h"

static void test_grows_to_the_cap(void) {
  struct spin s = {0};
  spin_slept(&s, 80000);
  CHECK(s.window_ns == SPIN_START_NS);
  for (int i = 0; i < 10; i++) spin_slept(&s, 80000);
  CHECK(s.window_ns == SPIN_MAX_NS);
}

static void test_shrinks_to_nothing(void) {
  struct spin s = {.window_ns = SPIN_MAX_NS};
  spin_slept(&s, SPIN_MAX_NS + 1);
  CHECK(s.window_ns == SPIN_MAX_NS / 2);
  for (int i = 0; i < 10; i++) spin_slept(&s, 5000000000ull);
  CHECK(s.window_ns == 0);
}

static void test_gap_at_the_cap_still_grows(void) {
  struct spin s = {.window_ns = SPIN_START_NS};
  spin_slept(&s, SPIN_MAX_NS);
  CHECK(s.window_ns == 2 * SPIN_START_NS);
}

int main(void) {
  test_grows_to_the_cap();
  test_shrinks_to_nothing();
  test_gap_at_the_cap_still_grows();
  return test_finish("spin");
}
