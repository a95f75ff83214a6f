/* The bytes queued for the host: a bounded FIFO written to the channel as it accepts them. */
#ifndef BOXLITE_OUTBUF_H
#define BOXLITE_OUTBUF_H

#include <stddef.h>
#include <stdint.h>

/*
 * Large enough for a full data frame plus control frames for every stream. Producers
 * check outbuf_free() before producing, so the agent never holds more than this.
 */
#define OUTBUF_CAP (512u * 1024u)

struct outbuf {
  uint8_t *data;
  size_t head, len; /* queued bytes are data[head .. head + len) */
};

int outbuf_init(struct outbuf *ob);
void outbuf_destroy(struct outbuf *ob);
void outbuf_clear(struct outbuf *ob);
size_t outbuf_free(const struct outbuf *ob);
/* Contiguous room for n bytes at the tail (compacting if needed), or NULL. Commit with outbuf_commit. */
uint8_t *outbuf_reserve(struct outbuf *ob, size_t n);
void outbuf_commit(struct outbuf *ob, size_t n);
/* Appends a whole frame; returns -1 (and queues nothing) when it does not fit. */
int outbuf_frame(struct outbuf *ob, uint8_t type, uint32_t stream, const void *payload, size_t length);
/* Drops n bytes from the head after they were written. */
void outbuf_consume(struct outbuf *ob, size_t n);

#endif
