/* The seccomp filter of a box's commands (confine.c), installed in a child of the test: socket(AF_VSOCK)
 * fails with EPERM through every x86-64 entry (native, x32, and the i386 ABI's socket and socketcall
 * by `int $0x80`), and other sockets and syscalls pass. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "confine.h"
#include "test.h"

#define AF_VSOCK_FAMILY 40

#if defined(__x86_64__)
/* A syscall through the i386 ABI, which seccomp sees as AUDIT_ARCH_I386. */
static long call_i386(long nr, long a, long b, long c) {
  long ret;
  __asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a), "c"(b), "d"(c) : "memory");
  return ret;
}

/* Whether this kernel has the i386 ABI at all: one built or booted without it (ia32_emulation=0)
 * kills `int $0x80` with SIGSEGV, so that entry cannot get past the filter there. */
static bool has_i386_abi(void) {
  pid_t pid = fork();
  if (pid == 0) _exit(call_i386(20 /* getpid */, 0, 0, 0) > 0 ? 0 : 1);
  int status = 0;
  return pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}
#endif

/* Runs in the child: returns the number of failed checks as its exit status. */
static int filtered_child(bool i386) {
  const char *what;
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || confine_seccomp(&what) < 0) return 100;
  CHECK(socket(AF_VSOCK_FAMILY, SOCK_STREAM, 0) == -1 && errno == EPERM);
  int unix_socket = socket(AF_UNIX, SOCK_STREAM, 0), inet = socket(AF_INET, SOCK_DGRAM, 0);
  CHECK(unix_socket >= 0 && inet >= 0);
  CHECK(getpid() > 0);
#if defined(__x86_64__)
  CHECK(syscall(0x40000000L | SYS_socket, AF_VSOCK_FAMILY, SOCK_STREAM, 0) == -1 && errno == EPERM);
  if (!i386) return test_failures;
  CHECK(call_i386(359 /* socket */, AF_VSOCK_FAMILY, SOCK_STREAM, 0) == -EPERM);
  CHECK(call_i386(102 /* socketcall */, 1, 0, 0) == -EPERM);
  CHECK(call_i386(20 /* getpid */, 0, 0, 0) > 0);
#else
  (void)i386;
#endif
  return test_failures;
}

int main(void) {
  /* Without the filter a vsock socket opens, or fails for another reason (no vsock here): EPERM is the filter's. */
  int plain = socket(AF_VSOCK_FAMILY, SOCK_STREAM, 0);
  CHECK(plain >= 0 || errno != EPERM);
  if (plain >= 0) close(plain);
#if defined(__x86_64__)
  bool i386 = has_i386_abi();
  if (!i386) fprintf(stderr, "test_confine: this kernel has no i386 ABI (int $0x80 faults): its entries are not tried\n");
#else
  bool i386 = false;
#endif
  pid_t pid = fork();
  if (pid == 0) _exit(filtered_child(i386));
  int status = 0;
  CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  if (WIFEXITED(status) && WEXITSTATUS(status)) fprintf(stderr, "test_confine: %d checks failed in the filtered child\n", WEXITSTATUS(status));
  return test_finish("test_confine");
}
