#include "message.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "message_impl.h"
#include "protocol.h"

const struct json_value *message_object(struct json_doc *doc, const uint8_t *p, size_t n, const char *what, char *why,
                                        size_t whylen) {
  const char *reason = NULL;
  if (json_parse(doc, p, n, &reason) < 0) {
    snprintf(why, whylen, "%s: bad JSON: %s", what, reason);
    return NULL;
  }
  const struct json_value *root = json_root(doc);
  if (root->type != JSON_OBJECT) {
    snprintf(why, whylen, "%s: payload is not a JSON object", what);
    json_free(doc);
    return NULL;
  }
  return root;
}

int message_get_int(const struct json_doc *doc, const struct json_value *obj, const char *what, const char *key,
                    int64_t min, int64_t max, int64_t *out, char *why, size_t whylen) {
  const struct json_value *v = json_member(doc, obj, key);
  if (!v) {
    snprintf(why, whylen, "%s: missing field \"%s\"", what, key);
    return -1;
  }
  if (v->type != JSON_NUMBER || !v->is_int || v->integer < min || v->integer > max) {
    snprintf(why, whylen, "%s: \"%s\" must be an integer in %lld..%lld", what, key, (long long)min, (long long)max);
    return -1;
  }
  *out = v->integer;
  return 0;
}

int message_parse_hello(const uint8_t *p, size_t n, int64_t *version, char *why, size_t whylen) {
  struct json_doc doc;
  const struct json_value *root = message_object(&doc, p, n, "HELLO", why, whylen);
  if (!root) return -1;
  int rc = message_get_int(&doc, root, "HELLO", "version", INT64_MIN, INT64_MAX, version, why, whylen);
  json_free(&doc);
  return rc;
}

int message_parse_signal(const uint8_t *p, size_t n, int *signal, char *why, size_t whylen) {
  struct json_doc doc;
  const struct json_value *root = message_object(&doc, p, n, "SIGNAL", why, whylen);
  if (!root) return -1;
  int64_t v;
  int rc = message_get_int(&doc, root, "SIGNAL", "signal", 1, 64, &v, why, whylen);
  if (rc == 0) *signal = (int)v;
  json_free(&doc);
  return rc;
}

static int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

static int stream_list(const struct json_doc *doc, const struct json_value *root, const char *key, uint32_t *ids,
                       size_t *count, char *why, size_t whylen) {
  const struct json_value *list = NULL;
  *count = 0;
  if (message_get_optional(doc, root, "SUSPEND", key, JSON_ARRAY, &list, why, whylen) < 0) return -1;
  if (!list) return 0;
  for (const struct json_value *v = json_first(doc, list); v; v = json_next(doc, v)) {
    if (v->type != JSON_NUMBER || !v->is_int || v->integer < 1 || v->integer > INT32_MAX || *count >= MAX_STREAMS) {
      snprintf(why, whylen, "SUSPEND: \"%s\" must be at most %d stream ids in 1..2147483647", key, MAX_STREAMS);
      return -1;
    }
    ids[(*count)++] = (uint32_t)v->integer;
  }
  return 0;
}

int message_parse_suspend(const uint8_t *p, size_t n, struct suspend_request *req, char *why, size_t whylen) {
  struct json_doc doc;
  const struct json_value *root = message_object(&doc, p, n, "SUSPEND", why, whylen);
  if (!root) return -1;
  memset(req, 0, sizeof *req);
  int rc = stream_list(&doc, root, "keep", req->keep, &req->nkeep, why, whylen);
  if (rc == 0) rc = stream_list(&doc, root, "orphan", req->orphan, &req->norphan, why, whylen);
  json_free(&doc);
  return rc;
}

/* WAKE's "disks": [{"name":"vdb","bytes":N}, ...], optional. */
static int wake_disks(const struct json_doc *doc, const struct json_value *root, struct wake_request *req, char *why,
                      size_t whylen) {
  const struct json_value *list = NULL;
  if (message_get_optional(doc, root, "WAKE", "disks", JSON_ARRAY, &list, why, whylen) < 0) return -1;
  for (const struct json_value *v = list ? json_first(doc, list) : NULL; v; v = json_next(doc, v)) {
    const struct json_value *name = v->type == JSON_OBJECT ? json_member(doc, v, "name") : NULL;
    const struct json_value *bytes = v->type == JSON_OBJECT ? json_member(doc, v, "bytes") : NULL;
    if (req->ndisks == WAKE_DISKS_MAX || !name || name->type != JSON_STRING || name->len != 3 ||
        strncmp(name->str, "vd", 2) != 0 || name->str[2] < 'b' || name->str[2] > 'z' || !bytes ||
        bytes->type != JSON_NUMBER || !bytes->is_int || bytes->integer < 512 || bytes->integer > INT64_MAX / 2 ||
        bytes->integer % 512 != 0) {
      snprintf(why, whylen,
               "WAKE: \"disks\" must be at most %d objects {\"name\": \"vdb\"..\"vdz\", \"bytes\": a positive "
               "multiple of 512}",
               WAKE_DISKS_MAX);
      return -1;
    }
    struct wake_disk *disk = &req->disks[req->ndisks++];
    memcpy(disk->name, name->str, 3);
    disk->name[3] = '\0';
    disk->bytes = (uint64_t)bytes->integer;
  }
  return 0;
}

int message_parse_wake(const uint8_t *p, size_t n, struct wake_request *req, char *why, size_t whylen) {
  struct json_doc doc;
  const struct json_value *root = message_object(&doc, p, n, "WAKE", why, whylen);
  if (!root) return -1;
  memset(req, 0, sizeof *req);
  const struct json_value *entropy = NULL;
  int rc = message_get_int(&doc, root, "WAKE", "time_s", 0, INT64_MAX / 2, &req->time_s, why, whylen);
  if (rc == 0) rc = message_get_int(&doc, root, "WAKE", "time_ns", 0, 999999999, &req->time_ns, why, whylen);
  if (rc == 0) rc = message_get_optional(&doc, root, "WAKE", "entropy", JSON_STRING, &entropy, why, whylen);
  if (rc == 0) rc = wake_disks(&doc, root, req, why, whylen);
  if (rc == 0 && (!entropy || entropy->len % 2 != 0 || entropy->len < 2 * WAKE_ENTROPY_MIN ||
                  entropy->len > 2 * WAKE_ENTROPY_MAX)) {
    snprintf(why, whylen, "WAKE: \"entropy\" must be %d to %d bytes in lowercase hex", WAKE_ENTROPY_MIN,
             WAKE_ENTROPY_MAX);
    rc = -1;
  }
  for (size_t i = 0; rc == 0 && i < entropy->len; i += 2) {
    int hi = hex_digit(entropy->str[i]), lo = hex_digit(entropy->str[i + 1]);
    if (hi < 0 || lo < 0) {
      snprintf(why, whylen, "WAKE: \"entropy\" must be lowercase hex");
      rc = -1;
    } else {
      req->entropy[req->entropy_len++] = (uint8_t)(hi << 4 | lo);
    }
  }
  json_free(&doc);
  return rc;
}

int message_parse_resize(const uint8_t *p, size_t n, uint16_t *rows, uint16_t *cols, char *why, size_t whylen) {
  struct json_doc doc;
  const struct json_value *root = message_object(&doc, p, n, "RESIZE", why, whylen);
  if (!root) return -1;
  int64_t r = 0, c = 0;
  int rc = message_get_int(&doc, root, "RESIZE", "rows", 1, 65535, &r, why, whylen);
  if (rc == 0) rc = message_get_int(&doc, root, "RESIZE", "cols", 1, 65535, &c, why, whylen);
  *rows = (uint16_t)r;
  *cols = (uint16_t)c;
  json_free(&doc);
  return rc;
}

/* Copies a required array of strings into a NULL-terminated vector of pointers into the doc. */
static int get_strings(const struct json_doc *doc, const struct json_value *obj, const char *key, char ***out,
                       size_t *count, char *why, size_t whylen) {
  const struct json_value *arr = json_member(doc, obj, key);
  if (!arr) {
    snprintf(why, whylen, "EXEC: missing field \"%s\"", key);
    return -1;
  }
  if (arr->type != JSON_ARRAY) {
    snprintf(why, whylen, "EXEC: \"%s\" must be an array of strings", key);
    return -1;
  }
  char **vec = calloc(arr->len + 1, sizeof *vec);
  if (!vec) {
    snprintf(why, whylen, "EXEC: out of memory");
    return -1;
  }
  size_t i = 0;
  for (const struct json_value *e = json_first(doc, arr); e; e = json_next(doc, e)) {
    if (!json_is_cstring(e)) {
      snprintf(why, whylen, "EXEC: \"%s\"[%zu] must be a string without NUL characters", key, i);
      free(vec);
      return -1;
    }
    vec[i++] = (char *)e->str;
  }
  *out = vec;
  *count = i;
  return 0;
}

int message_get_optional(const struct json_doc *doc, const struct json_value *obj, const char *what, const char *key,
                         enum json_type type, const struct json_value **out, char *why, size_t whylen) {
  const struct json_value *v = json_member(doc, obj, key);
  *out = NULL;
  if (!v || v->type == JSON_NULL) return 0;
  if (v->type != type || (type == JSON_STRING && !json_is_cstring(v))) {
    static const char *const names[] = {"null", "a boolean", "a number", "a string", "an array", "an object"};
    snprintf(why, whylen, "%s: \"%s\" must be %s", what, key, names[type]);
    return -1;
  }
  *out = v;
  return 0;
}

static int parse_exec_fields(struct exec_request *req, const struct json_value *root, char *why, size_t whylen) {
  const struct json_doc *doc = &req->doc;
  if (get_strings(doc, root, "argv", &req->argv, &req->argc, why, whylen) < 0) return -1;
  if (req->argc == 0) {
    snprintf(why, whylen, "EXEC: \"argv\" must not be empty");
    return -1;
  }
  if (get_strings(doc, root, "env", &req->env, &req->envc, why, whylen) < 0) return -1;
  const struct json_value *cwd, *create_cwd, *user, *tty, *stdin_open;
  if (message_get_optional(doc, root, "EXEC", "cwd", JSON_STRING, &cwd, why, whylen) < 0) return -1;
  if (!cwd) {
    snprintf(why, whylen, "EXEC: missing field \"cwd\"");
    return -1;
  }
  req->cwd = cwd->str;
  if (message_get_optional(doc, root, "EXEC", "create_cwd", JSON_BOOL, &create_cwd, why, whylen) < 0) return -1;
  if (message_get_optional(doc, root, "EXEC", "user", JSON_STRING, &user, why, whylen) < 0) return -1;
  if (message_get_optional(doc, root, "EXEC", "stdin", JSON_BOOL, &stdin_open, why, whylen) < 0) return -1;
  if (message_get_optional(doc, root, "EXEC", "tty", JSON_OBJECT, &tty, why, whylen) < 0) return -1;
  req->create_cwd = create_cwd && create_cwd->boolean;
  req->user = user ? user->str : "";
  req->stdin_open = stdin_open && stdin_open->boolean;
  if (tty) {
    int64_t rows, cols;
    /* 0 is accepted here: it means "size unknown", the kernel's own default. */
    if (message_get_int(doc, tty, "EXEC tty", "rows", 0, 65535, &rows, why, whylen) < 0) return -1;
    if (message_get_int(doc, tty, "EXEC tty", "cols", 0, 65535, &cols, why, whylen) < 0) return -1;
    req->tty = true;
    req->rows = (uint16_t)rows;
    req->cols = (uint16_t)cols;
  }
  return 0;
}

int message_parse_exec(const uint8_t *p, size_t n, struct exec_request *req, char *why, size_t whylen) {
  memset(req, 0, sizeof *req);
  const struct json_value *root = message_object(&req->doc, p, n, "EXEC", why, whylen);
  if (!root) return -1;
  if (parse_exec_fields(req, root, why, whylen) < 0) {
    message_free_exec(req);
    return -1;
  }
  return 0;
}

void message_free_exec(struct exec_request *req) {
  free(req->argv);
  free(req->env);
  json_free(&req->doc);
  memset(req, 0, sizeof *req);
}

/* Reads an optional boolean; absent or null leaves *out at its default. */
static int get_bool(const struct json_doc *doc, const struct json_value *obj, const char *what, const char *key,
                    bool *out, char *why, size_t whylen) {
  const struct json_value *v;
  if (message_get_optional(doc, obj, what, key, JSON_BOOL, &v, why, whylen) < 0) return -1;
  if (v) *out = v->boolean;
  return 0;
}

static int parse_files_fields(struct files_request *req, const struct json_value *root, const char *what, char *why,
                              size_t whylen) {
  const struct json_doc *doc = &req->doc;
  struct files_spec *spec = &req->spec;
  const struct json_value *path;
  if (message_get_optional(doc, root, what, "path", JSON_STRING, &path, why, whylen) < 0) return -1;
  if (!path) {
    snprintf(why, whylen, "%s: missing field \"path\"", what);
    return -1;
  }
  if (path->str[0] != '/') {
    snprintf(why, whylen, "%s: \"path\" must be an absolute path", what);
    return -1;
  }
  spec->path = path->str;
  spec->include_parent = true;
  if (req->type == FRAME_FILES_OUT) {
    if (get_bool(doc, root, what, "follow_symlinks", &spec->follow_symlinks, why, whylen) < 0) return -1;
    return get_bool(doc, root, what, "include_parent", &spec->include_parent, why, whylen);
  }
  if (get_bool(doc, root, what, "contents", &spec->contents, why, whylen) < 0) return -1;
  if (get_bool(doc, root, what, "as_file", &spec->as_file, why, whylen) < 0) return -1;
  return get_bool(doc, root, what, "no_overwrite", &spec->no_overwrite, why, whylen);
}

int message_parse_files(uint8_t type, const uint8_t *p, size_t n, struct files_request *req, char *why,
                        size_t whylen) {
  memset(req, 0, sizeof *req);
  req->type = type;
  const char *what = type == FRAME_FILES_OUT ? "FILES_OUT" : "FILES_IN";
  const struct json_value *root = message_object(&req->doc, p, n, what, why, whylen);
  if (!root) return -1;
  if (parse_files_fields(req, root, what, why, whylen) < 0) {
    message_free_files(req);
    return -1;
  }
  return 0;
}

void message_free_files(struct files_request *req) {
  json_free(&req->doc);
  memset(req, 0, sizeof *req);
}

static size_t finish(struct json_writer *w) { return w->overflow ? 0 : w->len; }

size_t message_hello(char *buf, size_t cap) {
  struct json_writer w;
  jw_init(&w, buf, cap);
  jw_raw(&w, "{\"version\":");
  jw_int(&w, PROTOCOL_VERSION);
  jw_raw(&w, ",\"agent\":");
  jw_string(&w, "boxlite-guest/" BOXLITE_GUEST_VERSION, strlen("boxlite-guest/" BOXLITE_GUEST_VERSION));
  jw_raw(&w, "}");
  return finish(&w);
}

size_t message_started(char *buf, size_t cap, int pid) {
  struct json_writer w;
  jw_init(&w, buf, cap);
  jw_raw(&w, "{\"pid\":");
  jw_int(&w, pid);
  jw_raw(&w, "}");
  return finish(&w);
}

size_t message_exit(char *buf, size_t cap, const struct exit_info *info) {
  struct json_writer w;
  jw_init(&w, buf, cap);
  jw_raw(&w, "{\"code\":");
  jw_int(&w, info->code);
  jw_raw(&w, ",\"signal\":");
  jw_int(&w, info->signal);
  jw_raw(&w, ",\"duration_us\":");
  jw_int(&w, (int64_t)info->duration_us);
  if (info->error && info->error[0]) {
    jw_raw(&w, ",\"error\":");
    jw_string(&w, info->error, strlen(info->error));
  }
  jw_raw(&w, "}");
  return finish(&w);
}

size_t message_error(char *buf, size_t cap, const char *code, const char *message) {
  struct json_writer w;
  jw_init(&w, buf, cap);
  jw_raw(&w, "{\"code\":");
  jw_string(&w, code, strlen(code));
  jw_raw(&w, ",\"message\":");
  jw_string(&w, message, strlen(message));
  jw_raw(&w, "}");
  return finish(&w);
}
