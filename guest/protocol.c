#include "protocol.h"

uint32_t get_be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

void put_be32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

enum stream_kind { KIND_NONE, KIND_CHANNEL, KIND_COMMAND, KIND_ANY };

/* The spec's table: which stream each frame type may travel on (KIND_NONE = unknown type). */
static enum stream_kind kind_of(uint8_t type) {
  switch (type) {
  case FRAME_HELLO:
  case FRAME_SHUTDOWN:
  case FRAME_CONFIG:
  case FRAME_FREEZE:
  case FRAME_THAW:
  case FRAME_WAKE:
  case FRAME_SUSPEND:
    return KIND_CHANNEL;
  case FRAME_EXEC:
  case FRAME_STARTED:
  case FRAME_EXIT:
  case FRAME_FILES_OUT:
  case FRAME_FILES_IN:
  case FRAME_STDIN:
  case FRAME_STDOUT:
  case FRAME_STDERR:
  case FRAME_WINDOW:
  case FRAME_SIGNAL:
  case FRAME_RESIZE:
    return KIND_COMMAND;
  case FRAME_ERROR:
    return KIND_ANY;
  default:
    return KIND_NONE;
  }
}

enum frame_status frame_decode(const uint8_t *buf, size_t len, struct frame *frame) {
  if (len < FRAME_HEADER) return FRAME_INCOMPLETE;
  uint32_t length = get_be32(buf);
  uint32_t stream = get_be32(buf + 4);
  uint8_t type = buf[8];
  /* Same order of checks as the host's decoder, so both report the same code. */
  if (length > FRAME_MAX_PAYLOAD) return FRAME_TOO_LARGE;
  enum stream_kind kind = kind_of(type);
  if (kind == KIND_NONE) return FRAME_BAD_TYPE;
  if (buf[9] != 0 || buf[10] != 0 || buf[11] != 0) return FRAME_BAD_FLAGS;
  if ((kind == KIND_CHANNEL && stream != 0) || (kind == KIND_COMMAND && stream == 0)) return FRAME_BAD_STREAM;
  if (type == FRAME_WINDOW && length != 4) return FRAME_BAD_WINDOW;
  if (len - FRAME_HEADER < length) return FRAME_INCOMPLETE;
  frame->type = type;
  frame->stream = stream;
  frame->length = length;
  frame->payload = buf + FRAME_HEADER;
  return FRAME_OK;
}

void frame_put_header(uint8_t *out, uint8_t type, uint32_t stream, uint32_t length) {
  put_be32(out, length);
  put_be32(out + 4, stream);
  out[8] = type;
  out[9] = 0;
  out[10] = 0;
  out[11] = 0;
}

const char *frame_status_name(enum frame_status status) {
  switch (status) {
  case FRAME_OK: return "ok";
  case FRAME_INCOMPLETE: return "incomplete";
  case FRAME_TOO_LARGE: return "too_large";
  case FRAME_BAD_TYPE: return "bad_type";
  case FRAME_BAD_FLAGS: return "bad_flags";
  case FRAME_BAD_STREAM: return "bad_stream";
  case FRAME_BAD_WINDOW: return "bad_window";
  }
  return "unknown";
}
