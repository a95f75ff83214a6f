/* DNS messages (dns.h). Offsets and limits from RFC 1035 4.1 and 3.1. */
#include "dns.h"

#include <stdbool.h>
#include <string.h>

#include "hostname.h"

#define HEADER_LEN 12
#define NAME_WIRE_MAX 255 /* RFC 1035 3.1: length octets and labels together */
#define POINTER_BITS 0xc0 /* a label length byte 11xxxxxx is a compression pointer (4.1.4) */
#define FLAG_QR 0x8000
#define OPCODE_MASK 0x7800
#define FLAG_RD 0x0100
#define FLAG_RA 0x0080
#define CLASS_IN 1
#define ANSWER_A_LEN 16 /* pointer 2, type 2, class 2, TTL 4, RDLENGTH 2, address 4 */

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

static void put16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}

/*
 * Walks the name at off; *end is where the message goes on after it. Each compression pointer
 * must point into the message before where the run it ends began: the runs then start ever
 * earlier, so the walk ends whatever the bytes. A query's question is the message's first name,
 * so the same rule refuses every pointer in it. With text (a query's question), only host-name
 * bytes, and the name written lowercase and dotted; without (a response), any label bytes.
 */
static int walk_name(const uint8_t *msg, size_t len, size_t off, char *text, size_t *end) {
  size_t pos = off, run = off, wire = 0, out = 0;
  bool jumped = false;
  for (;;) {
    if (pos >= len) return -1;
    uint8_t b = msg[pos];
    if ((b & POINTER_BITS) == POINTER_BITS) {
      if (pos + 1 >= len) return -1;
      size_t target = (size_t)(b & 0x3f) << 8 | msg[pos + 1];
      if (target < HEADER_LEN || target >= run) return -1;
      if (!jumped) *end = pos + 2;
      jumped = true;
      pos = run = target;
      continue;
    }
    /* 01 and 10 were extended label types (RFC 6891 5 retired them); here, as for lengths over 63, malformed. */
    if (b & POINTER_BITS) return -1;
    wire += 1 + (size_t)b;
    if (wire > NAME_WIRE_MAX || b >= len - pos) return -1;
    if (b == 0) break;
    for (size_t i = 1; text && i <= b; i++) {
      uint8_t c = msg[pos + i];
      if (!hostname_byte(c)) return -1;
      if (i == 1 && out) text[out++] = '.';
      text[out++] = (char)ascii_lower(c);
    }
    pos += 1 + (size_t)b;
  }
  if (!jumped) *end = pos + 1;
  if (text) text[out] = '\0';
  return 0;
}

/* A query's question; *end: just past its QCLASS. */
static int parse_question(const uint8_t *msg, size_t len, struct dns_question *q, size_t *end) {
  if (len < HEADER_LEN || (get16(msg + 2) & (FLAG_QR | OPCODE_MASK)) || get16(msg + 4) != 1) return -1;
  size_t name_end;
  if (walk_name(msg, len, HEADER_LEN, q->name, &name_end) != 0 || len - name_end < 4) return -1;
  q->id = get16(msg);
  q->qtype = get16(msg + name_end);
  q->qclass = get16(msg + name_end + 2);
  *end = name_end + 4;
  return 0;
}

int dns_parse_query(const uint8_t *msg, size_t len, struct dns_question *q) {
  struct dns_question parsed;
  size_t end;
  if (parse_question(msg, len, &parsed, &end) != 0) return -1;
  *q = parsed;
  return 0;
}

size_t dns_build_reply(const uint8_t *query, size_t qlen, uint8_t rcode, const struct in_addr *addr, uint32_t ttl, uint8_t *out, size_t cap) {
  struct dns_question q;
  size_t qend;
  if (rcode > 15 || parse_question(query, qlen, &q, &qend) != 0) return 0;
  size_t total = qend + (addr ? ANSWER_A_LEN : 0);
  if (total > cap) return 0;
  uint16_t flags = FLAG_QR | (get16(query + 2) & FLAG_RD) | FLAG_RA | rcode;
  memmove(out, query, qend);
  put16(out + 2, flags);
  put16(out + 6, addr ? 1 : 0); /* ANCOUNT */
  put16(out + 8, 0);            /* NSCOUNT */
  put16(out + 10, 0);           /* ARCOUNT: the query's OPT record is not echoed */
  if (!addr) return total;
  uint8_t *a = out + qend;
  put16(a, POINTER_BITS << 8 | HEADER_LEN); /* the question's name */
  put16(a + 2, DNS_TYPE_A);
  put16(a + 4, CLASS_IN);
  put16(a + 6, (uint16_t)(ttl >> 16));
  put16(a + 8, (uint16_t)ttl);
  put16(a + 10, 4);
  memcpy(a + 12, &addr->s_addr, 4); /* already in network order */
  return total;
}

int dns_answer_addrs(const uint8_t *msg, size_t len, struct in_addr *out, int max) {
  if (len < HEADER_LEN || !(get16(msg + 2) & FLAG_QR)) return -1;
  size_t pos = HEADER_LEN;
  for (unsigned qd = get16(msg + 4); qd > 0; qd--) {
    if (walk_name(msg, len, pos, NULL, &pos) != 0 || len - pos < 4) return -1;
    pos += 4; /* QTYPE, QCLASS */
  }
  int n = 0;
  for (unsigned an = get16(msg + 6); an > 0; an--) {
    /* TYPE 2, CLASS 2, TTL 4, RDLENGTH 2, then RDATA. */
    if (walk_name(msg, len, pos, NULL, &pos) != 0 || len - pos < 10) return -1;
    uint16_t type = get16(msg + pos), class = get16(msg + pos + 2), rdlen = get16(msg + pos + 8);
    pos += 10;
    if (rdlen > len - pos) return -1;
    if (type == DNS_TYPE_A && class == CLASS_IN) {
      if (rdlen != 4) return -1;
      if (n < max) memcpy(&out[n++].s_addr, msg + pos, 4);
    }
    pos += rdlen;
  }
  return n;
}
