/*
 * The tar format of FILES_OUT and FILES_IN (POSIX.1-2001 pax over ustar): encoding one
 * entry's headers, and decoding headers and pax records from untrusted bytes.
 */
#ifndef BOXLITE_TAR_H
#define BOXLITE_TAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TAR_BLOCK 512u
/* Longest entry or link name written or accepted (the kernel's PATH_MAX is 4096; names
 * are resolved one component at a time, so a deeper tree still copies). */
#define TAR_NAME_MAX 16384u
/* Largest pax extended header (or GNU long name) the reader accepts. */
#define TAR_PAX_MAX (256u * 1024u)
/* Room tar_encode needs: a pax header block, its records (a path and a linkpath of up to
 * TAR_NAME_MAX bytes, five numbers) padded to a block, then the ustar header. */
#define TAR_ENCODE_MAX (3 * TAR_BLOCK + 2 * (TAR_NAME_MAX + 32) + 256)

/* Entry types (the ustar typeflag). */
enum {
  TAR_FILE = '0',
  TAR_HARDLINK = '1',
  TAR_SYMLINK = '2',
  TAR_CHAR = '3',
  TAR_BLOCKDEV = '4',
  TAR_DIR = '5',
  TAR_FIFO = '6',
  TAR_CONTIGUOUS = '7',
  TAR_PAX = 'x',
  TAR_PAX_GLOBAL = 'g',
  TAR_GNU_LONGNAME = 'L',
  TAR_GNU_LONGLINK = 'K',
};

struct tar_entry {
  char type;
  char name[TAR_NAME_MAX + 1];
  char linkname[TAR_NAME_MAX + 1];
  uint64_t size;
  uint32_t mode; /* permission bits, setuid/setgid/sticky included */
  uint32_t uid, gid;
  int64_t mtime; /* seconds since the epoch */
  uint32_t devmajor, devminor;
};

/* Which fields a pax header (or a GNU L/K entry) overrides in the next entry. */
enum {
  TAR_SET_NAME = 1,
  TAR_SET_LINKNAME = 2,
  TAR_SET_SIZE = 4,
  TAR_SET_UID = 8,
  TAR_SET_GID = 16,
  TAR_SET_MTIME = 32,
};

/* Writes e's headers to out (TAR_ENCODE_MAX bytes): a pax header first when a name is
 * longer than 100 bytes or a number does not fit its ustar field. Returns the length. */
size_t tar_encode(const struct tar_entry *e, uint8_t *out);

enum tar_decoded { TAR_DECODED_ENTRY = 0, TAR_DECODED_END = 1 };

/* Decodes one 512-byte header block. Returns TAR_DECODED_ENTRY, TAR_DECODED_END for a
 * zero block, or -1 with *why set (a bad checksum or number). */
int tar_decode(const uint8_t *block, struct tar_entry *e, const char **why);

/* Parses pax records into over, adding TAR_SET_* bits to *set. Returns 0, or -1 with *why. */
int tar_parse_pax(const char *data, size_t len, struct tar_entry *over, unsigned *set, const char **why);

/* Copies the fields flagged in set from over into e. */
void tar_apply(struct tar_entry *e, const struct tar_entry *over, unsigned set);

#endif
