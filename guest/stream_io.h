/* Moving bytes between a command's pipes or PTY and the session's frames. */
#ifndef BOXLITE_STREAM_IO_H
#define BOXLITE_STREAM_IO_H

#include <stdbool.h>
#include <stdint.h>

#include "session.h"

/* Whether output fd `which` (1 or 2) may be read now: it is open, the window is not
 * exhausted and the outbuf has room for a frame. */
bool stream_can_read(const struct outbuf *ob, const struct stream *st, int which);
/* Reads one block from output fd `which` into a STDOUT/STDERR frame. Returns whether bytes came. */
bool stream_read_output(struct outbuf *ob, struct stream *st, int which);
/* Writes pending STDIN bytes (and the end-of-file) to the process; never blocks. */
void stream_write_input(struct stream *st);
/* After the reap: reads what the process left behind, then ends its output fds. */
void stream_drain(struct outbuf *ob, struct stream *st, uint64_t now_ns);
/* Closes the output fds that ended (they are closed after the frames they led to are sent). */
void stream_close_done(void);

#endif
