/* Linux capabilities of a box's commands (docs/security.md, "Inside the VM"): the names, docker's
 * default set, and how CONFIG's `capabilities` {"add": [...], "drop": [...]} resolves to a set. */
#ifndef BOXLITE_CAPS_H
#define BOXLITE_CAPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "json.h"

/* The highest capability this agent knows by name (CAP_CHECKPOINT_RESTORE, Linux 5.9). */
#define CAPS_LAST 40
#define CAPS_ALL ((UINT64_C(1) << (CAPS_LAST + 1)) - 1)
#define CAP_BIT(n) (UINT64_C(1) << (n))

/* docker's default 14: CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP NET_BIND_SERVICE
 * NET_RAW SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP. */
#define CAPS_DEFAULT                                                                                              \
  (CAP_BIT(0) | CAP_BIT(1) | CAP_BIT(3) | CAP_BIT(4) | CAP_BIT(5) | CAP_BIT(6) | CAP_BIT(7) | CAP_BIT(8) |       \
   CAP_BIT(10) | CAP_BIT(13) | CAP_BIT(18) | CAP_BIT(27) | CAP_BIT(29) | CAP_BIT(31))

/* Capability n's name without "CAP_" (n in 0..CAPS_LAST). */
const char *caps_name(int n);
/* The number of the capability named `name` (any case, "CAP_" optional), CAPS_NAME_ALL for
 * "ALL", or -1 for an unknown or malformed name. */
#define CAPS_NAME_ALL (CAPS_LAST + 1)
int caps_lookup(const char *name);

/* Resolves add and drop as docker does: with ALL in add, every capability but the named drops;
 * else with ALL in drop, only the named adds; else the default set less the drops, plus the adds
 * (an add wins a conflict). Returns 0, or -1 with the first unknown name described in why. */
int caps_resolve(const char *const *add, size_t nadd, const char *const *drop, size_t ndrop, uint64_t *set, char *why,
                 size_t whylen);

/* CONFIG's `capabilities` object (its `add` and `drop` arrays of strings, each optional, at most
 * CAPS_LIST_MAX names) into a set. Returns 0, -1 when it is not of that shape (malformed), or
 * -2 when a name is unknown (refused); why says which. */
#define CAPS_LIST_MAX 64
int caps_parse(const struct json_doc *doc, const struct json_value *obj, uint64_t *set, char *why, size_t whylen);

/* Whether commands with this set get no_new_privs: when it holds neither SETUID nor SETGID (see
 * docs/security.md for why exactly then). */
bool caps_no_new_privs(uint64_t set);

#endif
