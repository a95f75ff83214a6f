/* The egress allow-list (docs/network.md "Allow-list"): rules, and what the box may reach. */
#ifndef BOXLITE_NETD_POLICY_H
#define BOXLITE_NETD_POLICY_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>

struct net_policy;

struct net_policy *policy_new(void);
void policy_free(struct net_policy *p);

/* Adds one rule: an exact host name ("example.com"), a wildcard ("*.example.com": any name
 * below example.com, not example.com itself), an IPv4 address or an IPv4 CIDR ("10.0.0.0/8").
 * Names compare case-insensitively, a trailing dot ignored. Returns 0, or -1 with why in err. */
int policy_add_rule(struct net_policy *p, const char *rule, char *err, size_t errlen);

/* Whether any rule was added: no rule means the box may reach everything. */
bool policy_restricted(const struct net_policy *p);

/* Whether a name rule (exact or wildcard) allows this name. */
bool policy_name_allowed(const struct net_policy *p, const char *name);

/* Whether an IP or CIDR rule allows this address (network byte order). */
bool policy_ip_allowed(const struct net_policy *p, struct in_addr addr);

/* Records that the resolver answered an allowed name with this address. Bounded: the oldest
 * entries go first once it is full. */
void policy_learn(struct net_policy *p, const char *name, struct in_addr addr);

/* Whether some allowed name was answered with this address. */
bool policy_ip_learned(const struct net_policy *p, struct in_addr addr);

/* Whether this allowed name (or a name the resolver answered for it) was answered with this address. */
bool policy_ip_learned_for(const struct net_policy *p, const char *name, struct in_addr addr);

#endif
