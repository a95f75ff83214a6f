/* The box's fragmented IPv4 datagrams, put back together before libslirp sees them: Debian 12's
 * libslirp 4.7.0 crashes on a datagram whose last fragment arrives first (its ip_reass, built
 * by GCC 12, breaks on pointer aliasing; fixed in libslirp 4.8.0), and a box must not be able to
 * end its own network that way. Whole datagrams then meet the same rules as any other. */
#ifndef BOXLITE_NETD_FRAG_H
#define BOXLITE_NETD_FRAG_H

#include <stddef.h>
#include <stdint.h>

#include "packet.h"

struct frags;

struct frags *frags_new(void);
void frags_free(struct frags *f);
/* Takes one fragment (ip, read from frame, has `fragment` set). When it completes its datagram,
 * returns that datagram as one frame (valid until the next call), its length in *out_len;
 * otherwise NULL. */
uint8_t *frags_add(struct frags *f, const uint8_t *frame, const struct ipv4_view *ip, int64_t now, size_t *out_len);

#endif
