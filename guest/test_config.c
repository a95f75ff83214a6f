/* CONFIG (docs/guest-protocol.md, "Configuration"): its payload, and the session's rules for it. */
#include <arpa/inet.h>

#include "session_harness.h"

#define OTHER_CONFIG_JSON "{\"hostname\":\"other\",\"rootfs\":{\"device\":\"/dev/vdb\"}}"

/* Sends one frame and returns the single frame the session answered with. */
static struct out_frame answer(struct harness *h, uint8_t type, uint32_t stream, const char *json) {
  struct out_frame out[4];
  send_json(h, type, stream, json);
  CHECK(take(h, out, 4) == 1);
  return out[0];
}

/* Sends CONFIG json to a fresh session and checks it is refused with config_failed and message. */
static void refuse_config(const char *json, const char *message) {
  struct harness h;
  hello_session(&h);
  struct out_frame e = answer(&h, FRAME_CONFIG, 0, json);
  char want[600];
  size_t n = (size_t)snprintf(want, sizeof want, "{\"code\":\"config_failed\",\"message\":\"");
  for (const char *c = message; *c && n + 4 < sizeof want; c++) {
    if (*c == '"') want[n++] = '\\';
    want[n++] = *c;
  }
  snprintf(want + n, sizeof want - n, "\"}");
  CHECK_STR(e.payload, want);
  CHECK(e.type == FRAME_ERROR && e.stream == 0 && h.configures == 0 && !h.s.configured && h.s.state == SESSION_BROKEN);
  session_destroy(&h.s);
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
                       "\\\"0123456789ab\\\", rootfs /dev/vdb and no network\"}");
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

  /* A mount this agent cannot apply is refused, not malformed: the box must not start without it. */
  hello_session(&h);
  e = answer(&h, FRAME_CONFIG, 0, "{\"hostname\":\"a\",\"rootfs\":{\"device\":\"/dev/vdb\"},\"mounts\":[{}]}");
  CHECK_STR(e.payload, "{\"code\":\"config_failed\",\"message\":\"CONFIG mounts: missing field \\\"tag\\\"\"}");
  CHECK(h.configures == 0 && !h.s.configured);
  session_destroy(&h.s);
}

/* The network of docs/network.md, member by member. */
static const char *const network_members[][2] = {
    {"interface", "\"eth0\""}, {"address", "\"192.168.127.2\""},       {"prefix", "24"},
    {"gateway", "\"192.168.127.1\""}, {"mtu", "1500"}, {"nameservers", "[\"192.168.127.1\"]"},
    {"search", "[\"local\"]"},
};

/* A CONFIG for hostname with that network, key's value replaced by value (left out when NULL). */
static void network_config(char *buf, size_t cap, const char *hostname, const char *key, const char *value) {
  const char *head = "{\"hostname\":\"%s\",\"rootfs\":{\"device\":\"/dev/vdb\"},\"network\":{";
  size_t n = (size_t)snprintf(buf, cap, head, hostname);
  for (size_t i = 0; i < sizeof network_members / sizeof *network_members; i++) {
    const char *v = key && strcmp(key, network_members[i][0]) == 0 ? value : network_members[i][1];
    if (v) n += (size_t)snprintf(buf + n, cap - n, "%s\"%s\":%s", buf[n - 1] == '{' ? "" : ",", network_members[i][0], v);
  }
  snprintf(buf + n, cap - n, "}}");
}

static int parse(const char *json, struct guest_config *cfg, char *why, size_t whylen) {
  return message_parse_config((const uint8_t *)json, strlen(json), cfg, why, whylen);
}

static const char *address_of(struct in_addr a) {
  static char text[INET_ADDRSTRLEN];
  return inet_ntop(AF_INET, &a, text, sizeof text);
}

static void test_a_network_is_read_member_by_member(void) {
  struct guest_config cfg;
  char why[256], json[1024];
  const char *full = "{\"hostname\":\"box1\",\"rootfs\":{\"device\":\"/dev/vdb\"},\"network\":{\"interface\":\"eth0\","
                     "\"address\":\"192.168.127.2\",\"prefix\":24,\"gateway\":\"192.168.127.1\",\"mtu\":1500,"
                     "\"nameservers\":[\"192.168.127.1\",\"8.8.8.8\"],\"search\":[\"local\",\"corp.example\"],"
                     "\"future\":1}}";
  CHECK(parse(full, &cfg, why, sizeof why) == 0);
  const struct guest_network *net = &cfg.network;
  CHECK_STR(net->interface, "eth0");
  CHECK_STR(address_of(net->address), "192.168.127.2");
  CHECK_STR(address_of(net->gateway), "192.168.127.1");
  CHECK(net->prefix == 24 && net->mtu == 1500 && net->nameserver_count == 2);
  CHECK_STR(address_of(net->nameservers[1]), "8.8.8.8");
  CHECK_STR(net->search, "local corp.example");
  message_describe_config(&cfg, json, sizeof json);
  CHECK_STR(json, "hostname \"box1\", rootfs /dev/vdb and network 192.168.127.2/24 on eth0");
  /* search is optional: absent, null or empty is none. */
  static const char *const no_search[] = {NULL, "null", "[]"};
  for (size_t i = 0; i < 3; i++) {
    network_config(json, sizeof json, "box1", "search", no_search[i]);
    CHECK(parse(json, &cfg, why, sizeof why) == 0 && cfg.network.search[0] == '\0' && cfg.network.interface[0]);
  }
  /* The limits, each taken. */
  char longest_search[300], label63[64];
  memset(label63, 'a', 63);
  label63[63] = '\0';
  /* Three names of 63 bytes, one of 55 and three spaces: 247 bytes, the most musl reads. */
  snprintf(longest_search, sizeof longest_search, "[\"%s\",\"%s\",\"%s\",\"%.55s\"]", label63, label63, label63, label63);
  const char *const limits[][2] = {
      {"interface", "\"a23456789012345\""},
      {"prefix", "1"},
      {"mtu", "68"},
      {"mtu", "65535"},
      {"nameservers", "[\"1.1.1.1\",\"127.0.0.53\",\"192.168.127.1\"]"},
      {"search", "[\"a\",\"b\",\"c\",\"d\",\"e\",\"f-9.example\"]"},
      {"search", longest_search},
  };
  for (size_t i = 0; i < sizeof limits / sizeof *limits; i++) {
    network_config(json, sizeof json, "box1", limits[i][0], limits[i][1]);
    int rc = parse(json, &cfg, why, sizeof why);
    if (rc != 0) fprintf(stderr, "network limit %zu: %s\n", i, why);
    CHECK(rc == 0 && cfg.network.interface[0]);
  }
  CHECK(strlen(cfg.network.search) == CONFIG_SEARCH_MAX);
  /* A /31 has no subnet or broadcast address: both of its addresses are hosts (RFC 3021). */
  const char *p2p = "{\"hostname\":\"box1\",\"rootfs\":{\"device\":\"/dev/vdb\"},\"network\":{\"interface\":\"eth0\","
                    "\"address\":\"10.0.0.0\",\"prefix\":31,\"gateway\":\"10.0.0.1\",\"mtu\":1500,"
                    "\"nameservers\":[\"10.0.0.1\"]}}";
  CHECK(parse(p2p, &cfg, why, sizeof why) == 0 && cfg.network.prefix == 31);
}

/* The refusals that several bad values share. */
#define DOTTED(label) label " must be an IPv4 address (a dotted quad)"
#define NOT_A_DEVICE "\"interface\" must be a network device name (no '/', ':' or spaces)"
#define NOT_A_HOST(a) "\"address\" " a "/24 is not a unicast host address"
#define NOT_A_PREFIX "\"prefix\" must be an integer in 1..32"
#define NOT_A_GATEWAY(g) "\"gateway\" " g " must be another unicast host address in 192.168.127.2/24"

static void test_a_bad_network_is_refused_naming_the_member(void) {
  char label64[65], long_label[80], long_search[300];
  memset(label64, 'a', 64);
  label64[64] = '\0';
  snprintf(long_label, sizeof long_label, "[\"%s.example\"]", label64);
  /* One byte too many: three names of 63 bytes, one of 56 and three spaces. */
  snprintf(long_search, sizeof long_search, "[\"%.63s\",\"%.63s\",\"%.63s\",\"%.56s\"]", label64, label64, label64, label64);
  const char *const bad[][3] = {
      {"interface", NULL, "missing field \"interface\""},
      {"interface", "7", "\"interface\" must be a string"},
      {"interface", "\"\"", "\"interface\" must be 1 to 15 bytes"},
      {"interface", "\"a234567890123456\"", "\"interface\" must be 1 to 15 bytes"},
      {"interface", "\"eth/0\"", NOT_A_DEVICE},
      {"interface", "\"eth0:1\"", NOT_A_DEVICE},
      {"interface", "\"eth 0\"", NOT_A_DEVICE},
      {"interface", "\"..\"", NOT_A_DEVICE},
      {"address", NULL, "missing field \"address\""},
      {"address", "null", "missing field \"address\""},
      {"address", "3232268034", "\"address\" must be a string"},
      {"address", "\"192.168.127\"", DOTTED("\"address\"")},
      {"address", "\"192.168.127.256\"", DOTTED("\"address\"")},
      {"address", "\"192.168.127.02\"", DOTTED("\"address\"")},
      {"address", "\"192.168.127.2/24\"", DOTTED("\"address\"")},
      {"address", "\" 192.168.127.2\"", DOTTED("\"address\"")},
      {"address", "\"fd00::2\"", DOTTED("\"address\"")},
      {"address", "\"0.0.0.0\"", NOT_A_HOST("0.0.0.0")},
      {"address", "\"127.0.0.2\"", NOT_A_HOST("127.0.0.2")},
      {"address", "\"224.0.0.2\"", NOT_A_HOST("224.0.0.2")},
      {"address", "\"192.168.127.0\"", NOT_A_HOST("192.168.127.0")},
      {"address", "\"192.168.127.255\"", NOT_A_HOST("192.168.127.255")},
      {"prefix", NULL, "missing field \"prefix\""},
      {"prefix", "0", NOT_A_PREFIX},
      {"prefix", "33", NOT_A_PREFIX},
      {"prefix", "\"24\"", NOT_A_PREFIX},
      {"prefix", "24.5", NOT_A_PREFIX},
      {"prefix", "32", "\"gateway\" 192.168.127.1 must be another unicast host address in 192.168.127.2/32"},
      {"gateway", NULL, "missing field \"gateway\""},
      {"gateway", "\"192.168.127.x\"", DOTTED("\"gateway\"")},
      {"gateway", "\"192.168.128.1\"", NOT_A_GATEWAY("192.168.128.1")},
      {"gateway", "\"192.168.127.2\"", NOT_A_GATEWAY("192.168.127.2")},
      {"gateway", "\"192.168.127.255\"", NOT_A_GATEWAY("192.168.127.255")},
      {"gateway", "\"127.0.0.1\"", NOT_A_GATEWAY("127.0.0.1")},
      {"mtu", NULL, "missing field \"mtu\""},
      {"mtu", "67", "\"mtu\" must be an integer in 68..65535"},
      {"mtu", "65536", "\"mtu\" must be an integer in 68..65535"},
      {"nameservers", NULL, "missing field \"nameservers\""},
      {"nameservers", "\"192.168.127.1\"", "\"nameservers\" must be an array"},
      {"nameservers", "[]", "\"nameservers\" must hold 1 to 3 addresses"},
      {"nameservers", "[\"1.1.1.1\",\"1.1.1.2\",\"1.1.1.3\",\"1.1.1.4\"]", "\"nameservers\" must hold 1 to 3 addresses"},
      {"nameservers", "[\"1.1.1.1\",7]", DOTTED("\"nameservers\"[1]")},
      {"nameservers", "[\"dns.google\"]", DOTTED("\"nameservers\"[0]")},
      {"search", "\"local\"", "\"search\" must be an array"},
      {"search", "[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\"]", "\"search\" must hold at most 6 names"},
      {"search", "[\"local\",7]", "\"search\"[1] must be a DNS name"},
      {"search", "[\"\"]", "\"search\"[0] must be a DNS name"},
      {"search", "[\"a..b\"]", "\"search\"[0] must be a DNS name"},
      {"search", "[\"local.\"]", "\"search\"[0] must be a DNS name"},
      {"search", "[\"-a.b\"]", "\"search\"[0] must be a DNS name"},
      {"search", "[\"a-.b\"]", "\"search\"[0] must be a DNS name"},
      {"search", "[\"a_b\"]", "\"search\"[0] must be a DNS name"},
      {"search", "[\"a b\"]", "\"search\"[0] must be a DNS name"},
      {"search", "[\"local\\nnameserver 6.6.6.6\"]", "\"search\"[0] must be a DNS name"},
      {"search", long_label, "\"search\"[0] must be a DNS name"},
      {"search", long_search, "\"search\" must be at most 247 bytes with a space between names"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    char json[1024], want[512];
    network_config(json, sizeof json, "box1", bad[i][0], bad[i][1]);
    snprintf(want, sizeof want, "CONFIG network: %s", bad[i][2]);
    refuse_config(json, want);
  }
  /* The hostname goes in /etc/hosts: with a network, it must be a name a resolver can read there. */
  char json[1024];
  network_config(json, sizeof json, "box 1", NULL, NULL);
  refuse_config(json, "CONFIG network: the hostname \"box 1\" goes in /etc/hosts, so it must be a DNS name");
}

static void test_a_network_is_part_of_the_configuration(void) {
  struct harness h;
  hello_session(&h);
  char json[1024], other[1024];
  network_config(json, sizeof json, "box1", NULL, NULL);
  CHECK(answer(&h, FRAME_CONFIG, 0, json).type == FRAME_CONFIG && h.configures == 1);
  CHECK_STR(h.s.config.network.interface, "eth0");
  /* The same network, members in another order and an unknown one: acknowledged, not reapplied. */
  const char *same = "{\"network\":{\"search\":[\"local\"],\"nameservers\":[\"192.168.127.1\"],\"mtu\":1500,\"x\":{},"
                     "\"gateway\":\"192.168.127.1\",\"prefix\":24,\"address\":\"192.168.127.2\",\"interface\":\"eth0\"},"
                     "\"rootfs\":{\"device\":\"/dev/vdb\"},\"hostname\":\"box1\"}";
  CHECK(answer(&h, FRAME_CONFIG, 0, same).type == FRAME_CONFIG && h.configures == 1);
  /* Any member that differs, or no network at all, is another configuration. */
  static const char *const differ[][2] = {
      {"mtu", "9000"},
      {"nameservers", "[\"192.168.127.1\",\"8.8.8.8\"]"},
      {"search", "[\"local\",\"example\"]"},
      {"search", "[]"},
      {"gateway", "\"192.168.127.254\""},
  };
  for (size_t i = 0; i <= sizeof differ / sizeof *differ; i++) {
    if (i < sizeof differ / sizeof *differ) network_config(other, sizeof other, "box1", differ[i][0], differ[i][1]);
    else snprintf(other, sizeof other, "{\"hostname\":\"box1\",\"rootfs\":{\"device\":\"/dev/vdb\"},\"network\":{}}");
    struct out_frame e = answer(&h, FRAME_CONFIG, 0, other);
    CHECK_STR(e.payload, "{\"code\":\"config_conflict\",\"message\":\"the guest is already configured with hostname "
                         "\\\"box1\\\", rootfs /dev/vdb and network 192.168.127.2/24 on eth0\"}");
    CHECK(h.configures == 1 && h.s.configured);
    session_disconnected(&h.s);
    send_json(&h, FRAME_HELLO, 0, HELLO_JSON);
    struct out_frame out[4];
    CHECK(take(&h, out, 4) == 1 && out[0].type == FRAME_HELLO);
  }
  session_destroy(&h.s);
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

#define MOUNT_HEAD "{\"hostname\":\"a\",\"rootfs\":{\"device\":\"/dev/vdb\"},\"mounts\":["
#define MOUNT(fields) "{\"hostname\":\"a\",\"rootfs\":{\"device\":\"/dev/vdb\"},\"mounts\":[" fields "]}"
#define VOL(tag, path) "{\"tag\":\"" tag "\",\"path\":\"" path "\",\"host_uid\":1000,\"host_gid\":100}"

/* CONFIG's mounts: each field read, each rule enforced with a reason. */
static void test_config_mounts(void) {
  struct guest_config cfg;
  char why[256], text[320];
  CHECK(parse(MOUNT("{\"tag\":\"vol0\",\"path\":\"/src\",\"read_only\":true,\"host_uid\":1000,\"host_gid\":100,"
                    "\"user\":\"app\",\"future\":1}," VOL("vol1", "/etc/app.conf") ",{\"tag\":\"vol2\",\"path\":"
                    "\"/one\",\"file\":\"notes.txt\",\"host_uid\":0,\"host_gid\":0}"),
              &cfg, why, sizeof why) == 0);
  CHECK(cfg.mount_count == 3);
  CHECK_STR(cfg.mounts[0].tag, "vol0");
  CHECK_STR(cfg.mounts[0].path, "/src");
  CHECK_STR(cfg.mounts[0].user, "app");
  CHECK(cfg.mounts[0].read_only && cfg.mounts[0].host_uid == 1000 && cfg.mounts[0].host_gid == 100);
  CHECK(!cfg.mounts[1].read_only && cfg.mounts[1].file[0] == '\0' && cfg.mounts[1].user[0] == '\0');
  CHECK_STR(cfg.mounts[2].file, "notes.txt");
  message_describe_config(&cfg, text, sizeof text);
  CHECK_STR(text, "hostname \"a\", rootfs /dev/vdb, 3 volumes and no network");
  static const char *const refused[][2] = {
      {MOUNT(VOL("v/0", "/src")), "CONFIG mounts: the tag \"v/0\" must be of [A-Za-z0-9_.-]"},
      {MOUNT(VOL("v0", "src")), "CONFIG mounts: \"src\" must be an absolute path other than / without empty, . or .. parts"},
      {MOUNT(VOL("v0", "/")), "CONFIG mounts: \"/\" must be an absolute path other than / without empty, . or .. parts"},
      {MOUNT(VOL("v0", "/a/../etc")),
       "CONFIG mounts: \"/a/../etc\" must be an absolute path other than / without empty, . or .. parts"},
      {MOUNT(VOL("v0", "/a//b")), "CONFIG mounts: \"/a//b\" must be an absolute path other than / without empty, . or .. parts"},
      {MOUNT(VOL("v0", "/a/")), "CONFIG mounts: \"/a/\" must be an absolute path other than / without empty, . or .. parts"},
      {MOUNT(VOL("v0", "/a") "," VOL("v0", "/b")), "CONFIG mounts: two mounts have the tag \"v0\""},
      {MOUNT(VOL("v0", "/a") "," VOL("v1", "/a/b")), "CONFIG mounts: /a and /a/b overlap"},
      {MOUNT(VOL("v0", "/a/b") "," VOL("v1", "/a")), "CONFIG mounts: /a/b and /a overlap"},
      {MOUNT("{\"tag\":\"v0\",\"path\":\"/a\",\"file\":\"..\",\"host_uid\":0,\"host_gid\":0}"),
       "CONFIG mounts: \"file\" must be a file name, not \"..\""},
      {MOUNT("{\"tag\":\"v0\",\"path\":\"/a\",\"file\":\"x/y\",\"host_uid\":0,\"host_gid\":0}"),
       "CONFIG mounts: \"file\" must be a file name, not \"x/y\""},
      {MOUNT("{\"tag\":\"v0\",\"path\":\"/a\",\"host_uid\":4294967295,\"host_gid\":0}"),
       "CONFIG mounts: \"host_uid\" must be an integer in 0..4294967294"},
      {MOUNT("{\"tag\":\"v0\",\"path\":\"/a\",\"host_gid\":0}"), "CONFIG mounts: missing field \"host_uid\""},
      {MOUNT("1"), "CONFIG mounts: each mount must be an object"},
  };
  for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
    CHECK(parse(refused[i][0], &cfg, why, sizeof why) == CONFIG_REFUSED);
    CHECK_STR(why, refused[i][1]);
  }
  /* One share holding several volumes: a tag repeats with different subdirs, not with the same. */
  CHECK(parse(MOUNT("{\"tag\":\"shares\",\"subdir\":\"vol0\",\"path\":\"/a\",\"host_uid\":0,\"host_gid\":0},"
                    "{\"tag\":\"shares\",\"subdir\":\"vol1\",\"path\":\"/b\",\"host_uid\":0,\"host_gid\":0}"),
              &cfg, why, sizeof why) == 0);
  CHECK(cfg.mount_count == 2);
  CHECK_STR(cfg.mounts[1].subdir, "vol1");
  CHECK(parse(MOUNT("{\"tag\":\"shares\",\"subdir\":\"vol0\",\"path\":\"/a\",\"host_uid\":0,\"host_gid\":0},"
                    "{\"tag\":\"shares\",\"subdir\":\"vol0\",\"path\":\"/b\",\"host_uid\":0,\"host_gid\":0}"),
              &cfg, why, sizeof why) == CONFIG_REFUSED);
  CHECK_STR(why, "CONFIG mounts: two mounts have the tag \"shares\" and subdir vol0");
  CHECK(parse(MOUNT("{\"tag\":\"shares\",\"subdir\":\"..\",\"path\":\"/a\",\"host_uid\":0,\"host_gid\":0}"), &cfg, why,
              sizeof why) == CONFIG_REFUSED);
  CHECK_STR(why, "CONFIG mounts: \"subdir\" must be a file name, not \"..\"");
  /* Paths that share a prefix but not a part do not overlap. */
  CHECK(parse(MOUNT(VOL("v0", "/ab") "," VOL("v1", "/a")), &cfg, why, sizeof why) == 0 && cfg.mount_count == 2);
  /* At most CONFIG_MOUNTS_MAX. */
  char many[4096] = MOUNT_HEAD;
  for (int i = 0; i <= CONFIG_MOUNTS_MAX; i++) {
    size_t n = strlen(many);
    snprintf(many + n, sizeof many - n, "%s{\"tag\":\"v%d\",\"path\":\"/v%d\",\"host_uid\":0,\"host_gid\":0}", i ? "," : "",
             i, i);
  }
  strcat(many, "]}");
  CHECK(parse(many, &cfg, why, sizeof why) == CONFIG_REFUSED);
  CHECK_STR(why, "CONFIG mounts: at most 16 volumes, not 17");
}

int main(void) {
  test_commands_wait_for_the_configuration();
  test_the_configuration_outlives_connections();
  test_a_configuration_that_fails_can_be_sent_again();
  test_config_payloads_are_strict();
  test_a_network_is_read_member_by_member();
  test_a_bad_network_is_refused_naming_the_member();
  test_a_network_is_part_of_the_configuration();
  test_config_mounts();
  return test_finish("test_config");
}
