/*
 * The session's frame handler under random input (fixed seed): plausible frames, mutated
 * frames and garbage, split at random, interleaved with reaps, pumps, reads by the host and
 * disconnects. It must never crash (ASan/UBSan) and its invariants must hold throughout.
 */
#include "session_harness.h"

static const char *const bad_payloads[] = {
    "{\"version\":2}", "{\"argv\":[],\"env\":[],\"cwd\":\"/\"}", "{\"signal\":99}", "{\"rows\":0,\"cols\":80}",
    "{\"code\":\"malformed\",\"message\":\"x\"}", "not json", "", "{\"path\":\"rel\"}",
    "{\"path\":\"/a\",\"contents\":1,\"include_parent\":0}",
    "{\"hostname\":\"\",\"rootfs\":{\"device\":\"/dev/vdb\"}}", "{\"hostname\":\"h\",\"rootfs\":{\"device\":\"vdb\"}}",
    "{\"hostname\":\"h\",\"rootfs\":{\"device\":\"/d\"},\"mounts\":[1]}",
};

/* The payload of a valid frame of the given type. */
static size_t valid_payload(uint8_t type, uint8_t *out, size_t cap) {
  static const char *const execs[] = {
      EXEC_JSON,
      "{\"argv\":[\"sh\",\"-c\",\"x\"],\"env\":[\"A=1\"],\"cwd\":\"/w\",\"user\":\"app\",\"tty\":{\"rows\":1,\"cols\":2}}",
      "{\"argv\":[\"cat\"],\"env\":[],\"cwd\":\"/\",\"stdin\":false,\"future\":[1.5,{\"x\":null}]}",
  };
  const char *json = NULL;
  size_t len;
  switch (type) {
  case FRAME_HELLO: json = HELLO_JSON; break;
  case FRAME_CONFIG: json = pick(4) ? CONFIG_JSON : "{\"hostname\":\"other\",\"rootfs\":{\"device\":\"/dev/vdc\"}}"; break;
  case FRAME_EXEC: json = execs[pick(3)]; break;
  case FRAME_FILES_OUT:
    json = pick(2) ? "{\"path\":\"/etc\"}" : "{\"path\":\"/\",\"follow_symlinks\":true,\"include_parent\":false,\"x\":[1]}";
    break;
  case FRAME_FILES_IN:
    json = pick(2) ? "{\"path\":\"/tmp/x\",\"contents\":true}" : "{\"path\":\"/a\",\"no_overwrite\":null}";
    break;
  case FRAME_SIGNAL: json = pick(2) ? "{\"signal\":15}" : "{\"signal\":64}"; break;
  case FRAME_RESIZE: json = "{\"rows\":24,\"cols\":80}"; break;
  case FRAME_ERROR: json = "{\"code\":\"malformed\",\"message\":\"x\"}"; break;
  case FRAME_WINDOW:
    put_be32(out, pick(8) ? (uint32_t)pick(70000) : (uint32_t)test_rand(&test_rng));
    return 4;
  case FRAME_STDIN: /* mostly small; sometimes enough to run a window dry */
    len = pick(4) ? pick(200) : pick(cap);
    memset(out, 'x', len);
    return len;
  default:
    return 0;
  }
  len = strlen(json);
  memcpy(out, json, len);
  return len;
}

/* Writes one random frame to buf: mostly valid, sometimes wrong in one way. Returns its length. */
static size_t random_frame(uint8_t *buf, size_t cap) {
  static const uint8_t common[] = {0x02, 0x02, 0x05, 0x06, 0x10, 0x10, 0x10, 0x13, 0x13, 0x20, 0x21, 0x3f, 0x01, 0x31};
  static const uint8_t any[] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x10, 0x11, 0x12, 0x13, 0x20, 0x21, 0x30, 0x31, 0x3f};
  uint8_t type = pick(50) ? common[pick(sizeof common)] : any[pick(sizeof any)];
  if (type == FRAME_ERROR && pick(4)) type = FRAME_STDIN; /* an ERROR on stream 0 ends the channel */
  bool channel = type == FRAME_HELLO || type == FRAME_SHUTDOWN || type == FRAME_CONFIG;
  uint32_t stream = channel ? 0 : 1 + (uint32_t)pick(pick(8) ? 6 : 80);
  if (type == FRAME_ERROR && pick(3) == 0) stream = 0;
  if (pick(100) == 0) stream = (uint32_t)pick(3);
  static uint8_t payload[MAX_DATA_CHUNK];
  size_t len = valid_payload(type, payload, sizeof payload);
  if (pick(60) == 0) { /* a bad payload */
    const char *bad = bad_payloads[pick(sizeof bad_payloads / sizeof *bad_payloads)];
    len = strlen(bad);
    memcpy(payload, bad, len);
  }
  if (pick(60) == 0 && len) payload[pick(len)] ^= (uint8_t)(1u << pick(8));
  if (FRAME_HEADER + len > cap) return 0;
  frame_put_header(buf, type, stream, (uint32_t)len);
  memcpy(buf + FRAME_HEADER, payload, len);
  if (pick(200) == 0) buf[pick(FRAME_HEADER)] ^= (uint8_t)(1u << pick(8)); /* a bad header */
  return FRAME_HEADER + len;
}

static void check_invariants(struct harness *h) {
  uint32_t ids[MAX_STREAMS];
  size_t open = 0;
  bool ok = true;
  for (int i = 0; i < MAX_STREAMS; i++) {
    const struct stream *st = &h->s.streams[i];
    if (!st->id) continue;
    /* Credit is conserved: what the host may send + what we hold + what we owe back. */
    ok = ok && st->in_len + st->in_window + st->in_grant == INITIAL_WINDOW;
    ok = ok && st->out_window <= UINT32_MAX && (st->exited || st->pid >= 100);
    for (size_t j = 0; j < open; j++) ok = ok && ids[j] != st->id;
    ids[open++] = st->id;
  }
  CHECK(ok);
  CHECK(open == h->s.open_streams);
  /* Commands need the configuration, which, once applied, stays for the boot and is applied once. */
  CHECK(h->s.configured || open == 0);
  CHECK(h->configures <= 1 + h->failed_configures);
  CHECK(!h->s.configured || strcmp(h->s.config.hostname, "0123456789ab") == 0 || strcmp(h->s.config.hostname, "other") == 0);
  CHECK(h->s.out.len <= OUTBUF_CAP && h->s.in_len <= INBUF_CAP);
}

static void run_once(int steps) {
  struct harness h;
  setup(&h);
  static uint8_t bytes[4 * (FRAME_HEADER + MAX_DATA_CHUNK)];
  struct out_frame sink[1];
  if (pick(10)) send_json(&h, FRAME_HELLO, 0, HELLO_JSON);
  if (pick(4)) send_json(&h, FRAME_CONFIG, 0, CONFIG_JSON);
  for (int step = 0; step < steps; step++) {
    switch (pick(10)) {
    case 0: { /* a running process exits */
      struct stream *st = &h.s.streams[pick(MAX_STREAMS)];
      if (st->id && !st->exited) {
        st->code = (int)pick(256);
        st->exit_ns = st->start_ns + pick(1000000);
        session_stream_exited(&h.s, st);
      }
      break;
    }
    case 1:
      session_pump(&h.s);
      break;
    case 2:
      take(&h, sink, 0);
      session_process(&h.s);
      break;
    case 3: /* the host goes away, or (mostly after an error) comes back */
      if (h.s.state == SESSION_READY && pick(20)) break;
      session_disconnected(&h.s);
      send_json(&h, FRAME_HELLO, 0, HELLO_JSON);
      break;
    case 4:
      if (pick(50) == 0) { /* plain garbage */
        size_t n = 1 + pick(64);
        for (size_t i = 0; i < n; i++) bytes[i] = (uint8_t)test_rand(&test_rng);
        feed(&h, bytes, n, 1 + pick(16));
        break;
      }
      /* fall through */
    default: {
      size_t len = 0;
      for (int frames = 1 + (int)pick(4); frames > 0; frames--)
        len += random_frame(bytes + len, sizeof bytes - len);
      h.fail_spawn = pick(8) == 0;
      h.fail_configure = pick(8) == 0;
      feed(&h, bytes, len, 1 + pick(len < 1024 && pick(2) ? 16 : 8192)); /* tiny splits for small frames */
    }
    }
    check_invariants(&h);
    if (h.s.shutdown) break;
  }
  session_pump(&h.s);
  take(&h, sink, 0);
  session_destroy(&h.s);
}

int main(void) {
  for (int i = 0; i < 3000; i++) run_once(60);
  return test_finish("test_session_fuzz");
}
