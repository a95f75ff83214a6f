/* Pseudo-terminals for EXEC with `tty`. */
#ifndef BOXLITE_PTY_H
#define BOXLITE_PTY_H

#include <stddef.h>
#include <stdint.h>

/* Opens a PTY: *master (non-blocking) and *slave, both close-on-exec, sized rows x cols.
 * Returns 0, or -1 with a message in err. */
int pty_open(int *master, int *slave, uint16_t rows, uint16_t cols, char *err, size_t errlen);
int pty_resize(int master, uint16_t rows, uint16_t cols);
/* A PTY has no half-close: end-of-file is the terminal's EOF character (^D), as a user types it. */
int pty_send_eof(int master);

#endif
