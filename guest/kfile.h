/* Writing the kernel's control files (sysfs, procfs): one short string in one write. */
#ifndef BOXLITE_KFILE_H
#define BOXLITE_KFILE_H

/* Writes `text` to `path` (which must exist) in one write. 0, or -1 with errno set. */
int kfile_write(const char *path, const char *text);

#endif
