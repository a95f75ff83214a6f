#include "pty.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif

int pty_open(int *master, int *slave, uint16_t rows, uint16_t cols, char *err, size_t errlen) {
  /* open() rather than posix_openpt() to get O_CLOEXEC atomically: a master leaked into
   * another command would keep the terminal open and its EOF would never come. */
  int m = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
  if (m < 0) {
    snprintf(err, errlen, "open /dev/ptmx: %s", strerror(errno));
    return -1;
  }
  int unlock = 0;
  if (ioctl(m, TIOCSPTLCK, &unlock) < 0) {
    snprintf(err, errlen, "unlock pty: %s", strerror(errno));
    close(m);
    return -1;
  }
  /* The parent opens the slave and holds it across fork: until someone has it open, reads
   * on the master fail with EIO, which would look like the end of the output. TIOCGPTPEER
   * opens it from the master itself, with no path lookup. */
  int s = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (s < 0) {
    snprintf(err, errlen, "open pty slave: %s", strerror(errno));
    close(m);
    return -1;
  }
  pty_resize(m, rows, cols);
  *master = m;
  *slave = s;
  return 0;
}

int pty_resize(int master, uint16_t rows, uint16_t cols) {
  struct winsize ws = {.ws_row = rows, .ws_col = cols};
  return ioctl(master, TIOCSWINSZ, &ws);
}

int pty_send_eof(int master) {
  struct termios t;
  unsigned char eof = 4; /* ^D, the usual VEOF */
  if (tcgetattr(master, &t) == 0 && t.c_cc[VEOF] != _POSIX_VDISABLE) eof = t.c_cc[VEOF];
  return write(master, &eof, 1) == 1 ? 0 : -1;
}
