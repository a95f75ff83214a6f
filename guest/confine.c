#include "confine.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "caps.h"

/* The kernel's ABI, which musl's headers lack (linux/capability.h, linux/filter.h, linux/seccomp.h). */
#define CAP_VERSION_3 0x20080522
struct cap_header {
  uint32_t version;
  int pid;
};
struct cap_data {
  uint32_t effective, permitted, inheritable;
};
#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif
struct sock_filter {
  uint16_t code;
  uint8_t jt, jf;
  uint32_t k;
};
struct sock_fprog {
  unsigned short len;
  const struct sock_filter *filter;
};
#define SECCOMP_MODE_FILTER 2
#define SECCOMP_RET_ALLOW 0x7fff0000u
#define SECCOMP_RET_ERRNO 0x00050000u
#define LD_ABS 0x20 /* BPF_LD | BPF_W | BPF_ABS */
#define JEQ 0x15    /* BPF_JMP | BPF_JEQ | BPF_K */
#define RET 0x06    /* BPF_RET | BPF_K */
#define OFF_NR 0
#define OFF_ARCH 4
#define OFF_ARG0 16 /* the low half of args[0] on a little-endian machine */
#define AF_VSOCK_FAMILY 40

int confine_last_cap(void) {
  static int last = -1;
  if (last >= 0) return last;
  char text[16] = "";
  int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
  ssize_t n = fd < 0 ? -1 : read(fd, text, sizeof text - 1);
  if (fd >= 0) close(fd);
  last = n > 0 ? atoi(text) : CAPS_LAST;
  if (last > CAPS_LAST || last < 0) last = CAPS_LAST;
  return last;
}

/* The filter: socket(AF_VSOCK) fails with EPERM, as in docker's default profile, so no command
 * reaches the agent's vsock listener (libkrun) or the host's vsock. On x86-64 the i386 ABI gets
 * the same rule, and its socketcall (whose arguments a filter cannot read) fails too. */
#define DENY_VSOCK (SECCOMP_RET_ERRNO | EPERM)
#if defined(__x86_64__)
enum { L_ARCH, L_IS64, L_NR, L_SOCK, L_SOCKX32, L_ARG, L_VSOCK, L_IS32, L_NR32, L_CALL32, L_SOCK32, L_ARG32,
       L_VSOCK32, L_ALLOW, L_DENY, L_COUNT };
#define TO(from, to) ((uint8_t)((to) - (from) - 1))
static const struct sock_filter filter[L_COUNT] = {
    [L_ARCH] = {LD_ABS, 0, 0, OFF_ARCH},
    [L_IS64] = {JEQ, 0, TO(L_IS64, L_IS32), 0xc000003eu /* AUDIT_ARCH_X86_64 */},
    [L_NR] = {LD_ABS, 0, 0, OFF_NR},
    [L_SOCK] = {JEQ, TO(L_SOCK, L_ARG), 0, 41 /* socket */},
    [L_SOCKX32] = {JEQ, 0, TO(L_SOCKX32, L_ALLOW), 0x40000000u | 41 /* x32's socket */},
    [L_ARG] = {LD_ABS, 0, 0, OFF_ARG0},
    [L_VSOCK] = {JEQ, TO(L_VSOCK, L_DENY), TO(L_VSOCK, L_ALLOW), AF_VSOCK_FAMILY},
    [L_IS32] = {JEQ, 0, TO(L_IS32, L_ALLOW), 0x40000003u /* AUDIT_ARCH_I386 */},
    [L_NR32] = {LD_ABS, 0, 0, OFF_NR},
    [L_CALL32] = {JEQ, TO(L_CALL32, L_DENY), 0, 102 /* socketcall */},
    [L_SOCK32] = {JEQ, 0, TO(L_SOCK32, L_ALLOW), 359 /* socket */},
    [L_ARG32] = {LD_ABS, 0, 0, OFF_ARG0},
    [L_VSOCK32] = {JEQ, TO(L_VSOCK32, L_DENY), TO(L_VSOCK32, L_ALLOW), AF_VSOCK_FAMILY},
    [L_ALLOW] = {RET, 0, 0, SECCOMP_RET_ALLOW},
    [L_DENY] = {RET, 0, 0, DENY_VSOCK},
};
#elif defined(__aarch64__)
enum { L_ARCH, L_IS64, L_NR, L_SOCK, L_ARG, L_VSOCK, L_ALLOW, L_DENY, L_COUNT };
#define TO(from, to) ((uint8_t)((to) - (from) - 1))
static const struct sock_filter filter[L_COUNT] = {
    [L_ARCH] = {LD_ABS, 0, 0, OFF_ARCH},
    [L_IS64] = {JEQ, 0, TO(L_IS64, L_ALLOW), 0xc00000b7u /* AUDIT_ARCH_AARCH64 */},
    [L_NR] = {LD_ABS, 0, 0, OFF_NR},
    [L_SOCK] = {JEQ, 0, TO(L_SOCK, L_ALLOW), 198 /* socket */},
    [L_ARG] = {LD_ABS, 0, 0, OFF_ARG0},
    [L_VSOCK] = {JEQ, TO(L_VSOCK, L_DENY), TO(L_VSOCK, L_ALLOW), AF_VSOCK_FAMILY},
    [L_ALLOW] = {RET, 0, 0, SECCOMP_RET_ALLOW},
    [L_DENY] = {RET, 0, 0, DENY_VSOCK},
};
#else
#error "no seccomp filter for this architecture"
#endif

int confine_before_user(uint64_t caps, int last_cap, const char **what) {
  for (int cap = 0; cap <= last_cap; cap++)
    if (!(caps & CAP_BIT(cap)) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
      return *what = "drop from the capability bounding set", -1;
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0) return *what = "clear the ambient capabilities", -1;
  if (caps_no_new_privs(caps) && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) return *what = "set no_new_privs", -1;
  return confine_seccomp(what);
}

int confine_seccomp(const char **what) {
  struct sock_fprog prog = {.len = L_COUNT, .filter = filter};
  if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) < 0) return *what = "install the seccomp filter", -1;
  return 0;
}

int confine_root(uint64_t caps, const char **what) {
  struct cap_header header = {.version = CAP_VERSION_3, .pid = 0};
  struct cap_data data[2] = {
      {.effective = (uint32_t)caps, .permitted = (uint32_t)caps, .inheritable = 0},
      {.effective = (uint32_t)(caps >> 32), .permitted = (uint32_t)(caps >> 32), .inheritable = 0},
  };
  if (syscall(SYS_capset, &header, data) < 0) return *what = "set the capabilities", -1;
  return 0;
}
