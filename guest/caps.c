#include "caps.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "message_impl.h"

static const char *const names[CAPS_LAST + 1] = {
    "CHOWN",           "DAC_OVERRIDE",   "DAC_READ_SEARCH", "FOWNER",       "FSETID",       "KILL",
    "SETGID",          "SETUID",         "SETPCAP",         "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST",
    "NET_ADMIN",       "NET_RAW",        "IPC_LOCK",        "IPC_OWNER",    "SYS_MODULE",   "SYS_RAWIO",
    "SYS_CHROOT",      "SYS_PTRACE",     "SYS_PACCT",       "SYS_ADMIN",    "SYS_BOOT",     "SYS_NICE",
    "SYS_RESOURCE",    "SYS_TIME",       "SYS_TTY_CONFIG",  "MKNOD",        "LEASE",        "AUDIT_WRITE",
    "AUDIT_CONTROL",   "SETFCAP",        "MAC_OVERRIDE",    "MAC_ADMIN",    "SYSLOG",       "WAKE_ALARM",
    "BLOCK_SUSPEND",   "AUDIT_READ",     "PERFMON",         "BPF",          "CHECKPOINT_RESTORE",
};

const char *caps_name(int n) { return n >= 0 && n <= CAPS_LAST ? names[n] : "?"; }

int caps_lookup(const char *name) {
  if (strncasecmp(name, "CAP_", 4) == 0) name += 4;
  if (strcasecmp(name, "ALL") == 0) return CAPS_NAME_ALL;
  for (int n = 0; n <= CAPS_LAST; n++)
    if (strcasecmp(name, names[n]) == 0) return n;
  return -1;
}

static int unknown(char *why, size_t whylen, const char *list, const char *name) {
  snprintf(why, whylen, "CONFIG capabilities: unknown capability \"%.64s\" in \"%s\"", name, list);
  return -1;
}

/* The named capabilities of a list as a set; *all says whether ALL was among them. */
static int lookup_all(const char *const *list, size_t n, const char *label, uint64_t *set, bool *all, char *why,
                      size_t whylen) {
  *set = 0;
  *all = false;
  for (size_t i = 0; i < n; i++) {
    int cap = caps_lookup(list[i]);
    if (cap < 0) return unknown(why, whylen, label, list[i]);
    if (cap == CAPS_NAME_ALL) *all = true;
    else *set |= CAP_BIT(cap);
  }
  return 0;
}

int caps_resolve(const char *const *add, size_t nadd, const char *const *drop, size_t ndrop, uint64_t *set, char *why,
                 size_t whylen) {
  uint64_t added, dropped;
  bool add_all, drop_all;
  if (lookup_all(add, nadd, "add", &added, &add_all, why, whylen) < 0 ||
      lookup_all(drop, ndrop, "drop", &dropped, &drop_all, why, whylen) < 0)
    return -1;
  /* docker's precedence (moby's TweakCapabilities): ALL in add beats ALL in drop, a named drop
   * beats ALL in add, and otherwise a named add beats a named drop. */
  if (add_all) *set = CAPS_ALL & ~dropped;
  else if (drop_all) *set = added;
  else *set = (CAPS_DEFAULT & ~dropped) | added;
  return 0;
}

/* One optional array of capability names: pointers into doc. Returns its length, or -1. */
static int names_of(const struct json_doc *doc, const struct json_value *obj, const char *key, const char **out,
                    char *why, size_t whylen) {
  const struct json_value *list;
  if (message_get_optional(doc, obj, "CONFIG capabilities", key, JSON_ARRAY, &list, why, whylen) < 0) return -1;
  if (!list) return 0;
  if (list->len > CAPS_LIST_MAX) {
    snprintf(why, whylen, "CONFIG capabilities: \"%s\" holds more than %d names", key, CAPS_LIST_MAX);
    return -1;
  }
  int n = 0;
  for (const struct json_value *e = json_first(doc, list); e; e = json_next(doc, e)) {
    if (!json_is_cstring(e)) {
      snprintf(why, whylen, "CONFIG capabilities: \"%s\" must hold strings", key);
      return -1;
    }
    out[n++] = e->str;
  }
  return n;
}

int caps_parse(const struct json_doc *doc, const struct json_value *obj, uint64_t *set, char *why, size_t whylen) {
  const char *add[CAPS_LIST_MAX], *drop[CAPS_LIST_MAX];
  int nadd = names_of(doc, obj, "add", add, why, whylen);
  int ndrop = nadd < 0 ? -1 : names_of(doc, obj, "drop", drop, why, whylen);
  if (ndrop < 0) return -1;
  return caps_resolve(add, (size_t)nadd, drop, (size_t)ndrop, set, why, whylen) < 0 ? -2 : 0;
}

bool caps_no_new_privs(uint64_t set) { return (set & (CAP_BIT(6) | CAP_BIT(7))) == 0; }
