/* The capability set a box's commands get (caps.c): names, docker's default, add/drop with ALL. */
#include "caps.h"
#include "json.h"
#include "session_harness.h"
#include "test.h"

#define BIT(name) CAP_BIT(caps_lookup(name))

static uint64_t resolve(const char *const *add, size_t nadd, const char *const *drop, size_t ndrop) {
  uint64_t set = 0;
  char why[200];
  CHECK(caps_resolve(add, nadd, drop, ndrop, &set, why, sizeof why) == 0);
  return set;
}

static void test_names(void) {
  CHECK(caps_lookup("CHOWN") == 0);
  CHECK(caps_lookup("cap_net_admin") == 12);
  CHECK(caps_lookup("Cap_Sys_Admin") == 21);
  CHECK(caps_lookup("CHECKPOINT_RESTORE") == CAPS_LAST);
  CHECK(caps_lookup("all") == CAPS_NAME_ALL);
  CHECK(caps_lookup("CAP_ALL") == CAPS_NAME_ALL);
  CHECK(caps_lookup("") == -1);
  CHECK(caps_lookup("CAP_") == -1);
  CHECK(caps_lookup("NET ADMIN") == -1);
  CHECK(caps_lookup("CAP_CAP_CHOWN") == -1);
  CHECK(caps_lookup("FOO") == -1);
  for (int n = 0; n <= CAPS_LAST; n++) CHECK(caps_lookup(caps_name(n)) == n);
}

static void test_default_set_is_dockers_fourteen(void) {
  static const char *const docker[] = {"CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
                                       "SETPCAP", "NET_BIND_SERVICE", "NET_RAW", "SYS_CHROOT", "MKNOD", "AUDIT_WRITE",
                                       "SETFCAP"};
  uint64_t want = 0;
  for (size_t i = 0; i < 14; i++) want |= BIT(docker[i]);
  CHECK(__builtin_popcountll(CAPS_DEFAULT) == 14);
  CHECK(CAPS_DEFAULT == want);
  CHECK(resolve(NULL, 0, NULL, 0) == CAPS_DEFAULT);
  CHECK(CAPS_DEFAULT == 0xa80425fbull); /* what docker's containers show as CapEff */
}

static void test_add_and_drop(void) {
  static const char *const net_admin[] = {"NET_ADMIN"}, *const net_raw[] = {"cap_net_raw"};
  CHECK(resolve(net_admin, 1, NULL, 0) == (CAPS_DEFAULT | BIT("NET_ADMIN")));
  CHECK(resolve(NULL, 0, net_raw, 1) == (CAPS_DEFAULT & ~BIT("NET_RAW")));
  /* A named add wins a conflict with a named drop. */
  static const char *const both[] = {"NET_RAW"};
  CHECK(resolve(both, 1, net_raw, 1) == CAPS_DEFAULT);
  static const char *const sys_admin_twice[] = {"SYS_ADMIN", "cap_sys_admin"};
  CHECK(resolve(sys_admin_twice, 2, NULL, 0) == (CAPS_DEFAULT | BIT("SYS_ADMIN")));
}

static void test_all(void) {
  static const char *const all[] = {"ALL"}, *const net_admin[] = {"NET_ADMIN"}, *const kill_[] = {"KILL"};
  CHECK(resolve(NULL, 0, all, 1) == 0);
  CHECK(resolve(net_admin, 1, all, 1) == BIT("NET_ADMIN"));
  CHECK(resolve(all, 1, NULL, 0) == CAPS_ALL);
  /* With ALL added, a named drop wins. */
  CHECK(resolve(all, 1, kill_, 1) == (CAPS_ALL & ~BIT("KILL")));
  /* ALL in both: ALL added wins (moby). */
  CHECK(resolve(all, 1, all, 1) == CAPS_ALL);
}

static void test_unknown_names_are_refused(void) {
  static const char *const bad[] = {"NET_ADMIN", "CAP_FLY"};
  uint64_t set = 7;
  char why[200];
  CHECK(caps_resolve(bad, 2, NULL, 0, &set, why, sizeof why) == -1);
  CHECK_STR(why, "CONFIG capabilities: unknown capability \"CAP_FLY\" in \"add\"");
  CHECK(caps_resolve(NULL, 0, bad + 1, 1, &set, why, sizeof why) == -1);
  CHECK_STR(why, "CONFIG capabilities: unknown capability \"CAP_FLY\" in \"drop\"");
}

static int parse(const char *text, uint64_t *set, char *why, size_t whylen) {
  struct json_doc doc;
  const char *reason;
  CHECK(json_parse(&doc, (const uint8_t *)text, strlen(text), &reason) == 0);
  int rc = caps_parse(&doc, json_root(&doc), set, why, whylen);
  json_free(&doc);
  return rc;
}

static void test_parse(void) {
  uint64_t set = 0;
  char why[200];
  CHECK(parse("{}", &set, why, sizeof why) == 0 && set == CAPS_DEFAULT);
  CHECK(parse("{\"add\":null,\"drop\":[]}", &set, why, sizeof why) == 0 && set == CAPS_DEFAULT);
  CHECK(parse("{\"drop\":[\"ALL\"],\"add\":[\"net_admin\"]}", &set, why, sizeof why) == 0 && set == BIT("NET_ADMIN"));
  CHECK(parse("{\"add\":\"NET_ADMIN\"}", &set, why, sizeof why) == -1);
  CHECK(parse("{\"add\":[1]}", &set, why, sizeof why) == -1);
  CHECK_STR(why, "CONFIG capabilities: \"add\" must hold strings");
  CHECK(parse("{\"drop\":[\"a\\u0000b\"]}", &set, why, sizeof why) == -1);
  CHECK(parse("{\"drop\":[\"NOPE\"]}", &set, why, sizeof why) == -2);
  CHECK_STR(why, "CONFIG capabilities: unknown capability \"NOPE\" in \"drop\"");
  char big[2048] = "{\"add\":[";
  for (int i = 0; i < CAPS_LIST_MAX + 1; i++) strcat(big, i ? ",\"KILL\"" : "\"KILL\"");
  strcat(big, "]}");
  CHECK(parse(big, &set, why, sizeof why) == -1);
}

static void test_no_new_privs(void) {
  static const char *const all[] = {"ALL"}, *const setuid_[] = {"SETUID"}, *const ids[] = {"SETUID", "SETGID"};
  /* docker's default keeps identity changes (su, sudo, setgid helpers): no no_new_privs. */
  CHECK(!caps_no_new_privs(CAPS_DEFAULT));
  CHECK(caps_no_new_privs(resolve(NULL, 0, all, 1)));
  CHECK(caps_no_new_privs(resolve(NULL, 0, ids, 2)));
  CHECK(!caps_no_new_privs(resolve(NULL, 0, setuid_, 1)));
  CHECK(!caps_no_new_privs(resolve(all, 1, NULL, 0)));
}

/* Sends one frame and returns the single frame the session answered with. */
static struct out_frame answer(struct harness *h, uint8_t type, uint32_t stream, const char *json) {
  struct out_frame out[4];
  send_json(h, type, stream, json);
  CHECK(take(h, out, 4) == 1);
  return out[0];
}

/* CONFIG's capabilities: resolved into the applied configuration, refused by name, and part of
 * what a CONFIG sent again must match. */
static void test_config_capabilities(void) {
  struct harness h;
  hello_session(&h);
  CHECK(answer(&h, FRAME_CONFIG, 0, CONFIG_JSON).type == FRAME_CONFIG && h.s.config.capabilities == CAPS_DEFAULT);
  /* The default set said out loud is the same configuration; another set is not. */
  CHECK(answer(&h, FRAME_CONFIG, 0,
               "{\"hostname\":\"0123456789ab\",\"rootfs\":{\"device\":\"/dev/vdb\"},\"capabilities\":{\"add\":[]}}")
            .type == FRAME_CONFIG);
  CHECK(h.configures == 1);
  struct out_frame e = answer(&h, FRAME_CONFIG, 0,
                              "{\"hostname\":\"0123456789ab\",\"rootfs\":{\"device\":\"/dev/vdb\"},"
                              "\"capabilities\":{\"drop\":[\"ALL\"]}}");
  CHECK(e.type == FRAME_ERROR && strstr(e.payload, "config_conflict") != NULL);
  session_destroy(&h.s);
  hello_session(&h);
  CHECK(answer(&h, FRAME_CONFIG, 0,
               "{\"hostname\":\"h\",\"rootfs\":{\"device\":\"/dev/vdb\"},\"capabilities\":{\"drop\":[\"all\"],"
               "\"add\":[\"CAP_NET_ADMIN\"]}}")
            .type == FRAME_CONFIG);
  CHECK(h.s.config.capabilities == CAP_BIT(12));
  session_destroy(&h.s);
  hello_session(&h);
  e = answer(&h, FRAME_CONFIG, 0, "{\"hostname\":\"h\",\"rootfs\":{\"device\":\"/dev/vdb\"},\"capabilities\":{\"add\":[\"FLY\"]}}");
  CHECK_STR(e.payload, "{\"code\":\"config_failed\",\"message\":\"CONFIG capabilities: unknown capability \\\"FLY\\\" in \\\"add\\\"\"}");
  CHECK(!h.s.configured && h.configures == 0);
  session_destroy(&h.s);
  /* Not an object, or a list of something else: malformed. */
  hello_session(&h);
  e = answer(&h, FRAME_CONFIG, 0, "{\"hostname\":\"h\",\"rootfs\":{\"device\":\"/dev/vdb\"},\"capabilities\":[]}");
  CHECK(e.type == FRAME_ERROR && strstr(e.payload, "\"code\":\"malformed\"") != NULL);
  session_destroy(&h.s);
}

int main(void) {
  test_names();
  test_default_set_is_dockers_fourteen();
  test_add_and_drop();
  test_all();
  test_unknown_names_are_refused();
  test_parse();
  test_no_new_privs();
  test_config_capabilities();
  return test_finish("test_caps");
}
