/* What a box command may do once it runs (docs/security.md, "Inside the VM"): its capability
 * sets, no_new_privs and a seccomp filter, applied in the command's child before execve. */
#ifndef BOXLITE_CONFINE_H
#define BOXLITE_CONFINE_H

#include <stdbool.h>
#include <stdint.h>

/* The highest capability the running kernel has (/proc/sys/kernel/cap_last_cap), read once. */
int confine_last_cap(void);

/* Before the user switch, while the child still has every capability: drops from the bounding set
 * what `caps` lacks, clears the ambient set, sets no_new_privs when caps_no_new_privs says so, and
 * installs the seccomp filter. Returns 0, or -1 with what failed in what (errno set). */
int confine_before_user(uint64_t caps, int last_cap, const char **what);

/* The seccomp filter alone (confine_before_user's last step): needs CAP_SYS_ADMIN or no_new_privs. */
int confine_seccomp(const char **what);

/* After the switch to root: permitted and effective become `caps`, inheritable empty (a non-root
 * user has none left after setuid, and gets the bounding set only through a setuid or
 * file-capability program, as in docker). Returns 0, or -1 with what in what. */
int confine_root(uint64_t caps, const char **what);

#endif
