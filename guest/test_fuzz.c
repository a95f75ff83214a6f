/*
 * Fuzzing with a fixed seed: the frame decoder and the JSON and payload parsers must never
 * crash, read out of bounds (ASan) or break an invariant, whatever bytes the host sends.
 * The session's frame handler is fuzzed in test_session.c.
 */
#include <stdlib.h>

#include "message.h"
#include "protocol.h"
#include "test.h"


static const uint8_t frame_types[] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x10, 0x11, 0x12, 0x13, 0x20, 0x21, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x3f};

static void fuzz_decoder(int iterations) {
  for (int it = 0; it < iterations; it++) {
    size_t len = pick(40);
    uint8_t *buf = malloc(len ? len : 1); /* exact size: ASan catches any over-read */
    for (size_t i = 0; i < len; i++) buf[i] = (uint8_t)test_rand(&test_rng);
    if (len >= 12 && pick(4) != 0) {
      static const uint32_t lengths[] = {0, 1, 3, 4, 5, 20, FRAME_MAX_PAYLOAD, FRAME_MAX_PAYLOAD + 1, UINT32_MAX};
      put_be32(buf, pick(3) ? (uint32_t)pick(len) : lengths[pick(9)]);
      put_be32(buf + 4, pick(2) ? (uint32_t)pick(3) : (uint32_t)test_rand(&test_rng));
      buf[8] = pick(8) ? frame_types[pick(sizeof frame_types)] : (uint8_t)test_rand(&test_rng);
      if (pick(6)) buf[9] = buf[10] = buf[11] = 0;
    }
    struct frame f;
    enum frame_status rc = frame_decode(buf, len, &f);
    CHECK(rc >= FRAME_BAD_WINDOW && rc <= FRAME_INCOMPLETE);
    if (rc == FRAME_OK) {
      CHECK(FRAME_HEADER + (size_t)f.length <= len && f.payload == buf + FRAME_HEADER);
      CHECK(f.length <= FRAME_MAX_PAYLOAD && (f.type != FRAME_WINDOW || f.length == 4));
      CHECK(memchr(frame_types, f.type, sizeof frame_types) != NULL);
      CHECK((f.stream == 0) == (f.type == FRAME_HELLO || f.type == FRAME_SHUTDOWN || f.type == FRAME_CONFIG ||
                              f.type == FRAME_FREEZE || f.type == FRAME_THAW || f.type == FRAME_WAKE ||
                              f.type == FRAME_SUSPEND) ||
            f.type == FRAME_ERROR);
    }
    free(buf);
  }
}

static const char *const json_seeds[] = {
    "{\"argv\":[\"sh\",\"-c\",\"echo hi\"],\"env\":[\"PATH=/bin\",\"TERM=xterm\"],\"cwd\":\"/\",\"create_cwd\":false,"
    "\"user\":\"app:staff\",\"tty\":{\"rows\":24,\"cols\":80},\"stdin\":true}",
    "{\"argv\":[\"true\"],\"env\":[],\"cwd\":\"/tmp\",\"tty\":null,\"stdin\":false}",
    "{\"version\":1,\"extra\":[1.5e3,-0,null,true,{\"a\":{}}]}",
    "{\"signal\":15}",
    "{\"rows\":50,\"cols\":132}",
    "{\"s\":\"\\u00e9\\ud83d\\ude00\\\"\\\\\\/\\b\\f\\n\\r\\t\xc3\xa9\"}",
    "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[0]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
    "{\"code\":\"malformed\",\"message\":\"x\"}",
    "{\"hostname\":\"0123456789ab\",\"rootfs\":{\"device\":\"/dev/vdb\",\"x\":1},\"mounts\":[],\"network\":null}",
    "{\"hostname\":\"h\",\"rootfs\":{\"device\":\"/d\"},\"mounts\":[{\"tag\":\"t\"}],\"network\":{\"a\":\"b\"}}",
    "{\"hostname\":\"h\",\"rootfs\":{\"device\":\"/d\"},\"network\":{\"interface\":\"eth0\",\"address\":\"10.0.2.15\","
    "\"prefix\":24,\"gateway\":\"10.0.2.2\",\"mtu\":1500,\"nameservers\":[\"10.0.2.3\",\"1.1.1.1\"],\"search\":[\"a.b\",\"c\"]}}",
};

/* Applies a few random edits: flips, JSON-ish insertions, deletions, truncation, duplication. */
static size_t mutate(uint8_t *buf, size_t len, size_t cap) {
  static const char interesting[] = "{}[]\",:\\u0123456789eE.-+tfnl \x80\xc3\xed\xf4\xff";
  for (int edits = 1 + (int)pick(4); edits > 0; edits--) {
    switch (pick(6)) {
    case 0:
      if (len) buf[pick(len)] ^= (uint8_t)(1u << pick(8));
      break;
    case 1:
      if (len < cap) {
        size_t at = pick(len + 1);
        memmove(buf + at + 1, buf + at, len - at);
        buf[at] = (uint8_t)interesting[pick(sizeof interesting - 1)];
        len++;
      }
      break;
    case 2:
      if (len) {
        size_t at = pick(len);
        memmove(buf + at, buf + at + 1, len - at - 1);
        len--;
      }
      break;
    case 3:
      len = pick(len + 1);
      break;
    case 4:
      if (len) {
        size_t from = pick(len), n = 1 + pick(len - from), at = pick(len + 1);
        if (len + n <= cap) {
          memmove(buf + at + n, buf + at, len - at);
          memmove(buf + at, buf + (from >= at ? from + n : from), n);
          len += n;
        }
      }
      break;
    default:
      if (len) buf[pick(len)] = (uint8_t)test_rand(&test_rng);
    }
  }
  return len;
}

/* Walks a parsed tree, touching every string byte (ASan checks they are in bounds). */
static size_t walk(const struct json_doc *doc, const struct json_value *v, int depth) {
  CHECK(depth <= JSON_MAX_DEPTH + 1);
  size_t sum = 0;
  if (v->key) sum += strlen(v->key) <= v->key_len;
  if (v->type == JSON_STRING) {
    for (size_t i = 0; i <= v->len; i++) sum += (uint8_t)v->str[i];
    CHECK(v->str[v->len] == '\0');
  }
  size_t children = 0;
  if (v->type == JSON_ARRAY || v->type == JSON_OBJECT)
    for (const struct json_value *c = json_first(doc, v); c; c = json_next(doc, c)) {
      CHECK((c->key != NULL) == (v->type == JSON_OBJECT));
      sum += walk(doc, c, depth + 1);
      children++;
    }
  if (v->type == JSON_ARRAY || v->type == JSON_OBJECT) CHECK(children == v->len);
  return sum;
}

/* How many mutated payloads CONFIG's parser accepted, and with a network: the fuzz must reach past its checks. */
static int configs_accepted, networks_accepted;

static void fuzz_json(int iterations) {
  enum { CAP = 1024 };
  uint8_t work[CAP];
  char why[256];
  for (int it = 0; it < iterations; it++) {
    const char *seed = json_seeds[pick(sizeof json_seeds / sizeof *json_seeds)];
    size_t len = strlen(seed);
    memcpy(work, seed, len);
    len = mutate(work, len, CAP);
    uint8_t *buf = malloc(len ? len : 1);
    memcpy(buf, work, len);
    struct json_doc doc;
    const char *reason = NULL;
    if (json_parse(&doc, buf, len, &reason) == 0) {
      walk(&doc, json_root(&doc), 0);
      json_free(&doc);
    } else {
      CHECK(reason != NULL);
    }
    struct exec_request req;
    if (message_parse_exec(buf, len, &req, why, sizeof why) == 0) {
      CHECK(req.argc >= 1 && req.argv[req.argc] == NULL && req.env[req.envc] == NULL && req.cwd && req.user);
      message_free_exec(&req);
    }
    struct guest_config cfg;
    if (message_parse_config(buf, len, &cfg, why, sizeof why) == 0) {
      size_t host = strnlen(cfg.hostname, sizeof cfg.hostname), dev = strnlen(cfg.rootfs_device, sizeof cfg.rootfs_device);
      CHECK(host >= 1 && host <= CONFIG_HOSTNAME_MAX && dev <= CONFIG_DEVICE_MAX && cfg.rootfs_device[0] == '/');
      const struct guest_network *net = &cfg.network;
      CHECK(!net->interface[0] || (net->prefix >= 1 && net->prefix <= 32 && net->mtu >= 68 &&
                                   net->nameserver_count >= 1 && net->nameserver_count <= CONFIG_NAMESERVERS_MAX &&
                                   strnlen(net->search, sizeof net->search) <= CONFIG_SEARCH_MAX));
      if (net->interface[0]) networks_accepted++;
      configs_accepted++;
    }
    int64_t version;
    int sig;
    uint16_t rows, cols;
    message_parse_hello(buf, len, &version, why, sizeof why);
    if (message_parse_signal(buf, len, &sig, why, sizeof why) == 0) CHECK(sig >= 1 && sig <= 64);
    if (message_parse_resize(buf, len, &rows, &cols, why, sizeof why) == 0) CHECK(rows >= 1 && cols >= 1);
    free(buf);
  }
}

int main(void) {
  fuzz_decoder(100000);
  fuzz_json(30000);
  CHECK(configs_accepted > 200 && networks_accepted > 20);
  return test_finish("test_fuzz");
}
