/* The egress allow-list (docs/network.md "Allow-list"): rules, and what the box may reach. */
#ifndef BOXLITE_NETD_POLICY_H
#define BOXLITE_NETD_POLICY_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>

struct net_policy;

#define POLICY_LEARNED_MAX 4096 /* learned name-address pairs kept */

/* An empty allow-list (unrestricted), or NULL when out of memory. */
struct net_policy *policy_new(void);
void policy_free(struct net_policy *p);

/* Adds one rule: an exact host name ("example.com"), a wildcard ("*.example.com": any name
 * below example.com at any depth, not example.com itself), an IPv4 address or an IPv4 CIDR
 * ("10.0.0.0/8"). Names compare case-insensitively, a trailing dot ignored; a name is letters,
 * digits, '-' and '_' in labels of 1 to 63 (no '-' first or last), 253 characters at most.
 * Refused: a CIDR with host bits set ("10.0.0.5/8" would allow 16M addresses where one was
 * likely meant; the message names the network), IPv6 (the box has IPv4 only), ports, '*'
 * anywhere but as the whole first label. Returns 0, or -1 with err set to one line that names
 * the rule and says why ("allow rule \"10.0.0.0/33\": ..."), truncated to errlen. */
int policy_add_rule(struct net_policy *p, const char *rule, char *err, size_t errlen);

/* Whether any rule was added: no rule means the box may reach everything. */
bool policy_restricted(const struct net_policy *p);

/* Whether a name rule (exact or wildcard) allows this name. */
bool policy_name_allowed(const struct net_policy *p, const char *name);

/* Whether an IP or CIDR rule allows this address (network byte order). */
bool policy_ip_allowed(const struct net_policy *p, struct in_addr addr);

/* Records that the resolver answered an allowed name with this address. Bounded: past
 * POLICY_LEARNED_MAX pairs the least recently learned goes first (learning a pair again
 * refreshes it). A name that is not a host name is not recorded. */
void policy_learn(struct net_policy *p, const char *name, struct in_addr addr);

/* Whether some allowed name was answered with this address. */
bool policy_ip_learned(const struct net_policy *p, struct in_addr addr);

/* Whether this name was learned with this address: the name the box asked for, whatever CNAMEs
 * the answer went through (compared as policy_name_allowed compares names). */
bool policy_ip_learned_for(const struct net_policy *p, const char *name, struct in_addr addr);

#endif
