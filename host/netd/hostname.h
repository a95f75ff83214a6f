/* The bytes of a host name as netd reads them, one definition for the allow-list's rules, DNS
 * questions and peeked names: letters, digits, '-' and '_' (service labels such as _dmarc use it,
 * and so do a few real hosts). Anything else cannot match a rule. */
#ifndef BOXLITE_NETD_HOSTNAME_H
#define BOXLITE_NETD_HOSTNAME_H

#include <stdbool.h>

static inline bool hostname_byte(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* tolower() without the locale: names compare as ASCII. */
static inline unsigned char ascii_lower(unsigned char c) { return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c; }

#endif
