#include "spin.h"

void spin_slept(struct spin *s, uint64_t gap_ns) {
  if (gap_ns <= SPIN_MAX_NS) {
    uint32_t grown = s->window_ns < SPIN_START_NS ? SPIN_START_NS : s->window_ns * 2;
    s->window_ns = grown > SPIN_MAX_NS ? SPIN_MAX_NS : grown;
  } else {
    s->window_ns = s->window_ns / 2 < SPIN_START_NS ? 0 : s->window_ns / 2;
  }
}
