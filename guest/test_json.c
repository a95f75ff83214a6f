/* The JSON parser and writer, and the protocol's payloads built on them. */
#include <stdlib.h>

#include "message.h"
#include "test.h"

/* Parses text from an exact-size copy, so ASan sees any over-read. */
static int parse(struct json_doc *doc, const char *text, const char **why) {
  size_t n = strlen(text);
  uint8_t *copy = malloc(n ? n : 1);
  memcpy(copy, text, n);
  int rc = json_parse(doc, copy, n, why);
  free(copy);
  return rc;
}

static void check_valid(const char *text) {
  struct json_doc doc;
  const char *why = NULL;
  int rc = parse(&doc, text, &why);
  if (rc != 0) fprintf(stderr, "rejected %s: %s\n", text, why);
  CHECK(rc == 0);
  if (rc == 0) json_free(&doc);
}

static void check_invalid(const char *text) {
  struct json_doc doc;
  const char *why = NULL;
  int rc = parse(&doc, text, &why);
  if (rc == 0) fprintf(stderr, "accepted %s\n", text);
  CHECK(rc < 0 && why != NULL);
  if (rc == 0) json_free(&doc);
}

static void test_grammar(void) {
  const char *valid[] = {"{}", "[]", " {\"a\" : [1, -2, 3.5e-3, true, false, null, \"x\"]} ", "0", "-0", "1E+2",
                         "\"\"", "[[[]]]", "{\"a\":{\"b\":{}}}", "\"\\u00e9\\ud83d\\ude00\"", "\"\xc3\xa9\xf0\x9f\x98\x80\"",
                         "{\"a\":1,\"a\":2}", "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "123456789012345678901234567890"};
  for (size_t i = 0; i < sizeof valid / sizeof *valid; i++) check_valid(valid[i]);
  const char *invalid[] = {"", " ", "{", "}", "[1,]", "{\"a\":1,}", "{a:1}", "{\"a\" 1}", "01", "1.", ".5", "-", "+1",
                           "1e", "tru", "nul", "True", "\"abc", "\"\\x\"", "\"\\u12\"", "\"\\ud800\"", "\"\\udc00\"",
                           "\"\\ud800\\u0041\"", "\"\x01\"", "\"\xff\"", "\"\xc0\xaf\"", "\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"",
                           "\"\xe2\x82\"", "{} {}", "[1 2]", "{\"a\":1 \"b\":2}", "NaN", "[\"a\"", "\t"};
  for (size_t i = 0; i < sizeof invalid / sizeof *invalid; i++) check_invalid(invalid[i]);
}

static void test_depth_limit(void) {
  char deep[2 * (JSON_MAX_DEPTH + 2) + 1];
  for (int depth = JSON_MAX_DEPTH; depth <= JSON_MAX_DEPTH + 1; depth++) {
    memset(deep, '[', (size_t)depth + 1);
    memset(deep + depth + 1, ']', (size_t)depth + 1);
    deep[2 * depth + 2] = '\0';
    if (depth == JSON_MAX_DEPTH) check_valid(deep);
    else check_invalid(deep);
  }
}

static void test_values(void) {
  struct json_doc doc;
  const char *why;
  CHECK(parse(&doc, "{\"n\":-9223372036854775808,\"big\":9223372036854775808,\"f\":1.0,\"s\":\"a\\u0000b\","
                    "\"e\":\"\\u00e9\\ud83d\\ude00\",\"arr\":[1,2,3],\"t\":true}", &why) == 0);
  const struct json_value *root = json_root(&doc);
  CHECK(root->type == JSON_OBJECT && root->len == 7);
  const struct json_value *n = json_member(&doc, root, "n");
  CHECK(n && n->is_int && n->integer == INT64_MIN);
  const struct json_value *big = json_member(&doc, root, "big");
  CHECK(big && big->type == JSON_NUMBER && !big->is_int);
  CHECK(!json_member(&doc, root, "f")->is_int);
  const struct json_value *s = json_member(&doc, root, "s");
  CHECK(s->len == 3 && memcmp(s->str, "a\0b", 3) == 0 && !json_is_cstring(s));
  CHECK_STR(json_member(&doc, root, "e")->str, "\xc3\xa9\xf0\x9f\x98\x80");
  const struct json_value *arr = json_member(&doc, root, "arr");
  int64_t sum = 0;
  for (const struct json_value *e = json_first(&doc, arr); e; e = json_next(&doc, e)) sum += e->integer;
  CHECK(arr->len == 3 && sum == 6);
  CHECK(json_member(&doc, root, "t")->boolean);
  CHECK(json_member(&doc, root, "missing") == NULL);
  CHECK(json_member(&doc, arr, "x") == NULL);
  json_free(&doc);
}

static void test_writer(void) {
  char buf[128];
  struct json_writer w;
  jw_init(&w, buf, sizeof buf);
  jw_string(&w, "q\"b\\\n\x01\x7f\xc3\xa9\xff", 10);
  CHECK(!w.overflow);
  buf[w.len] = '\0';
  CHECK_STR(buf, "\"q\\\"b\\\\\\u000a\\u0001\\u007f\xc3\xa9\\ufffd\"");
  jw_init(&w, buf, 4);
  jw_raw(&w, "{\"long\":1}");
  CHECK(w.overflow);
}

static void test_messages(void) {
  char why[256];
  struct exec_request req;
  const char *exec = "{\"argv\":[\"sh\",\"-c\",\"echo hi\"],\"env\":[\"A=1\"],\"cwd\":\"/w\",\"create_cwd\":true,"
                     "\"user\":\"app\",\"tty\":{\"rows\":24,\"cols\":80},\"stdin\":true,\"future\":{\"x\":[1.5]}}";
  CHECK(message_parse_exec((const uint8_t *)exec, strlen(exec), &req, why, sizeof why) == 0);
  CHECK(req.argc == 3 && req.argv[3] == NULL && strcmp(req.argv[2], "echo hi") == 0);
  CHECK(req.envc == 1 && req.env[1] == NULL);
  CHECK_STR(req.cwd, "/w");
  CHECK_STR(req.user, "app");
  CHECK(req.create_cwd && req.stdin_open && req.tty && req.rows == 24 && req.cols == 80);
  message_free_exec(&req);

  const char *minimal = "{\"argv\":[\"true\"],\"env\":[],\"cwd\":\"/\",\"tty\":null}";
  CHECK(message_parse_exec((const uint8_t *)minimal, strlen(minimal), &req, why, sizeof why) == 0);
  CHECK(!req.tty && !req.stdin_open && !req.create_cwd && strcmp(req.user, "") == 0);
  message_free_exec(&req);

  struct {
    const char *payload, *why;
  } bad[] = {
      {"[]", "EXEC: payload is not a JSON object"},
      {"{\"env\":[],\"cwd\":\"/\"}", "EXEC: missing field \"argv\""},
      {"{\"argv\":[],\"env\":[],\"cwd\":\"/\"}", "EXEC: \"argv\" must not be empty"},
      {"{\"argv\":[1],\"env\":[],\"cwd\":\"/\"}", "EXEC: \"argv\"[0] must be a string without NUL characters"},
      {"{\"argv\":[\"a\\u0000\"],\"env\":[],\"cwd\":\"/\"}", "EXEC: \"argv\"[0] must be a string without NUL characters"},
      {"{\"argv\":[\"a\"],\"cwd\":\"/\"}", "EXEC: missing field \"env\""},
      {"{\"argv\":[\"a\"],\"env\":[]}", "EXEC: missing field \"cwd\""},
      {"{\"argv\":[\"a\"],\"env\":[],\"cwd\":\"/\",\"stdin\":1}", "EXEC: \"stdin\" must be a boolean"},
      {"{\"argv\":[\"a\"],\"env\":[],\"cwd\":\"/\",\"tty\":{\"rows\":1}}", "EXEC tty: missing field \"cols\""},
      {"{\"argv\":[\"a\"],\"env\":[],\"cwd\":\"/\",\"tty\":{\"rows\":70000,\"cols\":1}}",
       "EXEC tty: \"rows\" must be an integer in 0..65535"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    CHECK(message_parse_exec((const uint8_t *)bad[i].payload, strlen(bad[i].payload), &req, why, sizeof why) < 0);
    CHECK_STR(why, bad[i].why);
  }

  int64_t version;
  CHECK(message_parse_hello((const uint8_t *)"{\"version\":1,\"x\":2}", 19, &version, why, sizeof why) == 0 && version == 1);
  CHECK(message_parse_hello((const uint8_t *)"{\"v\":1}", 7, &version, why, sizeof why) < 0);
  int sig;
  CHECK(message_parse_signal((const uint8_t *)"{\"signal\":9}", 12, &sig, why, sizeof why) == 0 && sig == 9);
  CHECK(message_parse_signal((const uint8_t *)"{\"signal\":65}", 13, &sig, why, sizeof why) < 0);
  CHECK(message_parse_signal((const uint8_t *)"{\"signal\":2.0}", 14, &sig, why, sizeof why) < 0);
  uint16_t rows, cols;
  CHECK(message_parse_resize((const uint8_t *)"{\"rows\":50,\"cols\":132}", 22, &rows, &cols, why, sizeof why) == 0);
  CHECK(rows == 50 && cols == 132);
  CHECK(message_parse_resize((const uint8_t *)"{\"rows\":0,\"cols\":132}", 21, &rows, &cols, why, sizeof why) < 0);

  char out[512];
  size_t n = message_hello(out, sizeof out);
  out[n] = '\0';
  CHECK_STR(out, "{\"version\":1,\"agent\":\"boxlite-guest/" BOXLITE_GUEST_VERSION "\"}");
  struct exit_info info = {127, 0, 1234, "exec \"nosuch\": No such file or directory"};
  n = message_exit(out, sizeof out, &info);
  out[n] = '\0';
  CHECK_STR(out, "{\"code\":127,\"signal\":0,\"duration_us\":1234,\"error\":\"exec \\\"nosuch\\\": No such file or directory\"}");
  /* The worst error text (all control characters) still fits an EXIT payload. */
  char worst[EXIT_ERROR_MAX];
  memset(worst, '\x01', sizeof worst - 1);
  worst[sizeof worst - 1] = '\0';
  struct exit_info worst_info = {126, 0, UINT64_MAX / 2, worst};
  char big[EXIT_PAYLOAD_MAX];
  CHECK(message_exit(big, sizeof big, &worst_info) > 6 * (EXIT_ERROR_MAX - 1));
  struct exit_info killed = {137, 9, 5, NULL};
  n = message_exit(out, sizeof out, &killed);
  out[n] = '\0';
  CHECK_STR(out, "{\"code\":137,\"signal\":9,\"duration_us\":5}");
  n = message_error(out, sizeof out, "limit", "64 streams");
  out[n] = '\0';
  CHECK_STR(out, "{\"code\":\"limit\",\"message\":\"64 streams\"}");
  CHECK(message_started(out, 4, 1) == 0);
}

/* A freed document's buffers serve the next parse (musl's malloc would unmap and map them again
 * for every message); a document parsed while another is alive, or too large, gets its own. */
static void test_reuse(void) {
  struct json_doc first, second, third;
  const char *why = NULL;
  CHECK(parse(&first, "{\"argv\":[\"sleep\",\"3600\"],\"cwd\":\"/home/someone\"}", &why) == 0);
  const char *strings = first.strings;
  const struct json_value *values = first.values;
  json_free(&first);
  CHECK(parse(&second, "{\"argv\":[\"true\"]}", &why) == 0);
  CHECK(second.strings == strings && second.values == values);
  CHECK_STR(json_first(&second, json_member(&second, json_root(&second), "argv"))->str, "true");
  char big[512];
  snprintf(big, sizeof big, "{\"cwd\":\"/%0400d\"}", 7);
  CHECK(parse(&third, big, &why) == 0);
  CHECK(third.strings != second.strings);
  const struct json_value *cwd = json_member(&third, json_root(&third), "cwd");
  CHECK(cwd && cwd->len == 401 && cwd->str[400] == '7');
  CHECK(json_member(&second, json_root(&second), "argv")->len == 1);
  json_free(&second);
  json_free(&third);
}

int main(void) {
  test_grammar();
  test_depth_limit();
  test_values();
  test_writer();
  test_messages();
  test_reuse();
  return test_finish("test_json");
}
