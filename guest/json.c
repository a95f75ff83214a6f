#include "json.h"

#include <stdlib.h>
#include <string.h>

struct parser {
  const uint8_t *p, *end;
  struct json_doc *doc;
  const char *why;
};

static int fail(struct parser *ps, const char *why) {
  if (!ps->why) ps->why = why;
  return -1;
}

static void skip_space(struct parser *ps) {
  while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r')) ps->p++;
}

static int new_value(struct parser *ps, enum json_type type, uint32_t *index) {
  struct json_doc *doc = ps->doc;
  if (doc->count >= JSON_MAX_VALUES) return fail(ps, "too many JSON values");
  if (doc->count == doc->cap) {
    uint32_t cap = doc->cap ? doc->cap * 2 : 16;
    struct json_value *values = realloc(doc->values, (size_t)cap * sizeof *values);
    if (!values) return fail(ps, "out of memory");
    doc->values = values;
    doc->cap = cap;
  }
  *index = doc->count++;
  memset(&doc->values[*index], 0, sizeof doc->values[*index]);
  doc->values[*index].type = type;
  return 0;
}

size_t json_utf8_len(const uint8_t *p, size_t avail) {
  uint8_t c = p[0];
  size_t n;
  uint32_t min, cp;
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) { n = 2; min = 0x80; cp = c & 0x1F; }
  else if (c >= 0xE0 && c <= 0xEF) { n = 3; min = 0x800; cp = c & 0x0F; }
  else if (c >= 0xF0 && c <= 0xF4) { n = 4; min = 0x10000; cp = c & 0x07; }
  else return 0;
  if (avail < n) return 0;
  for (size_t i = 1; i < n; i++) {
    if ((p[i] & 0xC0) != 0x80) return 0;
    cp = cp << 6 | (p[i] & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

static int read_hex4(struct parser *ps, uint32_t *out) {
  if (ps->end - ps->p < 4) return fail(ps, "truncated \\u escape");
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) {
    uint8_t c = *ps->p++;
    uint32_t d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
    else return fail(ps, "bad hex digit in \\u escape");
    v = v << 4 | d;
  }
  *out = v;
  return 0;
}

static size_t put_utf8(char *out, uint32_t cp) {
  if (cp < 0x80) { out[0] = (char)cp; return 1; }
  if (cp < 0x800) { out[0] = (char)(0xC0 | cp >> 6); out[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
  if (cp < 0x10000) {
    out[0] = (char)(0xE0 | cp >> 12);
    out[1] = (char)(0x80 | (cp >> 6 & 0x3F));
    out[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  out[0] = (char)(0xF0 | cp >> 18);
  out[1] = (char)(0x80 | (cp >> 12 & 0x3F));
  out[2] = (char)(0x80 | (cp >> 6 & 0x3F));
  out[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

static int parse_escape(struct parser *ps, char *out, size_t *written) {
  if (ps->p >= ps->end) return fail(ps, "unterminated string");
  uint8_t c = *ps->p++;
  static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
  const char *hit = c ? strchr(from, c) : NULL;
  if (hit) { *out = to[hit - from]; *written = 1; return 0; }
  if (c != 'u') return fail(ps, "bad escape in string");
  uint32_t cp;
  if (read_hex4(ps, &cp) < 0) return -1;
  if (cp >= 0xDC00 && cp <= 0xDFFF) return fail(ps, "lone low surrogate in string");
  if (cp >= 0xD800 && cp <= 0xDBFF) {
    uint32_t low;
    if (ps->end - ps->p < 2 || ps->p[0] != '\\' || ps->p[1] != 'u') return fail(ps, "lone high surrogate in string");
    ps->p += 2;
    if (read_hex4(ps, &low) < 0) return -1;
    if (low < 0xDC00 || low > 0xDFFF) return fail(ps, "bad surrogate pair in string");
    cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
  }
  *written = put_utf8(out, cp);
  return 0;
}

/* Decodes a string (ps->p at the opening quote) into the doc's string arena. */
static int parse_string(struct parser *ps, const char **str, size_t *len) {
  struct json_doc *doc = ps->doc;
  ps->p++;
  /* Decoded text + NUL never exceeds the encoded text with its quotes, so this fits. */
  char *out = doc->strings + doc->strings_used;
  size_t n = 0;
  for (;;) {
    if (ps->p >= ps->end) return fail(ps, "unterminated string");
    uint8_t c = *ps->p;
    if (c == '"') { ps->p++; break; }
    if (c < 0x20) return fail(ps, "control character in string");
    if (c == '\\') {
      ps->p++;
      size_t w;
      if (parse_escape(ps, out + n, &w) < 0) return -1;
      n += w;
      continue;
    }
    size_t seq = json_utf8_len(ps->p, (size_t)(ps->end - ps->p));
    if (seq == 0) return fail(ps, "invalid UTF-8 in string");
    memcpy(out + n, ps->p, seq);
    ps->p += seq;
    n += seq;
  }
  out[n] = '\0';
  doc->strings_used += n + 1;
  *str = out;
  *len = n;
  return 0;
}

static bool is_digit(const struct parser *ps) { return ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9'; }

static int parse_number(struct parser *ps, struct json_value *v) {
  bool negative = ps->p < ps->end && *ps->p == '-';
  if (negative) ps->p++;
  if (!is_digit(ps)) return fail(ps, "bad number");
  bool fits = true;
  uint64_t mag = 0, limit = negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
  if (*ps->p == '0') ps->p++;
  else
    while (is_digit(ps)) {
      uint64_t d = (uint64_t)(*ps->p++ - '0');
      if (mag > (limit - d) / 10) fits = false;
      else mag = mag * 10 + d;
    }
  bool integral = true;
  if (ps->p < ps->end && *ps->p == '.') {
    ps->p++;
    if (!is_digit(ps)) return fail(ps, "bad number");
    while (is_digit(ps)) ps->p++;
    integral = false;
  }
  if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
    ps->p++;
    if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-')) ps->p++;
    if (!is_digit(ps)) return fail(ps, "bad number");
    while (is_digit(ps)) ps->p++;
    integral = false;
  }
  v->is_int = integral && fits;
  if (v->is_int) v->integer = negative ? (int64_t)(0 - mag) : (int64_t)mag;
  return 0;
}

static int parse_literal(struct parser *ps, const char *word) {
  size_t n = strlen(word);
  if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0) return fail(ps, "unexpected character");
  ps->p += n;
  return 0;
}

static int parse_value(struct parser *ps, int depth, uint32_t *index);

/* Parses the elements of an array or the members of an object; ps->p is after the opener. */
static int parse_container(struct parser *ps, int depth, uint32_t index, bool object) {
  uint8_t close = object ? '}' : ']';
  uint32_t last = 0;
  skip_space(ps);
  if (ps->p < ps->end && *ps->p == close) { ps->p++; return 0; }
  for (;;) {
    const char *key = NULL;
    size_t key_len = 0;
    skip_space(ps);
    if (object) {
      if (ps->p >= ps->end || *ps->p != '"') return fail(ps, "expected a member name");
      if (parse_string(ps, &key, &key_len) < 0) return -1;
      skip_space(ps);
      if (ps->p >= ps->end || *ps->p != ':') return fail(ps, "expected ':'");
      ps->p++;
    }
    uint32_t child;
    if (parse_value(ps, depth + 1, &child) < 0) return -1;
    struct json_value *values = ps->doc->values; /* may have moved while parsing the child */
    values[child].key = key;
    values[child].key_len = key_len;
    if (last) values[last].next = child;
    else values[index].first = child;
    last = child;
    values[index].len++;
    skip_space(ps);
    if (ps->p >= ps->end) return fail(ps, object ? "unterminated object" : "unterminated array");
    uint8_t c = *ps->p++;
    if (c == close) return 0;
    if (c != ',') return fail(ps, object ? "expected ',' or '}'" : "expected ',' or ']'");
  }
}

static int parse_value(struct parser *ps, int depth, uint32_t *index) {
  if (depth > JSON_MAX_DEPTH) return fail(ps, "JSON nested too deeply");
  skip_space(ps);
  if (ps->p >= ps->end) return fail(ps, "unexpected end of JSON");
  uint8_t c = *ps->p;
  enum json_type type = c == '{' ? JSON_OBJECT : c == '[' ? JSON_ARRAY : c == '"' ? JSON_STRING
                      : c == 't' || c == 'f' ? JSON_BOOL : c == 'n' ? JSON_NULL : JSON_NUMBER;
  if (new_value(ps, type, index) < 0) return -1;
  struct json_value *v = &ps->doc->values[*index];
  switch (type) {
  case JSON_OBJECT:
  case JSON_ARRAY:
    ps->p++;
    return parse_container(ps, depth, *index, type == JSON_OBJECT);
  case JSON_STRING:
    return parse_string(ps, &v->str, &v->len);
  case JSON_BOOL:
    v->boolean = c == 't';
    return parse_literal(ps, c == 't' ? "true" : "false");
  case JSON_NULL:
    return parse_literal(ps, "null");
  case JSON_NUMBER:
    return parse_number(ps, v);
  }
  return fail(ps, "unexpected character");
}

/* The buffers of the last document freed, kept for the next one. The agent parses one message
 * after another, and musl's malloc hands a wholly freed group's pages back to the kernel: each
 * request's first allocation then mapped and faulted in fresh pages, 0.15-0.3 ms under
 * emulation, against ~0.02 ms for the parse itself. Kept up to SPARE_MAX bytes each, so one
 * large message does not pin its memory. */
#define SPARE_MAX (64 * 1024)
static struct {
  struct json_value *values;
  uint32_t cap;
  char *strings;
  size_t strings_cap;
} spare;

int json_parse(struct json_doc *doc, const uint8_t *text, size_t len, const char **why) {
  memset(doc, 0, sizeof *doc);
  struct parser ps = {.p = text, .end = text + len, .doc = doc, .why = NULL};
  doc->values = spare.values;
  doc->cap = spare.cap;
  spare.values = NULL;
  spare.cap = 0;
  if (spare.strings && spare.strings_cap >= len + 1) {
    doc->strings = spare.strings;
    doc->strings_cap = spare.strings_cap;
    spare.strings = NULL;
    spare.strings_cap = 0;
  } else {
    doc->strings_cap = len + 1;
    doc->strings = malloc(doc->strings_cap);
  }
  uint32_t root;
  int rc = doc->strings ? parse_value(&ps, 0, &root) : fail(&ps, "out of memory");
  if (rc == 0) {
    skip_space(&ps);
    if (ps.p != ps.end) rc = fail(&ps, "trailing characters after JSON");
  }
  if (rc < 0) {
    json_free(doc);
    *why = ps.why;
    return -1;
  }
  return 0;
}

void json_free(struct json_doc *doc) {
  if (!spare.values && (size_t)doc->cap * sizeof *doc->values <= SPARE_MAX) {
    spare.values = doc->values;
    spare.cap = doc->cap;
  } else {
    free(doc->values);
  }
  if (doc->strings_cap <= SPARE_MAX && doc->strings_cap > spare.strings_cap) {
    free(spare.strings);
    spare.strings = doc->strings;
    spare.strings_cap = doc->strings_cap;
  } else {
    free(doc->strings);
  }
  memset(doc, 0, sizeof *doc);
}

const struct json_value *json_root(const struct json_doc *doc) { return doc->count ? &doc->values[0] : NULL; }

const struct json_value *json_first(const struct json_doc *doc, const struct json_value *container) {
  return container->first ? &doc->values[container->first] : NULL;
}

const struct json_value *json_next(const struct json_doc *doc, const struct json_value *value) {
  return value->next ? &doc->values[value->next] : NULL;
}

const struct json_value *json_member(const struct json_doc *doc, const struct json_value *object, const char *key) {
  if (!object || object->type != JSON_OBJECT) return NULL;
  size_t n = strlen(key);
  for (const struct json_value *m = json_first(doc, object); m; m = json_next(doc, m))
    if (m->key_len == n && memcmp(m->key, key, n) == 0) return m;
  return NULL;
}

bool json_is_cstring(const struct json_value *value) {
  return value && value->type == JSON_STRING && memchr(value->str, '\0', value->len) == NULL;
}
