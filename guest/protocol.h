/* Framing layer of the host <-> guest protocol (docs/guest-protocol.md, "Frames"). */
#ifndef BOXLITE_PROTOCOL_H
#define BOXLITE_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

#define FRAME_HEADER 12u
#define FRAME_MAX_PAYLOAD (1024u * 1024u)

enum frame_type {
  FRAME_HELLO = 0x01,
  FRAME_EXEC = 0x02,
  FRAME_STARTED = 0x03,
  FRAME_EXIT = 0x04,
  FRAME_FILES_OUT = 0x05,
  FRAME_FILES_IN = 0x06,
  FRAME_STDIN = 0x10,
  FRAME_STDOUT = 0x11,
  FRAME_STDERR = 0x12,
  FRAME_WINDOW = 0x13,
  FRAME_SIGNAL = 0x20,
  FRAME_RESIZE = 0x21,
  FRAME_SHUTDOWN = 0x30,
  FRAME_CONFIG = 0x31,
  FRAME_FREEZE = 0x32,
  FRAME_THAW = 0x33,
  FRAME_WAKE = 0x34,
  FRAME_SUSPEND = 0x35,
  FRAME_ERROR = 0x3f,
};

/* Decoder results; the negative ones are the vector codes of the spec. */
enum frame_status {
  FRAME_OK = 0,
  FRAME_INCOMPLETE = 1,
  FRAME_TOO_LARGE = -1,
  FRAME_BAD_TYPE = -2,
  FRAME_BAD_FLAGS = -3,
  FRAME_BAD_STREAM = -4,
  FRAME_BAD_WINDOW = -5,
};

struct frame {
  uint8_t type;
  uint32_t stream;
  uint32_t length;
  const uint8_t *payload; /* points into the decoder's input */
};

/*
 * Decodes the first frame of buf[0..len). The header is checked as soon as its 12 bytes
 * are there (so an oversized length fails before its payload arrives). On FRAME_OK,
 * *frame is set and the frame occupies FRAME_HEADER + frame->length bytes of buf.
 */
enum frame_status frame_decode(const uint8_t *buf, size_t len, struct frame *frame);

/* Writes a 12-byte header for a frame of the given type, stream and payload length. */
void frame_put_header(uint8_t *out, uint8_t type, uint32_t stream, uint32_t length);

/* The spec's name for a decoder error ("too_large", ...), or "ok"/"incomplete". */
const char *frame_status_name(enum frame_status status);

uint32_t get_be32(const uint8_t *p);
void put_be32(uint8_t *p, uint32_t v);

#endif
