/* The session's rules (docs/guest-protocol.md, "The session", "Flow control"), one by one. */
#include "session_harness.h"

static void test_handshake(void) {
  struct harness h;
  struct out_frame out[4];
  setup(&h);
  send_json(&h, FRAME_HELLO, 0, "{\"version\":1,\"future\":\"x\"}");
  CHECK(take(&h, out, 4) == 1 && out[0].type == FRAME_HELLO);
  CHECK_STR(out[0].payload, "{\"version\":1,\"agent\":\"boxlite-guest/" BOXLITE_GUEST_VERSION "\"}");
  CHECK(h.s.state == SESSION_READY);
  session_destroy(&h.s);

  setup(&h);
  send_json(&h, FRAME_HELLO, 0, "{\"version\":2}");
  CHECK(take(&h, out, 4) == 1 && out[0].type == FRAME_ERROR && out[0].stream == 0);
  CHECK(strstr(out[0].payload, "\"code\":\"version\"") != NULL);
  CHECK(h.s.state == SESSION_BROKEN);
  session_destroy(&h.s);

  /* Byte by byte: still one frame. */
  setup(&h);
  uint8_t hello[FRAME_HEADER + sizeof HELLO_JSON - 1];
  frame_put_header(hello, FRAME_HELLO, 0, sizeof HELLO_JSON - 1);
  memcpy(hello + FRAME_HEADER, HELLO_JSON, sizeof HELLO_JSON - 1);
  feed(&h, hello, sizeof hello, 1);
  CHECK(take(&h, out, 4) == 1 && out[0].type == FRAME_HELLO);
  session_destroy(&h.s);
}

static void test_malformed_breaks_the_channel(void) {
  struct harness h;
  struct out_frame out[4];
  setup(&h);
  send_json(&h, FRAME_EXEC, 1, EXEC_JSON);
  CHECK(take(&h, out, 4) == 1 && out[0].type == FRAME_ERROR && out[0].stream == 0);
  CHECK_STR(out[0].payload, "{\"code\":\"malformed\",\"message\":\"frame type 0x02 before HELLO\"}");
  CHECK(h.next_pid == 100 && h.s.state == SESSION_BROKEN);
  /* Discarded until the host goes; a HELLO means a new connection whose EOF went unseen. */
  send_json(&h, FRAME_EXEC, 1, EXEC_JSON);
  CHECK(take(&h, out, 4) == 0);
  send_json(&h, FRAME_HELLO, 0, HELLO_JSON);
  CHECK(take(&h, out, 4) == 1 && out[0].type == FRAME_HELLO && h.s.state == SESSION_READY);
  session_destroy(&h.s);

  const char *bad_payloads[][2] = {
      {"\x02", "{\"argv\":[\"a\"],\"env\":[]}"}, /* missing cwd */
      {"\x02", "{\"argv\":"},                   /* bad JSON */
      {"\x20", "{\"signal\":0}"},
      {"\x21", "{\"rows\":1}"},
      {"\x11", "stdout from the host"},
      {"\x01", "{\"version\":1}"}, /* HELLO again on a live connection: a reconnect, not an error */
  };
  for (size_t i = 0; i < sizeof bad_payloads / sizeof *bad_payloads; i++) {
    connect_session(&h);
    send_json(&h, FRAME_EXEC, 1, EXEC_JSON);
    take(&h, out, 4);
    bool reconnect = bad_payloads[i][0][0] == FRAME_HELLO;
    send_json(&h, (uint8_t)bad_payloads[i][0][0], reconnect ? 0 : 1, bad_payloads[i][1]);
    size_t n = take(&h, out, 4);
    CHECK(n == 1 && out[0].type == (reconnect ? FRAME_HELLO : FRAME_ERROR) && out[0].stream == 0);
    CHECK(reconnect || strstr(out[0].payload, "\"code\":\"malformed\"") != NULL);
    /* Either way the old connection's process is killed and its stream forgotten. */
    CHECK(h.terminated == 1 && h.s.open_streams == 0);
    session_destroy(&h.s);
  }

  /* A bad header: frame boundaries are lost, so even a HELLO is discarded until EOF. */
  connect_session(&h);
  uint8_t garbage[FRAME_HEADER] = {0, 0, 0, 0, 0, 0, 0, 1, 0x07, 0, 0, 0};
  feed(&h, garbage, sizeof garbage, 64);
  CHECK(take(&h, out, 4) == 1 && strstr(out[0].payload, "bad frame header: bad_type") != NULL);
  send_json(&h, FRAME_HELLO, 0, HELLO_JSON);
  CHECK(take(&h, out, 4) == 0);
  session_disconnected(&h.s);
  send_json(&h, FRAME_HELLO, 0, HELLO_JSON);
  CHECK(take(&h, out, 4) == 1 && out[0].type == FRAME_HELLO);
  session_destroy(&h.s);

  /* The host's ERROR on stream 0 closes the channel without an answer. */
  connect_session(&h);
  send_json(&h, FRAME_ERROR, 0, "{\"code\":\"malformed\",\"message\":\"x\"}");
  CHECK(take(&h, out, 4) == 0 && h.s.state == SESSION_BROKEN);
  session_destroy(&h.s);
}

static void test_exec_and_exit(void) {
  struct harness h;
  struct out_frame out[8];
  connect_session(&h);
  send_json(&h, FRAME_EXEC, 7, EXEC_JSON);
  CHECK(take(&h, out, 8) == 1 && out[0].type == FRAME_STARTED && out[0].stream == 7);
  CHECK_STR(out[0].payload, "{\"pid\":100}");
  exit_stream(&h, 7, 3, 1000 + 2500000);
  session_pump(&h.s);
  CHECK(take(&h, out, 8) == 1 && out[0].type == FRAME_EXIT && out[0].stream == 7);
  CHECK_STR(out[0].payload, "{\"code\":3,\"signal\":0,\"duration_us\":2500}");
  CHECK(h.s.open_streams == 0);
  /* Frames for a closed stream are ignored (they can cross the EXIT). */
  send_frame(&h, FRAME_STDIN, 7, "late", 4);
  send_window(&h, 7, 10);
  send_json(&h, FRAME_SIGNAL, 7, "{\"signal\":9}");
  send_json(&h, FRAME_RESIZE, 7, "{\"rows\":1,\"cols\":1}");
  CHECK(take(&h, out, 8) == 0 && h.s.state == SESSION_READY && h.signals == 0);
  /* The id is free again. */
  send_json(&h, FRAME_EXEC, 7, EXEC_JSON);
  CHECK(take(&h, out, 8) == 1 && out[0].type == FRAME_STARTED);
  /* Reusing an open stream id is malformed. */
  send_json(&h, FRAME_EXEC, 7, EXEC_JSON);
  CHECK(take(&h, out, 8) == 1 && out[0].type == FRAME_ERROR && out[0].stream == 0);
  CHECK_STR(out[0].payload, "{\"code\":\"malformed\",\"message\":\"EXEC on stream 7, which is already open\"}");
  session_destroy(&h.s);

  /* No process could be created: no STARTED, EXIT 126 with the reason. */
  connect_session(&h);
  h.fail_spawn = true;
  send_json(&h, FRAME_EXEC, 3, EXEC_JSON);
  session_pump(&h.s);
  CHECK(take(&h, out, 8) == 1 && out[0].type == FRAME_EXIT && out[0].stream == 3);
  CHECK_STR(out[0].payload, "{\"code\":126,\"signal\":0,\"duration_us\":0,"
                            "\"error\":\"unable to find user bob: no matching entries in /etc/passwd\"}");
  session_destroy(&h.s);
}

static void test_stream_limit(void) {
  struct harness h;
  struct out_frame out[70];
  connect_session(&h);
  for (uint32_t id = 1; id <= MAX_STREAMS + 1; id++) send_json(&h, FRAME_EXEC, id, EXEC_JSON);
  CHECK(take(&h, out, 70) == MAX_STREAMS + 1);
  CHECK(out[MAX_STREAMS].type == FRAME_ERROR && out[MAX_STREAMS].stream == MAX_STREAMS + 1);
  CHECK(strstr(out[MAX_STREAMS].payload, "\"code\":\"limit\"") != NULL);
  CHECK(h.s.state == SESSION_READY && h.s.open_streams == MAX_STREAMS);
  /* Losing the connection kills every process. */
  session_disconnected(&h.s);
  CHECK(h.terminated == MAX_STREAMS && h.s.open_streams == 0 && h.s.state == SESSION_AWAIT_HELLO);
  session_destroy(&h.s);
}

static void test_flow_control(void) {
  struct harness h;
  struct out_frame out[8];
  static uint8_t chunk[MAX_DATA_CHUNK];
  connect_session(&h);
  send_json(&h, FRAME_EXEC, 1, EXEC_JSON);
  take(&h, out, 8);
  for (int i = 0; i < 4; i++) send_frame(&h, FRAME_STDIN, 1, chunk, sizeof chunk);
  struct stream *st = &h.s.streams[0];
  CHECK(st->in_len == INITIAL_WINDOW && st->in_window == 0 && h.s.state == SESSION_READY);
  send_frame(&h, FRAME_STDIN, 1, chunk, 1);
  CHECK(take(&h, out, 8) == 1 && out[0].type == FRAME_ERROR);
  CHECK(strstr(out[0].payload, "exceeds its window") != NULL);
  session_destroy(&h.s);

  /* stdin: false drops the bytes and grants them back. */
  connect_session(&h);
  send_json(&h, FRAME_EXEC, 1, "{\"argv\":[\"a\"],\"env\":[],\"cwd\":\"/\",\"stdin\":false}");
  take(&h, out, 8);
  send_frame(&h, FRAME_STDIN, 1, chunk, 1000);
  session_pump(&h.s);
  CHECK(take(&h, out, 8) == 1 && out[0].type == FRAME_WINDOW && out[0].length == 4);
  CHECK(get_be32((const uint8_t *)out[0].payload) == 1000);
  /* WINDOW from the host adds up and saturates instead of wrapping. */
  send_window(&h, 1, 100);
  CHECK(h.s.streams[0].out_window == INITIAL_WINDOW + 100);
  send_window(&h, 1, UINT32_MAX);
  CHECK(h.s.streams[0].out_window == UINT32_MAX);
  /* After the reap, pending stdin is dropped and granted; EXIT follows the grant. */
  session_destroy(&h.s);

  connect_session(&h);
  send_json(&h, FRAME_EXEC, 1, EXEC_JSON);
  take(&h, out, 8);
  send_frame(&h, FRAME_STDIN, 1, chunk, 500);
  send_frame(&h, FRAME_STDIN, 1, chunk, 0);
  CHECK(h.s.streams[0].stdin_eof && h.s.streams[0].in_len == 500);
  exit_stream(&h, 1, 0, 2000);
  session_pump(&h.s);
  CHECK(take(&h, out, 8) == 2 && out[0].type == FRAME_WINDOW && out[1].type == FRAME_EXIT);
  CHECK(get_be32((const uint8_t *)out[0].payload) == 500);
  session_destroy(&h.s);
}

static void test_signal_and_resize(void) {
  struct harness h;
  struct out_frame out[8];
  connect_session(&h);
  send_json(&h, FRAME_EXEC, 1, EXEC_JSON);
  send_json(&h, FRAME_EXEC, 2, "{\"argv\":[\"a\"],\"env\":[],\"cwd\":\"/\",\"tty\":{\"rows\":2,\"cols\":3}}");
  take(&h, out, 8);
  send_json(&h, FRAME_SIGNAL, 1, "{\"signal\":15}");
  CHECK(h.signals == 1 && h.last_signal == 15);
  send_json(&h, FRAME_RESIZE, 1, "{\"rows\":10,\"cols\":20}"); /* no PTY: ignored */
  CHECK(h.resizes == 0);
  h.s.streams[1].fds[1] = 1000; /* pretend the PTY master is open */
  send_json(&h, FRAME_RESIZE, 2, "{\"rows\":10,\"cols\":20}");
  h.s.streams[1].fds[1] = -1;
  CHECK(h.resizes == 1);
  /* A bad payload is malformed even on a stream nobody opened. */
  send_json(&h, FRAME_SIGNAL, 99, "{\"signal\":\"TERM\"}");
  CHECK(take(&h, out, 8) == 1 && out[0].type == FRAME_ERROR);
  session_destroy(&h.s);

  connect_session(&h);
  send_frame(&h, FRAME_SHUTDOWN, 0, NULL, 0);
  send_json(&h, FRAME_EXEC, 1, EXEC_JSON);
  CHECK(h.s.shutdown && take(&h, out, 8) == 0);
  session_destroy(&h.s);
}

static void test_copies_run_like_commands(void) {
  struct harness h;
  struct out_frame out[8];
  static uint8_t chunk[1000];
  connect_session(&h);
  /* Defaults: follow_symlinks false, include_parent true; unknown fields are ignored. */
  send_json(&h, FRAME_FILES_OUT, 4, "{\"path\":\"/etc\",\"contents\":\"not checked here\",\"x\":{}}");
  CHECK(take(&h, out, 8) == 1 && out[0].type == FRAME_STARTED && out[0].stream == 4);
  CHECK(h.copies == 1 && h.last_copy_type == FRAME_FILES_OUT);
  CHECK_STR(h.last_copy.path, "/etc");
  CHECK(!h.last_copy.follow_symlinks && h.last_copy.include_parent);
  /* FILES_OUT reads nothing: STDIN is dropped and its credit granted back. */
  struct stream *st = &h.s.streams[0];
  CHECK(!st->stdin_open);
  send_frame(&h, FRAME_STDIN, 4, chunk, 300);
  session_pump(&h.s);
  CHECK(take(&h, out, 8) == 1 && out[0].type == FRAME_WINDOW && get_be32((const uint8_t *)out[0].payload) == 300);
  exit_stream(&h, 4, 2, 1000 + 7000);
  snprintf(st->error, sizeof st->error, "/etc does not exist");
  session_pump(&h.s);
  CHECK(take(&h, out, 8) == 1 && out[0].type == FRAME_EXIT && out[0].stream == 4);
  CHECK_STR(out[0].payload, "{\"code\":2,\"signal\":0,\"duration_us\":7,\"error\":\"/etc does not exist\"}");

  send_json(&h, FRAME_FILES_OUT, 5, "{\"path\":\"/a b\",\"follow_symlinks\":true,\"include_parent\":false}");
  CHECK(take(&h, out, 8) == 1 && out[0].type == FRAME_STARTED);
  CHECK(h.last_copy.follow_symlinks && !h.last_copy.include_parent);

  /* FILES_IN takes STDIN like a command with stdin: true, within the window. */
  send_json(&h, FRAME_FILES_IN, 6, "{\"path\":\"/tmp/x\",\"contents\":true,\"no_overwrite\":true}");
  CHECK(take(&h, out, 8) == 1 && out[0].type == FRAME_STARTED && out[0].stream == 6);
  CHECK(h.last_copy_type == FRAME_FILES_IN && h.last_copy.contents && h.last_copy.no_overwrite);
  CHECK_STR(h.last_copy.path, "/tmp/x");
  st = &h.s.streams[1];
  CHECK(st->id == 6 && st->stdin_open);
  send_frame(&h, FRAME_STDIN, 6, chunk, sizeof chunk);
  send_frame(&h, FRAME_STDIN, 6, NULL, 0);
  CHECK(st->in_len == sizeof chunk && st->stdin_eof && st->in_window == INITIAL_WINDOW - sizeof chunk);
  exit_stream(&h, 6, 0, 2000);
  session_pump(&h.s);
  CHECK(take(&h, out, 8) == 2 && out[0].type == FRAME_WINDOW && out[1].type == FRAME_EXIT);
  CHECK(strncmp(out[1].payload, "{\"code\":0,", 10) == 0);
  /* null booleans are absent: the defaults. */
  send_json(&h, FRAME_FILES_IN, 7, "{\"path\":\"/\",\"contents\":null,\"no_overwrite\":null}");
  CHECK(take(&h, out, 8) == 1 && out[0].type == FRAME_STARTED);
  CHECK(!h.last_copy.contents && !h.last_copy.no_overwrite);
  /* The open-stream rule is EXEC's. */
  send_json(&h, FRAME_FILES_IN, 7, "{\"path\":\"/\"}");
  CHECK(take(&h, out, 8) == 1 && out[0].type == FRAME_ERROR && out[0].stream == 0);
  CHECK_STR(out[0].payload, "{\"code\":\"malformed\",\"message\":\"FILES_IN on stream 7, which is already open\"}");
  session_destroy(&h.s);

  /* A copy that cannot start: no STARTED, EXIT 1 with the reason. */
  connect_session(&h);
  h.fail_spawn = true;
  send_json(&h, FRAME_FILES_IN, 3, "{\"path\":\"/x\"}");
  session_pump(&h.s);
  CHECK(take(&h, out, 8) == 1 && out[0].type == FRAME_EXIT && out[0].stream == 3);
  CHECK_STR(out[0].payload, "{\"code\":1,\"signal\":0,\"duration_us\":0,\"error\":\"pipe: Too many open files\"}");
  session_destroy(&h.s);

  /* The stream limit counts copies too. */
  connect_session(&h);
  for (uint32_t id = 1; id <= MAX_STREAMS; id++)
    send_json(&h, id % 2 ? FRAME_EXEC : FRAME_FILES_OUT, id, id % 2 ? EXEC_JSON : "{\"path\":\"/\"}");
  send_json(&h, FRAME_FILES_IN, 99, "{\"path\":\"/\"}");
  struct out_frame many[70];
  CHECK(take(&h, many, 70) == MAX_STREAMS + 1 && many[MAX_STREAMS].type == FRAME_ERROR);
  CHECK(many[MAX_STREAMS].stream == 99 && strstr(many[MAX_STREAMS].payload, "\"code\":\"limit\"") != NULL);
  session_destroy(&h.s);
}

static void test_copy_payloads_are_strict(void) {
  static const char *const bad[][2] = {
      {"\x05", "{}"},
      {"\x05", "{\"path\":null}"},
      {"\x05", "{\"path\":\"etc\"}"},
      {"\x05", "{\"path\":\"\"}"},
      {"\x05", "{\"path\":1}"},
      {"\x05", "{\"path\":\"/a\\u0000b\"}"},
      {"\x05", "{\"path\":\"/a\",\"follow_symlinks\":1}"},
      {"\x05", "{\"path\":\"/a\",\"include_parent\":\"true\"}"},
      {"\x06", "{\"path\":\"/a\",\"contents\":0}"},
      {"\x06", "{\"path\":\"/a\",\"no_overwrite\":[]}"},
      {"\x06", "{\"path\":\"/\\ud800\"}"},
      {"\x06", "[\"/a\"]"},
      {"\x06", "{\"path\":\"/a\""},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    struct harness h;
    struct out_frame out[4];
    connect_session(&h);
    send_json(&h, (uint8_t)bad[i][0][0], 1, bad[i][1]);
    CHECK(take(&h, out, 4) == 1 && out[0].type == FRAME_ERROR && out[0].stream == 0);
    CHECK(strstr(out[0].payload, "\"code\":\"malformed\"") != NULL && h.copies == 0);
    if (i == 2)
      CHECK_STR(out[0].payload,
                "{\"code\":\"malformed\",\"message\":\"FILES_OUT: \\\"path\\\" must be an absolute path\"}");
    if (i == 8)
      CHECK_STR(out[0].payload, "{\"code\":\"malformed\",\"message\":\"FILES_IN: \\\"contents\\\" must be a boolean\"}");
    session_destroy(&h.s);
  }
}

/* FREEZE and THAW answer with their own type; a frozen rootfs is thawed when the host goes. */
static void test_freeze_and_thaw(void) {
  struct harness h;
  struct out_frame out[4];
  hello_session(&h);
  send_json(&h, FRAME_FREEZE, 0, "{}");
  CHECK(take(&h, out, 4) == 1 && out[0].type == FRAME_FREEZE && h.freezes == 0);
  CHECK(strstr(out[0].payload, "\"code\":\"freeze_failed\"") != NULL && strstr(out[0].payload, "no CONFIG") != NULL);
  session_destroy(&h.s);

  connect_session(&h);
  send_json(&h, FRAME_FREEZE, 0, "{}");
  CHECK(take(&h, out, 4) == 1 && out[0].type == FRAME_FREEZE && out[0].stream == 0);
  CHECK_STR(out[0].payload, "{}");
  CHECK(h.freezes == 1 && h.s.frozen);
  send_json(&h, FRAME_FREEZE, 0, "{}"); /* again: already frozen, not frozen twice */
  CHECK(take(&h, out, 4) == 1 && out[0].type == FRAME_FREEZE && h.freezes == 1);
  send_json(&h, FRAME_THAW, 0, "{}");
  CHECK(take(&h, out, 4) == 1 && out[0].type == FRAME_THAW && h.thaws == 1 && !h.s.frozen);
  CHECK_STR(out[0].payload, "{}");
  send_json(&h, FRAME_THAW, 0, "{}");
  CHECK(take(&h, out, 4) == 1 && out[0].type == FRAME_THAW && h.thaws == 1);

  send_json(&h, FRAME_FREEZE, 0, "{}");
  CHECK(take(&h, out, 4) == 1 && h.s.frozen);
  session_disconnected(&h.s);
  CHECK(h.thaws == 2 && !h.s.frozen);
  session_destroy(&h.s);

  connect_session(&h);
  h.fail_freeze = true;
  send_json(&h, FRAME_FREEZE, 0, "{}");
  CHECK(take(&h, out, 4) == 1 && out[0].type == FRAME_FREEZE && !h.s.frozen && h.s.state == SESSION_READY);
  CHECK(strstr(out[0].payload, "Device or resource busy") != NULL);
  send_json(&h, FRAME_THAW, 0, "{\"x\":1}");
  CHECK(take(&h, out, 4) == 1 && out[0].type == FRAME_ERROR && strstr(out[0].payload, "malformed") != NULL);
  session_destroy(&h.s);
}

/* SUSPEND: the next HELLO (a resumed VM) keeps the listed streams — kept ones served afresh,
 * orphans renumbered out of the host's range and silent — and kills the rest; without a
 * SUSPEND, or after one that keeps nothing, a HELLO is a plain reconnect. */
static void test_suspend(void) {
  struct harness h;
  struct out_frame out[8];
  connect_session(&h);
  for (uint32_t id = 1; id <= 3; id++) {
    send_json(&h, FRAME_EXEC, id, EXEC_JSON);
    CHECK(take(&h, out, 8) == 1 && out[0].type == FRAME_STARTED);
  }
  send_json(&h, FRAME_SUSPEND, 0, "{\"keep\":[1],\"orphan\":[2]}");
  CHECK(take(&h, out, 8) == 1 && out[0].type == FRAME_SUSPEND && out[0].stream == 0);
  CHECK_STR(out[0].payload, "{}");
  CHECK(h.s.resume_pending && h.terminated == 0);
  h.s.streams[0].out_window = 0; /* the old host had not granted more */
  send_json(&h, FRAME_HELLO, 0, HELLO_JSON);
  CHECK(take(&h, out, 8) == 1 && out[0].type == FRAME_HELLO);
  CHECK(h.terminated == 1 && h.s.open_streams == 2 && !h.s.resume_pending);
  struct stream *kept = &h.s.streams[0], *orphan = &h.s.streams[1];
  CHECK(kept->id == 1 && !kept->orphan && kept->out_window == INITIAL_WINDOW && kept->in_window == INITIAL_WINDOW);
  CHECK(orphan->orphan && orphan->id == (ORPHAN_ID_BASE | 1u) && h.s.streams[2].id == 0);
  /* A new EXEC may reuse the orphan's old id. */
  send_json(&h, FRAME_EXEC, 2, EXEC_JSON);
  CHECK(take(&h, out, 8) == 1 && out[0].type == FRAME_STARTED && out[0].stream == 2);
  /* An orphan that exits goes without a word. */
  orphan->code = 0;
  orphan->exit_ns = 2000;
  session_stream_exited(&h.s, orphan);
  session_pump(&h.s);
  CHECK(take(&h, out, 8) == 0 && h.s.open_streams == 2);
  /* A second suspend keeps nothing new: a given-up suspend. The next HELLO is a plain reconnect. */
  send_json(&h, FRAME_SUSPEND, 0, "{}");
  CHECK(take(&h, out, 8) == 1 && out[0].type == FRAME_SUSPEND && !h.s.resume_pending);
  send_json(&h, FRAME_HELLO, 0, HELLO_JSON);
  CHECK(take(&h, out, 8) == 1 && h.terminated == 3 && h.s.open_streams == 0);
  session_destroy(&h.s);

  /* Orphans outlive later suspends without being listed again; the host's EOF ends a connection like a HELLO. */
  connect_session(&h);
  send_json(&h, FRAME_EXEC, 5, EXEC_JSON);
  take(&h, out, 8);
  send_json(&h, FRAME_SUSPEND, 0, "{\"orphan\":[5],\"keep\":null}");
  take(&h, out, 8);
  session_disconnected(&h.s);
  CHECK(h.s.open_streams == 1 && h.s.streams[0].orphan && h.terminated == 0);
  send_json(&h, FRAME_HELLO, 0, HELLO_JSON);
  send_json(&h, FRAME_SUSPEND, 0, "{}");
  CHECK(take(&h, out, 8) == 2 && h.s.resume_pending);
  send_json(&h, FRAME_HELLO, 0, HELLO_JSON);
  CHECK(h.s.open_streams == 1 && h.s.streams[0].orphan && h.terminated == 0);
  session_destroy(&h.s);

  const char *bad[] = {"{\"keep\":1}", "{\"keep\":[0]}", "{\"orphan\":[\"1\"]}", "{\"keep\":[2147483648]}", "[]"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    connect_session(&h);
    send_json(&h, FRAME_SUSPEND, 0, bad[i]);
    CHECK(take(&h, out, 8) == 1 && out[0].type == FRAME_ERROR && strstr(out[0].payload, "malformed") != NULL);
    CHECK(!h.s.resume_pending);
    session_destroy(&h.s);
  }
}

/* WAKE: the clock, entropy and disks reach the op; adopting disks is refused once CONFIG is
 * applied; a bad payload is malformed. */
static void test_wake(void) {
  struct harness h;
  struct out_frame out[4];
  char entropy[2 * WAKE_ENTROPY_MIN + 1];
  for (int i = 0; i < 2 * WAKE_ENTROPY_MIN; i++) entropy[i] = "0123456789abcdef"[i % 16];
  entropy[2 * WAKE_ENTROPY_MIN] = '\0';
  char payload[400];
  snprintf(payload, sizeof payload,
           "{\"time_s\":1796000000,\"time_ns\":5,\"entropy\":\"%s\",\"disks\":[{\"name\":\"vdb\",\"bytes\":"
           "1073741824},{\"name\":\"vdc\",\"bytes\":512}]}",
           entropy);
  hello_session(&h);
  send_json(&h, FRAME_WAKE, 0, payload);
  CHECK(take(&h, out, 4) == 1 && out[0].type == FRAME_WAKE && out[0].stream == 0);
  CHECK_STR(out[0].payload, "{}");
  CHECK(h.wakes == 1 && h.last_wake.time_s == 1796000000 && h.last_wake.time_ns == 5);
  CHECK(h.last_wake.entropy_len == WAKE_ENTROPY_MIN && h.last_wake.entropy[0] == 0x01 && h.last_wake.entropy[1] == 0x23);
  CHECK(h.last_wake.ndisks == 2 && h.last_wake.disks[0].bytes == 1073741824ull && h.last_wake.disks[1].bytes == 512);
  CHECK_STR(h.last_wake.disks[0].name, "vdb");
  CHECK_STR(h.last_wake.disks[1].name, "vdc");
  session_destroy(&h.s);

  connect_session(&h); /* configured: the disks are in use */
  send_json(&h, FRAME_WAKE, 0, payload);
  CHECK(take(&h, out, 4) == 1 && out[0].type == FRAME_WAKE && h.wakes == 0 && h.s.state == SESSION_READY);
  CHECK(strstr(out[0].payload, "\"code\":\"wake_failed\"") != NULL && strstr(out[0].payload, "in use") != NULL);
  snprintf(payload, sizeof payload, "{\"time_s\":1796000000,\"time_ns\":0,\"entropy\":\"%s\"}", entropy);
  send_json(&h, FRAME_WAKE, 0, payload); /* a clock and entropy only: fine after CONFIG (a resumed box) */
  CHECK(take(&h, out, 4) == 1 && out[0].type == FRAME_WAKE && h.wakes == 1 && h.last_wake.ndisks == 0);
  CHECK_STR(out[0].payload, "{}");
  session_destroy(&h.s);

  static const char *const bad[] = {
      "{\"time_s\":1,\"time_ns\":0}",                                  /* no entropy */
      "{\"time_s\":1,\"time_ns\":1000000000,\"entropy\":\"00\"}",    /* ns out of range */
      "{\"time_s\":1,\"time_ns\":0,\"entropy\":\"0011\"}",           /* too little entropy */
      "{\"time_s\":-1,\"time_ns\":0,\"entropy\":\"00\"}",           /* before the epoch */
  };
  static const char *const bad_disks[] = {
      "[{\"name\":\"vda\",\"bytes\":512}]",  /* the system disk */
      "[{\"name\":\"sda\",\"bytes\":512}]",  /* not a virtio disk */
      "[{\"name\":\"vdb0\",\"bytes\":512}]", /* a partition */
      "[{\"name\":\"vdb\",\"bytes\":513}]",  /* not whole sectors */
      "[{\"name\":\"vdb\",\"bytes\":0}]",    /* empty */
      "[{\"name\":\"vdb\"}]",                /* no size */
      "[\"vdb\"]",                             /* not an object */
      "{\"vdb\":512}",                         /* not an array */
      "[{\"name\":\"vdb\",\"bytes\":512},{\"name\":\"vdc\",\"bytes\":512},{\"name\":\"vdd\",\"bytes\":512},"
      "{\"name\":\"vde\",\"bytes\":512},{\"name\":\"vdf\",\"bytes\":512},{\"name\":\"vdg\",\"bytes\":512},"
      "{\"name\":\"vdh\",\"bytes\":512},{\"name\":\"vdi\",\"bytes\":512},{\"name\":\"vdj\",\"bytes\":512}]", /* too many */
  };
  for (size_t i = 0; i < sizeof bad_disks / sizeof bad_disks[0]; i++) {
    snprintf(payload, sizeof payload, "{\"time_s\":1,\"time_ns\":0,\"entropy\":\"%s\",\"disks\":%s}", entropy,
             bad_disks[i]);
    hello_session(&h);
    send_json(&h, FRAME_WAKE, 0, payload);
    CHECK(take(&h, out, 4) == 1 && out[0].type == FRAME_ERROR && strstr(out[0].payload, "\\\"disks\\\"") != NULL);
    CHECK(h.wakes == 0);
    session_destroy(&h.s);
  }
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    hello_session(&h);
    send_json(&h, FRAME_WAKE, 0, bad[i]);
    CHECK(take(&h, out, 4) == 1 && out[0].type == FRAME_ERROR && strstr(out[0].payload, "malformed") != NULL);
    CHECK(h.wakes == 0);
    session_destroy(&h.s);
  }
  snprintf(payload, sizeof payload, "{\"time_s\":1,\"time_ns\":0,\"entropy\":\"%.*sXY\"}", 2 * WAKE_ENTROPY_MIN - 2,
           entropy);
  hello_session(&h);
  send_json(&h, FRAME_WAKE, 0, payload); /* not hex */
  CHECK(take(&h, out, 4) == 1 && out[0].type == FRAME_ERROR && strstr(out[0].payload, "lowercase hex") != NULL);
  session_destroy(&h.s);
}

int main(void) {
  test_handshake();
  test_malformed_breaks_the_channel();
  test_exec_and_exit();
  test_stream_limit();
  test_flow_control();
  test_signal_and_resize();
  test_copies_run_like_commands();
  test_copy_payloads_are_strict();
  test_freeze_and_thaw();
  test_wake();
  test_suspend();
  return test_finish("test_session");
}
