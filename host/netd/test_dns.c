/* DNS messages: real queries, replies built from them, answers read from hostile responses. */
#include <arpa/inet.h>

#include "dns.h"
#include "test.h"
#include "test_vectors.h"

#define MSG_MAX 600
#define HEADER_BYTES 12

/* A response to "www.example.com A" as resolvers send it: a CNAME to cdn.example.com (its
 * name compressed twice), then A, AAAA, A, an A of class CH and a TXT, all owned by pointers. */
static const uint8_t response[] = {
    0x12, 0x34, 0x81, 0x80, 0x00, 0x01, 0x00, 0x06, 0x00, 0x00, 0x00, 0x00,          /* header: QR RD RA, 1 question, 6 answers */
    3, 'w', 'w', 'w', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0,     /* 12: www.example.com */
    0x00, 0x01, 0x00, 0x01,                                                          /* A IN */
    0xc0, 0x0c, 0x00, 0x05, 0x00, 0x01, 0x00, 0x00, 0x01, 0x2c, 0x00, 0x06,          /* 33: CNAME, TTL 300, 6 bytes: */
    3, 'c', 'd', 'n', 0xc0, 0x10,                                                    /* 45: cdn + example.com at 16 */
    0xc0, 0x2d, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x3c, 0x00, 0x04, 93, 184, 216, 34,
    0xc0, 0x2d, 0x00, 0x1c, 0x00, 0x01, 0x00, 0x00, 0x00, 0x3c, 0x00, 0x10, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
    0xc0, 0x2d, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x3c, 0x00, 0x04, 93, 184, 216, 35,
    0xc0, 0x2d, 0x00, 0x01, 0x00, 0x03, 0x00, 0x00, 0x00, 0x3c, 0x00, 0x04, 10, 0, 0, 1,
    0xc0, 0x0c, 0x00, 0x10, 0x00, 0x01, 0x00, 0x00, 0x00, 0x3c, 0x00, 0x03, 2, 'h', 'i',
};
#define OFF_CNAME_NAME 33
#define OFF_FIRST_A 51

static int parse(const uint8_t *msg, size_t len, struct dns_question *q) {
  uint8_t *copy = copy_exact(msg, len);
  int rc = dns_parse_query(copy, len, q);
  free(copy);
  return rc;
}

static int answers(const uint8_t *msg, size_t len, struct in_addr *out, int max) {
  uint8_t *copy = copy_exact(msg, len);
  int rc = dns_answer_addrs(copy, len, out, max);
  free(copy);
  return rc;
}

static void test_reads_real_queries(void) {
  struct dns_question q;
  CHECK(parse(query_glibc, sizeof query_glibc, &q) == 0);
  CHECK(q.id == 0x07b6 && q.qtype == DNS_TYPE_A && q.qclass == 1);
  CHECK_STR(q.name, "www.example.test");
  CHECK(parse(query_glibc_edns, sizeof query_glibc_edns, &q) == 0);
  CHECK(q.id == 0xbd61 && q.qtype == DNS_TYPE_A);
  CHECK_STR(q.name, "pypi.org");
  static const uint8_t root[] = {0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 1};
  CHECK(parse(root, sizeof root, &q) == 0 && q.qtype == 2);
  CHECK_STR(q.name, "");
}

/* Bytes to write over a message, and what they break. */
struct edit {
  size_t at;
  const char *bytes;
  size_t n;
};

/* A copy of msg in buf with `n` bytes written at `at`; returns its length. */
static size_t edited(uint8_t *buf, const uint8_t *msg, size_t len, size_t at, const void *bytes, size_t n) {
  memcpy(buf, msg, len);
  memcpy(buf + at, bytes, n);
  return len;
}

static void test_refuses_malformed_queries(void) {
  uint8_t buf[MSG_MAX];
  struct dns_question q;
  for (size_t cut = 0; cut < sizeof query_glibc; cut++) CHECK(parse(query_glibc, cut, &q) == -1);
  static const struct edit edits[] = {
      {2, "\x81\x00", 2}, /* QR: a response */
      {2, "\x09\x00", 2}, /* OPCODE 1 (IQUERY) */
      {4, "\x00\x00", 2}, /* no question */
      {4, "\x00\x02", 2}, /* two */
      {12, "\x40", 1}, /* a label of 64 */
      {12, "\x80", 1}, /* the retired extended label type */
      {12, "\xc0\x0c", 2}, /* a compression pointer */
      {16, "\xc0\x0c", 2}, /* one after a label */
      {14, ".", 1}, /* a dot inside a label */
      {14, " ", 1},
      {14, "\0", 1},
      {14, "\xff", 1},
      {14, "*", 1},
      {29, "\x05", 1}, /* the terminating zero overwritten: the name runs off the end */
  };
  for (size_t i = 0; i < sizeof edits / sizeof *edits; i++) {
    size_t len = edited(buf, query_glibc, sizeof query_glibc, edits[i].at, edits[i].bytes, edits[i].n);
    if (parse(buf, len, &q) != -1) fprintf(stderr, "query edit %zu accepted\n", i);
    CHECK(parse(buf, len, &q) == -1);
  }
  CHECK(parse(buf, edited(buf, query_glibc, sizeof query_glibc, 14, "-_", 2), &q) == 0); /* '-' and '_' are name bytes */
}

/* A query for a name of the given label lengths (each label 'a' times its length). */
static size_t query_for(uint8_t *buf, const int *labels, size_t n) {
  memcpy(buf, query_glibc, HEADER_BYTES);
  size_t pos = HEADER_BYTES;
  for (size_t i = 0; i < n; i++) {
    buf[pos++] = (uint8_t)labels[i];
    memset(buf + pos, 'a', (size_t)labels[i]);
    pos += (size_t)labels[i];
  }
  memcpy(buf + pos, "\0\0\1\0\1", 5);
  return pos + 5;
}

static void test_name_length_limits(void) {
  uint8_t buf[MSG_MAX];
  struct dns_question q;
  const int longest[] = {63, 63, 63, 61}; /* 255 bytes on the wire, 253 characters */
  CHECK(parse(buf, query_for(buf, longest, 4), &q) == 0 && strlen(q.name) == 253);
  const int too_long[] = {63, 63, 63, 62};
  CHECK(parse(buf, query_for(buf, too_long, 4), &q) == -1);
  int many[128]; /* single-character labels: 127 make 253 characters */
  for (size_t i = 0; i < 128; i++) many[i] = 1;
  CHECK(parse(buf, query_for(buf, many, 127), &q) == 0 && strlen(q.name) == 253);
  CHECK(parse(buf, query_for(buf, many, 128), &q) == -1);
}

static void test_builds_replies_that_echo_the_question(void) {
  uint8_t out[MSG_MAX];
  size_t n = dns_build_reply(query_glibc, sizeof query_glibc, DNS_RCODE_NXDOMAIN, NULL, 0, out, sizeof out);
  CHECK(n == sizeof query_glibc);
  static const uint8_t header[] = {0x07, 0xb6, 0x81, 0x83, 0, 1, 0, 0, 0, 0, 0, 0}; /* QR RD RA, NXDOMAIN */
  CHECK(memcmp(out, header, sizeof header) == 0);
  CHECK(memcmp(out + HEADER_BYTES, query_glibc + HEADER_BYTES, sizeof query_glibc - HEADER_BYTES) == 0); /* "Www.Example.TEST" as sent */
  struct in_addr none[1];
  CHECK(answers(out, n, none, 1) == 0);

  /* An A answer to the EDNS query: the OPT record is dropped, the answer points at the name. */
  struct in_addr addr = {htonl(0xc0a87ffe)};
  size_t qend = HEADER_BYTES + 10 + 4; /* pypi.org: 10 bytes, then QTYPE and QCLASS */
  n = dns_build_reply(query_glibc_edns, sizeof query_glibc_edns, DNS_RCODE_NOERROR, &addr, 0x01020304, out, sizeof out);
  CHECK(n == qend + 16);
  static const uint8_t header_a[] = {0xbd, 0x61, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0};
  static const uint8_t answer[] = {0xc0, 0x0c, 0, 1, 0, 1, 1, 2, 3, 4, 0, 4, 192, 168, 127, 254};
  CHECK(memcmp(out, header_a, sizeof header_a) == 0 && memcmp(out + qend, answer, sizeof answer) == 0);
  struct in_addr got[2];
  CHECK(answers(out, n, got, 2) == 1 && got[0].s_addr == addr.s_addr);

  /* RD clear stays clear; the reply may be written over the query. */
  uint8_t in_place[MSG_MAX];
  memcpy(in_place, query_glibc, sizeof query_glibc);
  in_place[2] = 0;
  n = dns_build_reply(in_place, sizeof query_glibc, DNS_RCODE_REFUSED, &addr, 60, in_place, sizeof in_place);
  CHECK(n == sizeof query_glibc + 16 && in_place[2] == 0x80 && in_place[3] == 0x85);
  CHECK(answers(in_place, n, got, 2) == 1 && got[0].s_addr == addr.s_addr);
}

static void test_refuses_to_build_what_does_not_fit(void) {
  uint8_t out[MSG_MAX];
  struct in_addr addr = {htonl(0x01020304)};
  size_t need = sizeof query_glibc + 16;
  uint8_t *exact = malloc(need);
  CHECK(dns_build_reply(query_glibc, sizeof query_glibc, 0, &addr, 1, exact, need) == need);
  CHECK(dns_build_reply(query_glibc, sizeof query_glibc, 0, &addr, 1, exact, need - 1) == 0);
  CHECK(dns_build_reply(query_glibc, sizeof query_glibc, 0, NULL, 1, exact, sizeof query_glibc - 1) == 0);
  free(exact);
  CHECK(dns_build_reply(query_glibc, sizeof query_glibc, 16, NULL, 0, out, sizeof out) == 0);
  CHECK(dns_build_reply(query_glibc, sizeof query_glibc - 1, 0, NULL, 0, out, sizeof out) == 0);
  CHECK(dns_build_reply(response, sizeof response, 0, NULL, 0, out, sizeof out) == 0); /* a response is no query */
}

static void test_reads_addresses_past_cnames_and_other_records(void) {
  struct in_addr got[4];
  CHECK(answers(response, sizeof response, got, 4) == 2);
  CHECK(got[0].s_addr == htonl(0x5db8d822) && got[1].s_addr == htonl(0x5db8d823));
  CHECK(answers(response, sizeof response, got, 1) == 1 && got[0].s_addr == htonl(0x5db8d822));
  CHECK(answers(response, sizeof response, got, 0) == 0);
  for (size_t cut = 0; cut < sizeof response; cut++) CHECK(answers(response, cut, got, 4) == -1);
}

static void test_refuses_hostile_responses(void) {
  uint8_t buf[MSG_MAX];
  struct in_addr got[4];
  static const struct edit edits[] = {
      {2, "\x01", 1}, /* QR clear: a query */
      {6, "\x00\x07", 2}, /* one answer more than there is */
      {OFF_CNAME_NAME, "\xc0\x21", 2}, /* a pointer to itself */
      {OFF_CNAME_NAME, "\xc0\x2d", 2}, /* a pointer forward */
      {OFF_CNAME_NAME, "\xc0\x05", 2}, /* a pointer into the header */
      {OFF_CNAME_NAME, "\xff\xff", 2}, /* a pointer past the end */
      {OFF_CNAME_NAME, "\x40", 1}, /* a label of 64 */
      {OFF_CNAME_NAME + 10, "\x00\x07", 2}, /* RDLENGTH past the CNAME's data */
      {OFF_CNAME_NAME + 10, "\xff\xff", 2}, /* RDLENGTH past the end */
      {OFF_FIRST_A + 10, "\x00\x05", 2}, /* an A of 5 bytes */
      {OFF_FIRST_A + 10, "\x00\x03", 2}, /* or 3 */
      {49, "\xc0\x31", 2}, /* cdn's pointer to itself (49) */
  };
  for (size_t i = 0; i < sizeof edits / sizeof *edits; i++) {
    size_t len = edited(buf, response, sizeof response, edits[i].at, edits[i].bytes, edits[i].n);
    int rc = answers(buf, len, got, 4);
    if (rc != -1) fprintf(stderr, "response edit %zu read as %d answers\n", i, rc);
    CHECK(rc == -1);
  }
  /* An A of 5 bytes as the last record, where nothing after it can be misread instead. */
  uint8_t last[MSG_MAX];
  memcpy(last, response, OFF_FIRST_A + 16);
  last[7] = 2; /* ANCOUNT: the CNAME and this A */
  last[OFF_FIRST_A + 11] = 5;
  CHECK(answers(last, OFF_FIRST_A + 17, got, 4) == -1);
  last[OFF_FIRST_A + 11] = 4;
  CHECK(answers(last, OFF_FIRST_A + 16, got, 4) == 1);
}

/* Questions that chain through pointers, each a label of 63 and a pointer to the one before:
 * the fourth is 257 bytes long in full. */
static void test_refuses_names_that_chain_past_255_bytes(void) {
  uint8_t buf[MSG_MAX] = {0x00, 0x01, 0x81, 0x80};
  struct in_addr got[1];
  size_t pos = HEADER_BYTES, prev = 0;
  for (int k = 0; k < 4; k++) {
    size_t start = pos;
    buf[pos++] = 63;
    memset(buf + pos, 'a', 63);
    pos += 63;
    if (k > 0) buf[pos++] = (uint8_t)(0xc0 | prev >> 8);
    buf[pos++] = (uint8_t)(k > 0 ? prev : 0);
    memcpy(buf + pos, "\0\1\0\1", 4);
    pos += 4;
    prev = start;
    buf[5] = (uint8_t)(k + 1); /* QDCOUNT */
    CHECK(answers(buf, pos, got, 1) == (k < 3 ? 0 : -1));
  }
}

/* Random edits of the real queries and the response: nothing crashes or reads out of bounds, a
 * question read is a clean name, and a reply built is one dns_answer_addrs reads back. */
static void fuzz_messages(void) {
  static const struct {
    const uint8_t *bytes;
    size_t len;
  } seeds[] = {{query_glibc, sizeof query_glibc}, {query_glibc_edns, sizeof query_glibc_edns}, {response, sizeof response}};
  uint8_t buf[MSG_MAX];
  int questions = 0, replies = 0, answered = 0;
  for (int round = 0; round < FUZZ_ROUNDS; round++) {
    size_t seed = pick(sizeof seeds / sizeof *seeds);
    memcpy(buf, seeds[seed].bytes, seeds[seed].len);
    size_t len = mutate(buf, seeds[seed].len, sizeof buf);
    uint8_t *msg = copy_exact(buf, len);
    struct in_addr addr = {(uint32_t)test_rand(&test_rng)}, got[4];
    bool with_addr = pick(2);
    size_t cap = pick(MSG_MAX);
    uint8_t *out = malloc(cap ? cap : 1);
    size_t n = dns_build_reply(msg, len, (uint8_t)pick(16), with_addr ? &addr : NULL, 60, out, cap);
    struct dns_question q;
    if (dns_parse_query(msg, len, &q) == 0) {
      questions++;
      size_t name_len = strlen(q.name);
      CHECK(name_len <= 253 && strspn(q.name, "abcdefghijklmnopqrstuvwxyz0123456789-_.") == name_len);
    } else {
      CHECK(n == 0);
    }
    CHECK(n <= cap);
    if (n) {
      replies++;
      CHECK(dns_answer_addrs(out, n, got, 4) == with_addr && (!with_addr || got[0].s_addr == addr.s_addr));
    }
    int max = (int)pick(5);
    int rc = dns_answer_addrs(msg, len, got, max);
    CHECK(rc >= -1 && rc <= max);
    answered += rc > 0;
    free(out);
    free(msg);
  }
  /* The fuzz reaches past the checks. */
  CHECK(questions > FUZZ_ROUNDS / 20 && replies > FUZZ_ROUNDS / 40 && answered > FUZZ_ROUNDS / 40);
}

int main(void) {
  test_reads_real_queries();
  test_refuses_malformed_queries();
  test_name_length_limits();
  test_builds_replies_that_echo_the_question();
  test_refuses_to_build_what_does_not_fit();
  test_reads_addresses_past_cnames_and_other_records();
  test_refuses_hostile_responses();
  test_refuses_names_that_chain_past_255_bytes();
  fuzz_messages();
  return test_finish("test_dns");
}
