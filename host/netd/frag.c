#include "frag.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Datagrams being put together at once; a new one past this takes the oldest one's place. */
#define SLOTS 8
/* A datagram whose pieces have not all come by then is given up (RFC 791 suggests 15 s; a
 * box's own stack sends its pieces back to back). */
#define REASSEMBLY_MS 5000
#define PAYLOAD_MAX (PACKET_IP_MAX - PACKET_IP_HLEN)
#define BLOCK 8u /* fragment offsets count in 8-byte blocks */
#define BLOCKS ((PAYLOAD_MAX + BLOCK - 1) / BLOCK)

struct datagram {
  bool used;
  struct in_addr src, dst;
  uint16_t id;
  uint8_t proto;
  int64_t born;
  bool has_first;                   /* the piece at offset 0 came: it gives the headers */
  uint8_t eth[PACKET_ETH_HLEN];
  uint8_t ip[PACKET_IP_HLEN];       /* its IP header, options left out */
  uint32_t total;                   /* payload length, known once the last piece came; 0 before */
  uint8_t *data;                    /* the payload so far, cap bytes */
  uint32_t cap;
  uint8_t have[(BLOCKS + 7) / 8];   /* which 8-byte blocks came */
};

struct frags {
  struct datagram slots[SLOTS];
  uint8_t *out; /* the last datagram completed, as a frame */
};

struct frags *frags_new(void) {
  return calloc(1, sizeof(struct frags));
}

static void forget(struct datagram *d) {
  free(d->data);
  memset(d, 0, sizeof *d);
}

void frags_free(struct frags *f) {
  for (size_t i = 0; i < SLOTS; i++) forget(&f->slots[i]);
  free(f->out);
  free(f);
}

/* The datagram this piece belongs to, made when it is the first piece to come. */
static struct datagram *find(struct frags *f, const struct ipv4_view *ip, int64_t now) {
  struct datagram *oldest = &f->slots[0], *free_slot = NULL;
  for (size_t i = 0; i < SLOTS; i++) {
    struct datagram *d = &f->slots[i];
    if (d->used && now - d->born >= REASSEMBLY_MS) forget(d);
    if (!d->used) {
      if (!free_slot) free_slot = d;
      continue;
    }
    if (d->id == ip->id && d->proto == ip->proto && d->src.s_addr == ip->src.s_addr && d->dst.s_addr == ip->dst.s_addr) return d;
    if (d->born < oldest->born) oldest = d;
  }
  struct datagram *d = free_slot ? free_slot : oldest;
  forget(d);
  *d = (struct datagram){.used = true, .src = ip->src, .dst = ip->dst, .id = ip->id, .proto = ip->proto, .born = now};
  return d;
}

static bool complete(const struct datagram *d) {
  if (!d->has_first || !d->total) return false;
  for (uint32_t b = 0; b < (d->total + BLOCK - 1) / BLOCK; b++) {
    if (!(d->have[b / 8] & (1u << (b % 8)))) return false;
  }
  return true;
}

uint8_t *frags_add(struct frags *f, const uint8_t *frame, const struct ipv4_view *ip, int64_t now, size_t *out_len) {
  uint32_t end = ip->offset + (uint32_t)ip->payload_len;
  /* Every piece but the last carries whole blocks; none reaches past the largest datagram. */
  if (end > PAYLOAD_MAX || (ip->more && (ip->payload_len == 0 || ip->payload_len % BLOCK))) return NULL;
  struct datagram *d = find(f, ip, now);
  if (!ip->more) {
    if (d->total && d->total != end) {
      forget(d);
      return NULL;
    }
    d->total = end;
  }
  if (end > d->cap) {
    uint8_t *data = realloc(d->data, end);
    if (!data) {
      forget(d);
      return NULL;
    }
    d->data = data;
    d->cap = end;
  }
  memcpy(d->data + ip->offset, ip->payload, ip->payload_len);
  for (uint32_t b = ip->offset / BLOCK; b * BLOCK < end; b++) d->have[b / 8] |= (uint8_t)(1u << (b % 8));
  if (ip->offset == 0) {
    d->has_first = true;
    memcpy(d->eth, frame, PACKET_ETH_HLEN);
    memcpy(d->ip, ip->header, PACKET_IP_HLEN);
  }
  if (!complete(d)) return NULL;
  if (!f->out && !(f->out = malloc(PACKET_ETH_HLEN + PACKET_IP_MAX))) {
    forget(d);
    return NULL;
  }
  uint8_t *h = f->out + PACKET_ETH_HLEN;
  memcpy(f->out, d->eth, PACKET_ETH_HLEN);
  memcpy(h, d->ip, PACKET_IP_HLEN);
  uint32_t len = PACKET_IP_HLEN + d->total;
  h[0] = 0x45;
  h[2] = (uint8_t)(len >> 8);
  h[3] = (uint8_t)len;
  h[6] &= 0x40; /* DF stays; MF and the offset go */
  h[7] = 0;
  packet_ipv4_checksum(h);
  memcpy(h + PACKET_IP_HLEN, d->data, d->total);
  *out_len = PACKET_ETH_HLEN + len;
  forget(d);
  return f->out;
}
