/*
 * A small strict JSON (RFC 8259) parser into a flat tree, and a writer for the few
 * payloads the agent sends. Input is untrusted: every read is bounded by the input
 * length, nesting is bounded, and the tree's size is bounded.
 */
#ifndef BOXLITE_JSON_H
#define BOXLITE_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JSON_MAX_DEPTH 64
#define JSON_MAX_VALUES (1u << 17)

enum json_type { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT };

struct json_value {
  enum json_type type;
  bool boolean;
  bool is_int;     /* a number written as an integer that fits in int64 */
  int64_t integer; /* valid when is_int */
  const char *str; /* decoded string, NUL-terminated (it may also contain NULs: see len) */
  size_t len;      /* string length in bytes, or the number of elements / members */
  const char *key; /* member name when the value is inside an object, else NULL */
  size_t key_len;
  uint32_t first; /* index of the first element / member; 0 = none */
  uint32_t next;  /* index of the next sibling; 0 = none (index 0 is the root) */
};

struct json_doc {
  struct json_value *values;
  uint32_t count, cap;
  char *strings;
  size_t strings_used, strings_cap;
};

/* Parses text[0..len). Returns 0, or -1 with *why set to a static reason. */
int json_parse(struct json_doc *doc, const uint8_t *text, size_t len, const char **why);
void json_free(struct json_doc *doc);

const struct json_value *json_root(const struct json_doc *doc);
const struct json_value *json_first(const struct json_doc *doc, const struct json_value *container);
const struct json_value *json_next(const struct json_doc *doc, const struct json_value *value);
/* The first member named key in an object, or NULL. */
const struct json_value *json_member(const struct json_doc *doc, const struct json_value *object, const char *key);
/* A string value without embedded NULs, usable as a C string. */
bool json_is_cstring(const struct json_value *value);

/* Length of the valid UTF-8 sequence at p (1-4), or 0 when it is invalid or cut short. */
size_t json_utf8_len(const uint8_t *p, size_t avail);

/* Writer: appends into a fixed buffer; overflow is sticky and checked once at the end. */
struct json_writer {
  char *buf;
  size_t cap, len;
  bool overflow;
};

void jw_init(struct json_writer *w, char *buf, size_t cap);
void jw_raw(struct json_writer *w, const char *text);
/* Writes a quoted string; invalid UTF-8 becomes U+FFFD so the output is always valid JSON. */
void jw_string(struct json_writer *w, const char *s, size_t len);
void jw_int(struct json_writer *w, int64_t value);

#endif
