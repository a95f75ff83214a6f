/* DNS messages (RFC 1035) as the box's resolver reads and writes them: one question, A answers. */
#ifndef BOXLITE_NETD_DNS_H
#define BOXLITE_NETD_DNS_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#define DNS_NAME_MAX 254 /* 253 characters and the NUL */
#define DNS_TYPE_A 1
#define DNS_TYPE_AAAA 28
#define DNS_RCODE_NOERROR 0
#define DNS_RCODE_SERVFAIL 2
#define DNS_RCODE_NXDOMAIN 3
#define DNS_RCODE_REFUSED 5

struct dns_question {
  uint16_t id;
  char name[DNS_NAME_MAX]; /* lowercase, dotted, no trailing dot ("" for the root) */
  uint16_t qtype;
  uint16_t qclass;
};

/* Reads a query (QR=0, QDCOUNT=1; compression pointers refused in the question). 0, or -1 when malformed. */
int dns_parse_query(const uint8_t *msg, size_t len, struct dns_question *q);

/* Writes the reply to `query` into out: its header and question echoed, QR and RA set, RCODE
 * `rcode`, and when `addr` is not NULL one A answer with `ttl`. Returns the length, or 0 when
 * the query is malformed or out is too small. */
size_t dns_build_reply(const uint8_t *query, size_t qlen, uint8_t rcode, const struct in_addr *addr, uint32_t ttl, uint8_t *out, size_t cap);

/* The addresses of the A records in a response's answer section (following compression
 * pointers safely), at most max. Returns how many, or -1 when malformed. */
int dns_answer_addrs(const uint8_t *msg, size_t len, struct in_addr *out, int max);

#endif
