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

/* Reads a query (QR=0, OPCODE=0 QUERY, QDCOUNT=1; what follows the question, such as an EDNS OPT
 * record, is left alone). Malformed, and -1: anything short or out of bounds, a compression
 * pointer in the question, a label of more than 63 bytes, a name of more than 253 characters,
 * or a label byte other than a letter, digit, '-' or '_' (a dot or a NUL inside a label would
 * make the dotted name say something else than the wire does). 0, with q filled. */
int dns_parse_query(const uint8_t *msg, size_t len, struct dns_question *q);

/* Writes the reply to `query` into out (which may be query itself): its ID and question echoed
 * byte for byte (so the name keeps the case the client sent), RD copied, QR and RA set, RCODE
 * `rcode`, no EDNS record, and when `addr` is not NULL one A answer with `ttl` whose name points
 * at the question (the caller gives an address only to an A question). Returns the length, or 0
 * when the query is malformed (dns_parse_query), rcode is above 15 or out is too small. */
size_t dns_build_reply(const uint8_t *query, size_t qlen, uint8_t rcode, const struct in_addr *addr, uint32_t ttl, uint8_t *out, size_t cap);

/* The addresses of the A records (class IN) in a response's answer section, at most max (the
 * first ones), whoever owns them: the upstream resolver answers one question, so they are its
 * CNAME chain's. Other records are skipped by their RDLENGTH. Every name is walked, compression
 * pointers included (each must point before the name it continues, so no walk loops). Returns
 * how many, or -1 when malformed: QR clear, anything out of bounds, an A record whose RDLENGTH
 * is not 4, a name of more than 255 bytes. */
int dns_answer_addrs(const uint8_t *msg, size_t len, struct in_addr *out, int max);

#endif
