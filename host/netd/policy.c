/*
 * The allow-list (policy.h). A user's rules are few, so they are scanned in order. The learned
 * table is a fixed array scanned linearly: POLICY_LEARNED_MAX pairs cost one pass per DNS
 * answer or connection, far below the network round trips around it, and it cannot grow
 * however many names the box resolves.
 */
#include "policy.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hostname.h"

/* RFC 1035 2.3.4: 255 octets on the wire are 253 characters in dotted form. */
#define NAME_MAX_LEN 253
#define LABEL_MAX_LEN 63
#define RULE_SHOWN_MAX 64 /* how much of a refused rule its message repeats */

enum rule_kind { RULE_NAME, RULE_WILDCARD, RULE_NET };

struct rule {
  enum rule_kind kind;
  uint32_t net, mask;          /* RULE_NET, host byte order */
  char name[NAME_MAX_LEN + 1]; /* RULE_NAME; RULE_WILDCARD: the domain after "*." */
};

struct learned {
  uint64_t stamp; /* when last learned; the smallest goes first */
  struct in_addr addr;
  char name[NAME_MAX_LEN + 1];
};

struct net_policy {
  struct rule *rules;
  size_t n_rules, cap_rules;
  uint64_t clock;
  size_t n_learned;
  struct learned learned[POLICY_LEARNED_MAX];
};

struct net_policy *policy_new(void) { return calloc(1, sizeof(struct net_policy)); }

void policy_free(struct net_policy *p) {
  if (!p) return;
  free(p->rules);
  free(p);
}

static const char NAME_EMPTY[] = "the name is empty";

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* Writes `in` lowercase into out without its trailing dot. NULL when it is a host name, else why not. */
static const char *normalize_name(const char *in, char out[NAME_MAX_LEN + 1]) {
  size_t len = strlen(in);
  if (len && in[len - 1] == '.') len--;
  if (len == 0) return NAME_EMPTY;
  if (len > NAME_MAX_LEN) return "the name is longer than 253 characters";
  size_t label = 0;
  for (size_t i = 0; i < len; i++) {
    char c = (char)ascii_lower((unsigned char)in[i]);
    out[i] = c;
    if (c == '.') {
      if (label == 0) return "the name has an empty label";
      if (out[i - 1] == '-') return "a label ends with '-'";
      label = 0;
    } else if (hostname_byte((unsigned char)c)) {
      if (label == 0 && c == '-') return "a label begins with '-'";
      if (++label > LABEL_MAX_LEN) return "a label is longer than 63 characters";
    } else {
      return "a name has only letters, digits, '-', '_' and dots";
    }
  }
  if (label == 0) return "the name has an empty label";
  if (out[len - 1] == '-') return "a label ends with '-'";
  out[len] = '\0';
  return NULL;
}

/* Writes "allow rule "RULE": why" into err. The rule is shown cut and with control bytes
 * replaced, since it may be anything a caller passed. Returns -1. */
__attribute__((format(printf, 4, 5))) static int refuse(char *err, size_t errlen, const char *rule, const char *fmt, ...) {
  if (!err || errlen == 0) return -1;
  char shown[RULE_SHOWN_MAX + sizeof "..."];
  size_t n = 0;
  for (; rule[n] && n < RULE_SHOWN_MAX; n++) shown[n] = rule[n] >= 0x20 && rule[n] < 0x7f ? rule[n] : '?';
  strcpy(shown + n, rule[n] ? "..." : "");
  int used = snprintf(err, errlen, "allow rule \"%s\": ", shown);
  if (used < 0 || (size_t)used >= errlen) return -1;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err + used, errlen - (size_t)used, fmt, ap);
  va_end(ap);
  return -1;
}

/* Reads exactly a dotted quad of decimal numbers 0 to 255. A leading zero is refused: inet_aton
 * and friends read "010" as octal, so the user may mean something else. */
static bool parse_ipv4(const char *s, size_t n, uint32_t *out) {
  uint32_t addr = 0;
  size_t i = 0;
  for (int part = 0; part < 4; part++) {
    if (part > 0 && (i >= n || s[i++] != '.')) return false;
    size_t start = i;
    uint32_t v = 0;
    while (i < n && is_digit(s[i]) && i - start < 3) v = v * 10 + (uint32_t)(s[i++] - '0');
    if (i == start || v > 255 || (s[start] == '0' && i - start > 1)) return false;
    addr = addr << 8 | v;
  }
  if (i != n) return false;
  *out = addr;
  return true;
}

static int parse_net(const char *rule, const char *slash, struct rule *r, char *err, size_t errlen) {
  uint32_t addr;
  if (!parse_ipv4(rule, (size_t)(slash - rule), &addr))
    return refuse(err, errlen, rule, "a CIDR is an IPv4 address, '/' and a prefix length, as in 10.0.0.0/8");
  const char *digits = slash + 1;
  size_t n = strlen(digits);
  bool number = (n == 1 && is_digit(digits[0])) || (n == 2 && digits[0] >= '1' && digits[0] <= '3' && is_digit(digits[1]));
  unsigned prefix = number ? (unsigned)atoi(digits) : 33;
  if (prefix > 32) return refuse(err, errlen, rule, "the prefix length after '/' is not a number from 0 to 32");
  /* A shift by 32 is undefined, hence /0 apart. */
  uint32_t mask = prefix ? UINT32_MAX << (32 - prefix) : 0;
  if (addr & ~mask) {
    uint32_t net = addr & mask;
    return refuse(err, errlen, rule, "host bits are set below /%u; the network is %u.%u.%u.%u/%u", prefix, net >> 24, net >> 16 & 255,
                  net >> 8 & 255, net & 255, prefix);
  }
  *r = (struct rule){.kind = RULE_NET, .net = addr, .mask = mask};
  return 0;
}

/* Fills r from the rule's text, or refuses it. */
static int parse_rule(const char *rule, struct rule *r, char *err, size_t errlen) {
  if (!*rule) return refuse(err, errlen, rule, "the rule is empty");
  const char *colon = strchr(rule, ':');
  if (colon && strchr(colon + 1, ':')) return refuse(err, errlen, rule, "IPv6 is not supported: the box has IPv4 only");
  if (colon) return refuse(err, errlen, rule, "a rule is a host name, an IPv4 address or an IPv4 CIDR, without a scheme or a port");
  const char *slash = strchr(rule, '/');
  if (slash) return parse_net(rule, slash, r, err, errlen);
  /* Digits and dots only: no host name (its last label is never all digits), so an address. */
  if (strspn(rule, "0123456789.") == strlen(rule) && strpbrk(rule, "0123456789")) {
    uint32_t addr;
    if (!parse_ipv4(rule, strlen(rule), &addr)) return refuse(err, errlen, rule, "not an IPv4 address (four numbers from 0 to 255, as in 10.1.2.3)");
    *r = (struct rule){.kind = RULE_NET, .net = addr, .mask = UINT32_MAX};
    return 0;
  }
  if (strcmp(rule, "*") == 0) return refuse(err, errlen, rule, "'*' alone is not a rule: leave the allow-list empty to allow everything");
  bool wildcard = strncmp(rule, "*.", 2) == 0;
  const char *domain = wildcard ? rule + 2 : rule;
  if (strchr(domain, '*')) return refuse(err, errlen, rule, "'*' stands only as the whole first label, as in *.example.com");
  *r = (struct rule){.kind = wildcard ? RULE_WILDCARD : RULE_NAME};
  const char *why = normalize_name(domain, r->name);
  if (why == NAME_EMPTY && wildcard) why = "a wildcard needs a domain after \"*.\"";
  return why ? refuse(err, errlen, rule, "%s", why) : 0;
}

int policy_add_rule(struct net_policy *p, const char *rule, char *err, size_t errlen) {
  struct rule r;
  if (parse_rule(rule, &r, err, errlen) != 0) return -1;
  if (p->n_rules == p->cap_rules) {
    size_t cap = p->cap_rules ? 2 * p->cap_rules : 8;
    struct rule *grown = realloc(p->rules, cap * sizeof *grown);
    if (!grown) return refuse(err, errlen, rule, "out of memory");
    p->rules = grown;
    p->cap_rules = cap;
  }
  p->rules[p->n_rules++] = r;
  return 0;
}

bool policy_restricted(const struct net_policy *p) { return p->n_rules > 0; }

bool policy_name_allowed(const struct net_policy *p, const char *name) {
  char n[NAME_MAX_LEN + 1];
  if (normalize_name(name, n)) return false;
  size_t len = strlen(n);
  for (size_t i = 0; i < p->n_rules; i++) {
    const struct rule *r = &p->rules[i];
    if (r->kind == RULE_NAME && strcmp(n, r->name) == 0) return true;
    if (r->kind != RULE_WILDCARD) continue;
    /* Below the domain: at least one label, then a dot, then the domain itself. */
    size_t domain = strlen(r->name);
    if (len > domain + 1 && n[len - domain - 1] == '.' && strcmp(n + len - domain, r->name) == 0) return true;
  }
  return false;
}

bool policy_ip_allowed(const struct net_policy *p, struct in_addr addr) {
  uint32_t a = ntohl(addr.s_addr);
  for (size_t i = 0; i < p->n_rules; i++) {
    const struct rule *r = &p->rules[i];
    if (r->kind == RULE_NET && (a & r->mask) == r->net) return true;
  }
  return false;
}

/* The index of the pair (a normalized name), or n_learned when it is not there. */
static size_t find_learned(const struct net_policy *p, const char *name, struct in_addr addr) {
  size_t i = 0;
  while (i < p->n_learned && !(p->learned[i].addr.s_addr == addr.s_addr && strcmp(p->learned[i].name, name) == 0)) i++;
  return i;
}

void policy_learn(struct net_policy *p, const char *name, struct in_addr addr) {
  char n[NAME_MAX_LEN + 1];
  if (normalize_name(name, n)) return;
  size_t slot = find_learned(p, n, addr);
  if (slot == p->n_learned && p->n_learned < POLICY_LEARNED_MAX) p->n_learned++;
  if (slot == POLICY_LEARNED_MAX) {
    slot = 0;
    for (size_t i = 1; i < p->n_learned; i++)
      if (p->learned[i].stamp < p->learned[slot].stamp) slot = i;
  }
  struct learned *e = &p->learned[slot];
  e->stamp = ++p->clock;
  e->addr = addr;
  memcpy(e->name, n, strlen(n) + 1);
}

bool policy_ip_learned(const struct net_policy *p, struct in_addr addr) {
  for (size_t i = 0; i < p->n_learned; i++)
    if (p->learned[i].addr.s_addr == addr.s_addr) return true;
  return false;
}

bool policy_ip_learned_for(const struct net_policy *p, const char *name, struct in_addr addr) {
  char n[NAME_MAX_LEN + 1];
  return !normalize_name(name, n) && find_learned(p, n, addr) < p->n_learned;
}
