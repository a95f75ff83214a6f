/* The allow-list: which rules are taken, what they allow, and the learned table's bound. */
#include <arpa/inet.h>

#include "policy.h"
#include "test.h"

static struct in_addr ip(const char *text) {
  struct in_addr a = {0};
  CHECK(inet_pton(AF_INET, text, &a) == 1);
  return a;
}

static struct net_policy *policy_of(const char *const *rules, size_t n) {
  struct net_policy *p = policy_new();
  char err[256];
  for (size_t i = 0; i < n; i++) {
    int rc = policy_add_rule(p, rules[i], err, sizeof err);
    if (rc != 0) fprintf(stderr, "refused %s: %s\n", rules[i], err);
    CHECK(rc == 0);
  }
  return p;
}

static void test_accepts_every_kind_of_rule(void) {
  const char *rules[] = {"example.com", "Example.ORG.", "*.example.net", "10.0.0.0/8", "1.2.3.4", "0.0.0.0/0", "192.168.1.7/32",
                         "_dmarc.example.com", "xn--bcher-kva.example", "a-b.c", "*.COM", "localhost", "255.255.255.255"};
  struct net_policy *p = policy_of(rules, sizeof rules / sizeof *rules);
  CHECK(policy_restricted(p));
  policy_free(p);
}

/* Each refused rule and a word its message must hold, so the user learns what is wrong. */
static void test_refuses_malformed_rules_saying_why(void) {
  static const struct {
    const char *rule, *why;
  } cases[] = {
      {"", "empty"},
      {"*.", "wildcard needs a domain"},
      {"*..", "wildcard needs a domain"},
      {"*", "leave the allow-list empty"},
      {"**.example.com", "first label"},
      {"*example.com", "first label"},
      {"foo.*.com", "first label"},
      {"*.*.com", "first label"},
      {"10.0.0.0/33", "0 to 32"},
      {"10.0.0.0/", "0 to 32"},
      {"10.0.0.0/08", "0 to 32"},
      {"10.0.0.0/-1", "0 to 32"},
      {"10.0.0.0/8/8", "0 to 32"},
      {"10.0.0/8", "CIDR is an IPv4 address"},
      {"/8", "CIDR is an IPv4 address"},
      {"example.com/8", "CIDR is an IPv4 address"},
      {"10.0.0.5/8", "the network is 10.0.0.0/8"},
      {"192.168.1.1/24", "the network is 192.168.1.0/24"},
      {"1.2.3", "not an IPv4 address"},
      {"1.2.3.4.5", "not an IPv4 address"},
      {"256.1.1.1", "not an IPv4 address"},
      {"01.2.3.4", "not an IPv4 address"},
      {"1.2.3.4.", "not an IPv4 address"},
      {"1..2.3", "not an IPv4 address"},
      {"::1", "IPv6"},
      {"2001:db8::/32", "IPv6"},
      {"example.com:443", "without a scheme or a port"},
      {"https://example.com", "without a scheme or a port"},
      {"exa mple.com", "only letters"},
      {"example.com\n", "only letters"},
      {"ex\xc3\xa4mple.com", "only letters"},
      {"a..b", "empty label"},
      {".example.com", "empty label"},
      {"example.com..", "empty label"},
      {".", "empty"},
      {"-a.example.com", "begins with '-'"},
      {"a-.example.com", "ends with '-'"},
      {"example-", "ends with '-'"},
  };
  struct net_policy *p = policy_new();
  char err[256];
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    memset(err, 0, sizeof err);
    int rc = policy_add_rule(p, cases[i].rule, err, sizeof err);
    if (rc == 0 || !strstr(err, cases[i].why) || strncmp(err, "allow rule \"", 12) != 0)
      fprintf(stderr, "rule \"%s\": rc %d, \"%s\", want \"%s\"\n", cases[i].rule, rc, err, cases[i].why);
    CHECK(rc == -1 && strstr(err, cases[i].why) != NULL && strncmp(err, "allow rule \"", 12) == 0);
  }
  CHECK(!policy_restricted(p));
  policy_free(p);
}

static void test_refuses_names_past_the_dns_limits(void) {
  char label63[64], label64[65], name[300];
  memset(label63, 'a', 63), label63[63] = '\0';
  memset(label64, 'a', 64), label64[64] = '\0';
  struct net_policy *p = policy_new();
  char err[256];
  snprintf(name, sizeof name, "%s.com", label63);
  CHECK(policy_add_rule(p, name, err, sizeof err) == 0);
  snprintf(name, sizeof name, "%s.com", label64);
  CHECK(policy_add_rule(p, name, err, sizeof err) == -1 && strstr(err, "longer than 63"));
  /* 253 characters: four labels of 63 with dots between, less two, is the most a name holds. */
  snprintf(name, sizeof name, "%s.%s.%s.%.61s", label63, label63, label63, label63);
  CHECK(strlen(name) == 253 && policy_add_rule(p, name, err, sizeof err) == 0 && policy_name_allowed(p, name));
  strcat(name, ".");
  CHECK(policy_add_rule(p, name, err, sizeof err) == 0); /* the trailing dot is not counted */
  snprintf(name, sizeof name, "%s.%s.%s.%.62s", label63, label63, label63, label63);
  CHECK(strlen(name) == 254 && policy_add_rule(p, name, err, sizeof err) == -1 && strstr(err, "longer than 253"));
  CHECK(!policy_name_allowed(p, name));
  policy_free(p);
}

static void test_error_messages_are_bounded_and_printable(void) {
  struct net_policy *p = policy_new();
  char small[16];
  memset(small, 'x', sizeof small);
  CHECK(policy_add_rule(p, "10.0.0.0/33", small, sizeof small) == -1);
  CHECK(memchr(small, '\0', sizeof small) != NULL && strncmp(small, "allow rule", 10) == 0);
  char err[256], longrule[400];
  memset(longrule, 'a', sizeof longrule - 1);
  longrule[sizeof longrule - 1] = '\0';
  longrule[3] = '\x1b'; /* an escape sequence must not reach a terminal */
  CHECK(policy_add_rule(p, longrule, err, sizeof err) == -1);
  CHECK(strstr(err, "aaa?aaa") != NULL && strstr(err, "...\"") != NULL && strchr(err, '\x1b') == NULL);
  CHECK(policy_add_rule(p, "", NULL, 0) == -1); /* no room for why: still refused */
  policy_free(p);
}

static void test_names_match_exactly_or_below_a_wildcard(void) {
  const char *rules[] = {"example.com", "*.example.net", "Mixed.Case.ORG."};
  struct net_policy *p = policy_of(rules, 3);
  const char *allowed[] = {"example.com", "EXAMPLE.com", "example.com.", "a.example.net", "a.b.c.example.net", "A.Example.Net.",
                           "mixed.case.org", "MIXED.CASE.ORG."};
  for (size_t i = 0; i < sizeof allowed / sizeof *allowed; i++) {
    if (!policy_name_allowed(p, allowed[i])) fprintf(stderr, "refused %s\n", allowed[i]);
    CHECK(policy_name_allowed(p, allowed[i]));
  }
  const char *refused[] = {"www.example.com", "example.net", "example.net.", "badexample.net", "xexample.com", "example.com.evil.org",
                           "example.co", "com", "", ".", ".example.net", "a..example.net", "a b.example.net", "example.com..",
                           "-x.example.net", "case.org"};
  for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
    if (policy_name_allowed(p, refused[i])) fprintf(stderr, "allowed %s\n", refused[i]);
    CHECK(!policy_name_allowed(p, refused[i]));
  }
  CHECK(!policy_ip_allowed(p, ip("93.184.216.34"))); /* name rules allow no address by themselves */
  policy_free(p);
}

static void test_addresses_match_ip_and_cidr_rules(void) {
  const char *rules[] = {"10.0.0.0/8", "192.168.1.7", "172.16.0.0/12"};
  struct net_policy *p = policy_of(rules, 3);
  CHECK(policy_ip_allowed(p, ip("10.0.0.0")) && policy_ip_allowed(p, ip("10.255.255.255")) && policy_ip_allowed(p, ip("10.1.2.3")));
  CHECK(!policy_ip_allowed(p, ip("11.0.0.0")) && !policy_ip_allowed(p, ip("9.255.255.255")));
  CHECK(policy_ip_allowed(p, ip("192.168.1.7")) && !policy_ip_allowed(p, ip("192.168.1.8")) && !policy_ip_allowed(p, ip("192.168.1.6")));
  CHECK(policy_ip_allowed(p, ip("172.31.255.255")) && !policy_ip_allowed(p, ip("172.32.0.0")) && !policy_ip_allowed(p, ip("172.15.255.255")));
  CHECK(!policy_name_allowed(p, "10.1.2.3")); /* an address rule is not a name rule */
  policy_free(p);
  const char *everything[] = {"0.0.0.0/0"};
  p = policy_of(everything, 1);
  CHECK(policy_ip_allowed(p, ip("0.0.0.0")) && policy_ip_allowed(p, ip("255.255.255.255")) && policy_ip_allowed(p, ip("8.8.8.8")));
  policy_free(p);
}

static void test_no_rule_means_unrestricted(void) {
  struct net_policy *p = policy_new();
  char err[64];
  CHECK(!policy_restricted(p));
  CHECK(!policy_name_allowed(p, "example.com") && !policy_ip_allowed(p, ip("1.2.3.4")));
  CHECK(policy_add_rule(p, "*", err, sizeof err) == -1 && !policy_restricted(p));
  policy_free(p);
  policy_free(NULL);
}

static void test_learns_which_name_an_address_was_answered_for(void) {
  struct net_policy *p = policy_new();
  struct in_addr a = ip("93.184.216.34"), b = ip("93.184.216.35");
  CHECK(!policy_ip_learned(p, a) && !policy_ip_learned_for(p, "example.com", a));
  policy_learn(p, "Example.COM.", a);
  CHECK(policy_ip_learned(p, a) && !policy_ip_learned(p, b));
  CHECK(policy_ip_learned_for(p, "example.com", a) && policy_ip_learned_for(p, "EXAMPLE.com.", a));
  CHECK(!policy_ip_learned_for(p, "example.com", b) && !policy_ip_learned_for(p, "www.example.com", a) && !policy_ip_learned_for(p, "com", a));
  policy_learn(p, "other.test", a); /* two names on one address (a shared host) */
  CHECK(policy_ip_learned_for(p, "other.test", a) && policy_ip_learned_for(p, "example.com", a));
  policy_learn(p, "not a name", b);
  policy_learn(p, "", b);
  CHECK(!policy_ip_learned(p, b));
  CHECK(!policy_ip_learned_for(p, "", a) && !policy_ip_learned_for(p, "a..b", a));
  policy_free(p);
}

/* Pair i of a run: a distinct name and address. */
static void learn_nth(struct net_policy *p, uint32_t i) {
  char name[32];
  snprintf(name, sizeof name, "host%u.example", (unsigned)i);
  policy_learn(p, name, (struct in_addr){htonl(0x0a000000u + i)});
}

static bool learned_nth(const struct net_policy *p, uint32_t i) {
  char name[32];
  snprintf(name, sizeof name, "host%u.example", (unsigned)i);
  return policy_ip_learned_for(p, name, (struct in_addr){htonl(0x0a000000u + i)});
}

static void test_learned_table_forgets_the_least_recent_first(void) {
  struct net_policy *p = policy_new();
  for (uint32_t i = 0; i < POLICY_LEARNED_MAX; i++) learn_nth(p, i);
  CHECK(learned_nth(p, 0) && learned_nth(p, POLICY_LEARNED_MAX - 1));
  learn_nth(p, 0); /* learned again: now the most recent, and not a second entry */
  learn_nth(p, POLICY_LEARNED_MAX);
  CHECK(learned_nth(p, 0) && !learned_nth(p, 1) && learned_nth(p, 2) && learned_nth(p, POLICY_LEARNED_MAX));
  CHECK(!policy_ip_learned(p, (struct in_addr){htonl(0x0a000001u)}));
  for (uint32_t i = 0; i < POLICY_LEARNED_MAX; i++) learn_nth(p, 100000 + i);
  CHECK(!learned_nth(p, 0) && !learned_nth(p, POLICY_LEARNED_MAX) && learned_nth(p, 100000) && learned_nth(p, 100000 + POLICY_LEARNED_MAX - 1));
  policy_free(p);
}

static void test_a_pair_learned_twice_takes_one_entry(void) {
  struct net_policy *p = policy_new();
  learn_nth(p, 0);
  learn_nth(p, 1);
  learn_nth(p, 1);
  for (uint32_t i = 2; i < POLICY_LEARNED_MAX; i++) learn_nth(p, i);
  CHECK(learned_nth(p, 0)); /* exactly POLICY_LEARNED_MAX pairs: none forgotten */
  policy_free(p);
}

/* Random rules from the characters rules are made of: each is taken or refused with a message,
 * and a taken name rule allows itself. */
static void fuzz_rules(void) {
  static const char alphabet[] = "ab0129.*/:-_ X\x80";
  struct net_policy *p = policy_new();
  char rule[24], err[128];
  int taken = 0;
  for (int round = 0; round < FUZZ_ROUNDS; round++) {
    size_t n = pick(sizeof rule);
    for (size_t i = 0; i < n; i++) rule[i] = alphabet[pick(sizeof alphabet - 1)];
    rule[n] = '\0';
    err[0] = '\0';
    int rc = policy_add_rule(p, rule, err, sizeof err);
    CHECK(rc == 0 || (rc == -1 && strncmp(err, "allow rule \"", 12) == 0));
    if (rc == 0 && !strchr(rule, '*') && strspn(rule, "0123456789./") != n) CHECK(policy_name_allowed(p, rule));
    taken += rc == 0;
    policy_learn(p, rule, (struct in_addr){htonl((uint32_t)round)});
  }
  CHECK(taken > 100); /* the fuzz reaches past the checks */
  policy_free(p);
}

int main(void) {
  test_accepts_every_kind_of_rule();
  test_refuses_malformed_rules_saying_why();
  test_refuses_names_past_the_dns_limits();
  test_error_messages_are_bounded_and_printable();
  test_names_match_exactly_or_below_a_wildcard();
  test_addresses_match_ip_and_cidr_rules();
  test_no_rule_means_unrestricted();
  test_learns_which_name_an_address_was_answered_for();
  test_learned_table_forgets_the_least_recent_first();
  test_a_pair_learned_twice_takes_one_entry();
  fuzz_rules();
  return test_finish("test_policy");
}
