/* CONFIG (docs/guest-protocol.md, "Configuration"): its payload, and the session's rules for it. */
#include "session_harness.h"

#define OTHER_CONFIG_JSON "{\"hostname\":\"other\",\"rootfs\":{\"device\":\"/dev/vdb\"}}"

/* Sends one frame and returns the single frame the session answered with. */
static struct out_frame answer(struct harness *h, uint8_t type, uint32_t stream, const char *json) {
  struct out_frame out[4];
  send_json(h, type, stream, json);
  CHECK(take(h, out, 4) == 1);
  return out[0];
}

static void test_commands_wait_for_the_configuration(void) {
  struct harness h;
  hello_session(&h);
  static const uint8_t types[] = {FRAME_EXEC, FRAME_FILES_OUT, FRAME_FILES_IN};
  static const char *const payloads[] = {EXEC_JSON, "{\"path\":\"/etc\"}", "{\"path\":\"/tmp\"}"};
  for (uint32_t i = 0; i < 3; i++) {
    struct out_frame e = answer(&h, types[i], i + 1, payloads[i]);
    CHECK(e.type == FRAME_ERROR && e.stream == i + 1 && strstr(e.payload, "\"code\":\"unconfigured\"") != NULL);
  }
  CHECK_STR(answer(&h, FRAME_EXEC, 9, EXEC_JSON).payload,
            "{\"code\":\"unconfigured\",\"message\":\"EXEC before CONFIG: the guest has no rootfs yet\"}");
  /* Refused, not broken: nothing ran, no stream is open, and the channel goes on. */
  CHECK(h.next_pid == 100 && h.copies == 0 && h.s.open_streams == 0 && h.s.state == SESSION_READY);
  send_frame(&h, FRAME_STDIN, 3, "tar", 3); /* for the refused FILES_IN: a closed stream's frame */
  struct out_frame ack = answer(&h, FRAME_CONFIG, 0, CONFIG_JSON);
  CHECK(ack.type == FRAME_CONFIG && ack.stream == 0);
  CHECK_STR(ack.payload, "{}");
  CHECK(h.configures == 1 && h.s.configured);
  CHECK_STR(h.s.config.hostname, "0123456789ab");
  CHECK_STR(h.s.config.rootfs_device, "/dev/vdb");
  CHECK(answer(&h, FRAME_EXEC, 1, EXEC_JSON).type == FRAME_STARTED);
  /* A malformed EXEC is malformed before it is unconfigured. */
  session_destroy(&h.s);
  hello_session(&h);
  struct out_frame e = answer(&h, FRAME_EXEC, 1, "{\"argv\":[]}");
  CHECK(e.type == FRAME_ERROR && e.stream == 0 && strstr(e.payload, "\"code\":\"malformed\"") != NULL);
  session_destroy(&h.s);
  /* Before HELLO, CONFIG is as malformed as anything else. */
  setup(&h);
  e = answer(&h, FRAME_CONFIG, 0, CONFIG_JSON);
  CHECK(e.type == FRAME_ERROR && strstr(e.payload, "\"code\":\"malformed\"") != NULL && h.configures == 0);
  session_destroy(&h.s);
}

static void test_the_configuration_outlives_connections(void) {
  struct harness h;
  connect_session(&h);
  /* Again, the same (field order, unknown fields and empty reserved fields do not matter): acknowledged, not reapplied. */
  static const char *const same[] = {
      CONFIG_JSON,
      "{\"rootfs\":{\"future\":1,\"device\":\"/dev/vdb\"},\"hostname\":\"0123456789ab\",\"mounts\":[],\"network\":{}}",
      "{\"hostname\":\"0123456789ab\",\"rootfs\":{\"device\":\"/dev/vdb\"},\"mounts\":null,\"network\":null,\"x\":[1.5]}",
  };
  for (size_t i = 0; i < 3; i++) CHECK(answer(&h, FRAME_CONFIG, 0, same[i]).type == FRAME_CONFIG);
  CHECK(h.configures == 1);
  CHECK(answer(&h, FRAME_EXEC, 1, EXEC_JSON).type == FRAME_STARTED);
  /* A new connection: the commands of the old one die, the configuration stays. */
  session_disconnected(&h.s);
  CHECK(h.terminated == 1 && h.s.configured);
  send_json(&h, FRAME_HELLO, 0, HELLO_JSON);
  struct out_frame out[4];
  CHECK(take(&h, out, 4) == 1 && out[0].type == FRAME_HELLO);
  CHECK(answer(&h, FRAME_EXEC, 2, EXEC_JSON).type == FRAME_STARTED);
  CHECK(answer(&h, FRAME_CONFIG, 0, CONFIG_JSON).type == FRAME_CONFIG && h.configures == 1);
  /* A different one is refused, and ends the connection: the rootfs is not swapped under its commands. */
  struct out_frame e = answer(&h, FRAME_CONFIG, 0, OTHER_CONFIG_JSON);
  CHECK(e.type == FRAME_ERROR && e.stream == 0);
  CHECK_STR(e.payload, "{\"code\":\"config_conflict\",\"message\":\"the guest is already configured with hostname "
                       "\\\"0123456789ab\\\" and rootfs /dev/vdb\"}");
  CHECK(h.s.state == SESSION_BROKEN && h.terminated == 2 && h.configures == 1);
  CHECK_STR(h.s.config.hostname, "0123456789ab");
  session_disconnected(&h.s);
  send_json(&h, FRAME_HELLO, 0, HELLO_JSON);
  take(&h, out, 4);
  e = answer(&h, FRAME_CONFIG, 0, "{\"hostname\":\"0123456789ab\",\"rootfs\":{\"device\":\"/dev/vdc\"}}");
  CHECK(strstr(e.payload, "\"code\":\"config_conflict\"") != NULL);
  session_destroy(&h.s);
}

static void test_a_configuration_that_fails_can_be_sent_again(void) {
  struct harness h;
  hello_session(&h);
  h.fail_configure = true;
  struct out_frame e = answer(&h, FRAME_CONFIG, 0, CONFIG_JSON);
  CHECK(e.type == FRAME_ERROR && e.stream == 0);
  CHECK_STR(e.payload, "{\"code\":\"config_failed\",\"message\":\"mount /dev/vdb on /rootfs: No such device\"}");
  CHECK(h.s.state == SESSION_BROKEN && !h.s.configured);
  session_disconnected(&h.s);
  h.fail_configure = false;
  send_json(&h, FRAME_HELLO, 0, HELLO_JSON);
  struct out_frame out[4];
  take(&h, out, 4);
  /* Not a conflict: nothing was applied, so another configuration is applied afresh. */
  CHECK(answer(&h, FRAME_CONFIG, 0, OTHER_CONFIG_JSON).type == FRAME_CONFIG);
  CHECK(h.configures == 2 && h.s.configured);
  CHECK_STR(h.s.config.hostname, "other");
  session_destroy(&h.s);

  /* Reserved fields: this agent cannot apply them, so a box that needs them must not start. */
  static const char *const reserved[][2] = {
      {"{\"hostname\":\"a\",\"rootfs\":{\"device\":\"/dev/vdb\"},\"mounts\":[{}]}", "mounts"},
      {"{\"hostname\":\"a\",\"rootfs\":{\"device\":\"/dev/vdb\"},\"network\":{\"address\":\"10.0.0.2/24\"}}", "network"},
  };
  for (size_t i = 0; i < 2; i++) {
    hello_session(&h);
    e = answer(&h, FRAME_CONFIG, 0, reserved[i][0]);
    char want[160];
    snprintf(want, sizeof want,
             "{\"code\":\"config_failed\",\"message\":\"\\\"%s\\\" is not supported by boxlite-guest/" BOXLITE_GUEST_VERSION
             "\"}",
             reserved[i][1]);
    CHECK_STR(e.payload, want);
    CHECK(h.configures == 0 && !h.s.configured);
    session_destroy(&h.s);
  }
}

static void test_config_payloads_are_strict(void) {
  char long_host[128], long_device[300];
  snprintf(long_host, sizeof long_host, "{\"hostname\":\"%065d\",\"rootfs\":{\"device\":\"/dev/vdb\"}}", 0);
  snprintf(long_device, sizeof long_device, "{\"hostname\":\"a\",\"rootfs\":{\"device\":\"/%0127d\"}}", 0);
  const char *const bad[][2] = {
      {"{\"rootfs\":{\"device\":\"/dev/vdb\"}}", "CONFIG: missing field \\\"hostname\\\""},
      {"{\"hostname\":\"\",\"rootfs\":{\"device\":\"/dev/vdb\"}}", "CONFIG: \\\"hostname\\\" must be 1 to 64 bytes"},
      {long_host, "CONFIG: \\\"hostname\\\" must be 1 to 64 bytes"},
      {"{\"hostname\":\"a\\u0000b\",\"rootfs\":{\"device\":\"/dev/vdb\"}}", "CONFIG: \\\"hostname\\\" must be a string"},
      {"{\"hostname\":7,\"rootfs\":{\"device\":\"/dev/vdb\"}}", "CONFIG: \\\"hostname\\\" must be a string"},
      {"{\"hostname\":\"a\"}", "CONFIG: missing field \\\"rootfs\\\""},
      {"{\"hostname\":\"a\",\"rootfs\":\"/dev/vdb\"}", "CONFIG: \\\"rootfs\\\" must be an object"},
      {"{\"hostname\":\"a\",\"rootfs\":{}}", "CONFIG rootfs: missing field \\\"device\\\""},
      {"{\"hostname\":\"a\",\"rootfs\":{\"device\":\"dev/vdb\"}}", "CONFIG rootfs: \\\"device\\\" must be an absolute path"},
      {long_device, "CONFIG rootfs: \\\"device\\\" must be 1 to 127 bytes"},
      {"{\"hostname\":\"a\",\"rootfs\":{\"device\":\"/d\"},\"mounts\":{}}", "CONFIG: \\\"mounts\\\" must be an array"},
      {"{\"hostname\":\"a\",\"rootfs\":{\"device\":\"/d\"},\"network\":[]}", "CONFIG: \\\"network\\\" must be an object"},
      {"[\"a\"]", "CONFIG: payload is not a JSON object"},
      {"", "CONFIG: bad JSON: "},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    struct harness h;
    hello_session(&h);
    struct out_frame e = answer(&h, FRAME_CONFIG, 0, bad[i][0]);
    char want[256];
    snprintf(want, sizeof want, "{\"code\":\"malformed\",\"message\":\"%s", bad[i][1]);
    if (strncmp(e.payload, want, strlen(want)) != 0) fprintf(stderr, "bad CONFIG %zu: got %s\n", i, e.payload);
    CHECK(e.type == FRAME_ERROR && e.stream == 0 && strncmp(e.payload, want, strlen(want)) == 0);
    CHECK(h.configures == 0 && !h.s.configured && h.s.state == SESSION_BROKEN);
    session_destroy(&h.s);
  }
  /* The longest of each is taken. */
  struct harness h;
  hello_session(&h);
  snprintf(long_device, sizeof long_device, "{\"hostname\":\"%064d\",\"rootfs\":{\"device\":\"/%0126d\"}}", 0, 0);
  CHECK(answer(&h, FRAME_CONFIG, 0, long_device).type == FRAME_CONFIG);
  CHECK(strlen(h.s.config.hostname) == CONFIG_HOSTNAME_MAX && strlen(h.s.config.rootfs_device) == CONFIG_DEVICE_MAX);
  session_destroy(&h.s);
}

int main(void) {
  test_commands_wait_for_the_configuration();
  test_the_configuration_outlives_connections();
  test_a_configuration_that_fails_can_be_sent_again();
  test_config_payloads_are_strict();
  return test_finish("test_config");
}
