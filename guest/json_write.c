#include "json.h"

#include <stdio.h>
#include <string.h>

void jw_init(struct json_writer *w, char *buf, size_t cap) {
  w->buf = buf;
  w->cap = cap;
  w->len = 0;
  w->overflow = false;
}

static void put(struct json_writer *w, const char *data, size_t n) {
  if (w->overflow || w->cap - w->len < n) {
    w->overflow = true;
    return;
  }
  memcpy(w->buf + w->len, data, n);
  w->len += n;
}

void jw_raw(struct json_writer *w, const char *text) { put(w, text, strlen(text)); }

void jw_string(struct json_writer *w, const char *s, size_t len) {
  const uint8_t *p = (const uint8_t *)s, *end = p + len;
  put(w, "\"", 1);
  while (p < end) {
    uint8_t c = *p;
    if (c == '"' || c == '\\') {
      char esc[2] = {'\\', (char)c};
      put(w, esc, 2);
      p++;
    } else if (c < 0x20 || c == 0x7F) {
      char esc[8];
      snprintf(esc, sizeof esc, "\\u%04x", c);
      put(w, esc, 6);
      p++;
    } else {
      size_t seq = json_utf8_len(p, (size_t)(end - p));
      if (seq == 0) {
        put(w, "\\ufffd", 6);
        p++;
      } else {
        put(w, (const char *)p, seq);
        p += seq;
      }
    }
  }
  put(w, "\"", 1);
}

void jw_int(struct json_writer *w, int64_t value) {
  char digits[24];
  int n = snprintf(digits, sizeof digits, "%lld", (long long)value);
  put(w, digits, (size_t)n);
}
