/*
 * How long fsd keeps looking at the rings after serving, before it sleeps in poll: an
 * adaptive window, as KVM's halt polling. A metadata-heavy command (an untar, a walk) sends
 * its next request ~100 µs after the last reply; sleeping until its kick and being woken
 * costs a quarter of that request's round trip on a 2-core host that is itself a VM (a
 * cross-CPU wakeup each way). Pure: the caller measures the time and does the looking.
 */
#ifndef BOXLITE_FSD_SPIN_H
#define BOXLITE_FSD_SPIN_H

#include <stdint.h>

/* The longest look: requests further apart than this are served from sleep. */
#define SPIN_MAX_NS 200000u
/* The first window after none: doubled from there while it is too short. */
#define SPIN_START_NS 25000u

struct spin {
  uint32_t window_ns; /* 0: sleep at once */
};

/*
 * fsd slept (the window ran out, or was 0) and a request came `gap_ns` after it last served:
 * a gap the longest window would have covered grows the window, a longer one shrinks it.
 */
void spin_slept(struct spin *s, uint64_t gap_ns);

#endif
