/* Putting the box's fragments back together: any order, duplicates and overlaps, what is
 * refused, the time limit and the bound on datagrams at once; fuzzed. */
#include <stdlib.h>

#include "frag.h"
#include "test.h"
#include "test_frames.h"

#define DATAGRAM 3000

static uint8_t datagram[DATAGRAM];

/* The frame of datagram[offset, offset + len) as a piece of datagram `id`. */
static size_t piece(uint8_t *frame, uint16_t id, size_t offset, size_t len, bool more) {
  return build_frame(frame, "10.0.0.1", IPPROTO_UDP, id, (uint16_t)((more ? 0x2000 : 0) | offset / 8), datagram + offset, len);
}

/* Adds a piece; returns the whole datagram's frame when it completed one. */
static uint8_t *add(struct frags *f, uint16_t id, size_t offset, size_t len, bool more, int64_t now, size_t *out_len) {
  uint8_t frame[2048];
  size_t flen = piece(frame, id, offset, len, more);
  struct ipv4_view ip;
  CHECK(packet_ipv4(frame, flen, &ip) == 0 && ip.fragment);
  return frags_add(f, frame, &ip, now, out_len);
}

static void check_whole(const uint8_t *frame, size_t len, size_t size) {
  struct ipv4_view ip;
  CHECK(frame != NULL);
  if (!frame) return;
  CHECK(packet_ipv4(frame, len, &ip) == 0);
  CHECK(!ip.fragment && ip.id == 1 && ip.proto == IPPROTO_UDP && ip.payload_len == size);
  CHECK(ones_sum(0, frame + 14, 20) == 0xffff);
  CHECK(memcmp(ip.payload, datagram, size) == 0);
}

static void test_any_order_makes_the_datagram(void) {
  /* Three pieces: [0, 1480) [1480, 2960) [2960, 3000). */
  static const int orders[][3] = {{0, 1, 2}, {2, 1, 0}, {1, 2, 0}, {2, 0, 1}, {1, 0, 2}, {0, 2, 1}};
  for (size_t o = 0; o < sizeof orders / sizeof *orders; o++) {
    struct frags *f = frags_new();
    size_t len = 0;
    uint8_t *whole = NULL;
    for (int k = 0; k < 3; k++) {
      int i = orders[o][k];
      whole = add(f, 1, (size_t)i * 1480, i == 2 ? 40 : 1480, i != 2, 0, &len);
      CHECK((whole != NULL) == (k == 2));
    }
    check_whole(whole, len, DATAGRAM);
    frags_free(f);
  }
}

static void test_duplicates_and_overlaps_still_make_it(void) {
  struct frags *f = frags_new();
  size_t len = 0;
  CHECK(add(f, 1, 0, 1480, true, 0, &len) == NULL);
  CHECK(add(f, 1, 0, 1480, true, 0, &len) == NULL);
  CHECK(add(f, 1, 800, 1480, true, 0, &len) == NULL);
  uint8_t *whole = add(f, 1, 2280, 720, false, 0, &len);
  check_whole(whole, len, DATAGRAM);
  frags_free(f);
}

static void test_refuses_pieces_no_datagram_has(void) {
  struct frags *f = frags_new();
  size_t len = 0;
  /* A middle piece that is not whole blocks, and one ending past 65515 bytes of payload. */
  CHECK(add(f, 1, 0, 1000, true, 0, &len) == NULL);
  CHECK(add(f, 1, 1000, 1001, true, 0, &len) == NULL);
  uint8_t frame[2048];
  size_t flen = build_frame(frame, "10.0.0.1", IPPROTO_UDP, 2, 0x1fff, datagram, 100);
  struct ipv4_view ip;
  CHECK(packet_ipv4(frame, flen, &ip) == 0 && ip.offset + ip.payload_len > 65515);
  CHECK(frags_add(f, frame, &ip, 0, &len) == NULL);
  /* Two last pieces that disagree on the length: the datagram is given up. */
  CHECK(add(f, 3, 1480, 100, false, 0, &len) == NULL);
  CHECK(add(f, 3, 1480, 200, false, 0, &len) == NULL);
  CHECK(add(f, 3, 0, 1480, true, 0, &len) == NULL);
  frags_free(f);
}

static void test_gives_up_after_five_seconds(void) {
  struct frags *f = frags_new();
  size_t len = 0;
  CHECK(add(f, 1, 1480, 1520, false, 0, &len) == NULL);
  CHECK(add(f, 1, 0, 1480, true, 5000, &len) == NULL);
  uint8_t *whole = add(f, 1, 1480, 1520, false, 5001, &len);
  check_whole(whole, len, DATAGRAM);
  frags_free(f);
}

static void test_keeps_eight_datagrams_at_once_forgetting_the_oldest(void) {
  struct frags *f = frags_new();
  size_t len = 0;
  for (uint16_t id = 1; id <= 9; id++) CHECK(add(f, id, 1480, 1520, false, id, &len) == NULL);
  /* The ninth is kept, and datagram 1, the oldest when it came, was forgotten. */
  CHECK(add(f, 9, 0, 1480, true, 20, &len) != NULL);
  CHECK(add(f, 2, 0, 1480, true, 20, &len) != NULL);
  CHECK(add(f, 1, 0, 1480, true, 20, &len) == NULL);
  frags_free(f);
}

static void test_fuzzed_pieces_stay_within_bounds(void) {
  struct frags *f = frags_new();
  uint8_t frame[2048];
  for (int round = 0; round < FUZZ_ROUNDS; round++) {
    size_t offset = pick(4) == 0 ? pick(65536) & ~(size_t)7 : pick(DATAGRAM / 8) * 8;
    size_t len = pick(1480);
    if (offset + len > DATAGRAM) len = offset < DATAGRAM ? DATAGRAM - offset : 0;
    uint16_t frag = (uint16_t)((pick(2) ? 0x2000 : 0) | (offset / 8 & 0x1fff));
    size_t flen = build_frame(frame, pick(2) ? "10.0.0.1" : "10.0.0.2", IPPROTO_UDP, (uint16_t)pick(12), frag,
                              datagram + (offset < DATAGRAM ? offset : 0), len);
    uint8_t *copy = copy_exact(frame, flen);
    struct ipv4_view ip;
    size_t out_len = 0;
    if (packet_ipv4(copy, flen, &ip) == 0 && ip.fragment) {
      uint8_t *whole = frags_add(f, copy, &ip, round / 100, &out_len);
      if (whole) CHECK(packet_ipv4(whole, out_len, &ip) == 0 && !ip.fragment && out_len <= 14 + 65535);
    }
    free(copy);
  }
  frags_free(f);
}

int main(void) {
  for (size_t i = 0; i < DATAGRAM; i++) datagram[i] = (uint8_t)(i * 13 + 1);
  test_any_order_makes_the_datagram();
  test_duplicates_and_overlaps_still_make_it();
  test_refuses_pieces_no_datagram_has();
  test_gives_up_after_five_seconds();
  test_keeps_eight_datagrams_at_once_forgetting_the_oldest();
  test_fuzzed_pieces_stay_within_bounds();
  return test_finish("test_frag");
}
