#include "outbuf.h"

#include <stdlib.h>
#include <string.h>

#include "protocol.h"

int outbuf_init(struct outbuf *ob) {
  ob->data = malloc(OUTBUF_CAP);
  ob->head = ob->len = 0;
  return ob->data ? 0 : -1;
}

void outbuf_destroy(struct outbuf *ob) {
  free(ob->data);
  ob->data = NULL;
  ob->head = ob->len = 0;
}

void outbuf_clear(struct outbuf *ob) { ob->head = ob->len = 0; }

size_t outbuf_free(const struct outbuf *ob) { return OUTBUF_CAP - ob->len; }

uint8_t *outbuf_reserve(struct outbuf *ob, size_t n) {
  if (n > OUTBUF_CAP - ob->len) return NULL;
  if (n > OUTBUF_CAP - ob->head - ob->len) {
    memmove(ob->data, ob->data + ob->head, ob->len);
    ob->head = 0;
  }
  return ob->data + ob->head + ob->len;
}

void outbuf_commit(struct outbuf *ob, size_t n) { ob->len += n; }

int outbuf_frame(struct outbuf *ob, uint8_t type, uint32_t stream, const void *payload, size_t length) {
  uint8_t *dst = outbuf_reserve(ob, FRAME_HEADER + length);
  if (!dst) return -1;
  frame_put_header(dst, type, stream, (uint32_t)length);
  if (length) memcpy(dst + FRAME_HEADER, payload, length);
  outbuf_commit(ob, FRAME_HEADER + length);
  return 0;
}

void outbuf_consume(struct outbuf *ob, size_t n) {
  ob->head += n;
  ob->len -= n;
  if (ob->len == 0) ob->head = 0;
}
