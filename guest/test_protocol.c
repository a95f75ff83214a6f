/* The golden vectors (test/fixtures/guest-protocol/vectors.tsv) through the C frame decoder. */
#include <stdlib.h>

#include "protocol.h"
#include "test.h"

static int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Decodes hex into a buffer of exactly the decoded size, so ASan sees any over-read. */
static uint8_t *from_hex(const char *hex, size_t *len) {
  size_t n = strlen(hex);
  if (n % 2) return NULL;
  uint8_t *out = malloc(n / 2 ? n / 2 : 1);
  for (size_t i = 0; i < n / 2; i++) {
    int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      free(out);
      return NULL;
    }
    out[i] = (uint8_t)(hi << 4 | lo);
  }
  *len = n / 2;
  return out;
}

static void describe(enum frame_status rc, const struct frame *f, char *out, size_t cap) {
  if (rc != FRAME_OK) {
    snprintf(out, cap, rc == FRAME_INCOMPLETE ? "incomplete" : "error %s", frame_status_name(rc));
    return;
  }
  int n = snprintf(out, cap, "ok %u %u ", f->type, f->stream);
  if (f->length == 0) snprintf(out + n, cap - (size_t)n, "-");
  for (uint32_t i = 0; i < f->length && (size_t)n + 3 < cap; i++) n += snprintf(out + n, cap - (size_t)n, "%02x", f->payload[i]);
}

static void check_vector(const char *name, const char *hex, const char *expected) {
  size_t len = 0;
  uint8_t *bytes = from_hex(hex, &len);
  CHECK(bytes != NULL);
  if (!bytes) return;
  struct frame f;
  enum frame_status rc = frame_decode(bytes, len, &f);
  char got[8192];
  describe(rc, &f, got, sizeof got);
  if (strcmp(got, expected) != 0) fprintf(stderr, "vector %s: got \"%s\", want \"%s\"\n", name, got, expected);
  CHECK(strcmp(got, expected) == 0);
  free(bytes);
}

static void check_header_round_trip(void) {
  uint8_t buf[FRAME_HEADER + 3] = {0};
  frame_put_header(buf, FRAME_STDOUT, 0xfffffffeu, 3);
  memcpy(buf + FRAME_HEADER, "abc", 3);
  struct frame f;
  CHECK(frame_decode(buf, sizeof buf, &f) == FRAME_OK);
  CHECK(f.type == FRAME_STDOUT && f.stream == 0xfffffffeu && f.length == 3 && memcmp(f.payload, "abc", 3) == 0);
  CHECK(frame_decode(buf, sizeof buf - 1, &f) == FRAME_INCOMPLETE);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s vectors.tsv\n", argv[0]);
    return 2;
  }
  FILE *file = fopen(argv[1], "r");
  if (!file) {
    perror(argv[1]);
    return 2;
  }
  char line[16384];
  int vectors = 0;
  while (fgets(line, sizeof line, file)) {
    line[strcspn(line, "\r\n")] = '\0';
    if (line[0] == '#' || line[0] == '\0') continue;
    char *name = line, *hex = strchr(name, '\t');
    char *expected = hex ? strchr(hex + 1, '\t') : NULL;
    CHECK(expected != NULL);
    if (!expected) continue;
    *hex++ = '\0';
    *expected++ = '\0';
    check_vector(name, hex, expected);
    vectors++;
  }
  fclose(file);
  CHECK(vectors >= 20);
  check_header_round_trip();
  printf("test_protocol: %d vectors\n", vectors);
  return test_finish("test_protocol");
}
