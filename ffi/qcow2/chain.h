/*
 * What flatten.c and flatten_fd.c share: a backing chain opened for reading, and
 * what it shows at each virtual offset. Not part of the ABI (hidden symbols).
 */
#ifndef QCOW2_CHAIN_H
#define QCOW2_CHAIN_H

#include "internal.h"
#include "qcow2.h"

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#define MAX_CHAIN QCOW2_MAX_CHAIN
#define OUT_BITS OVERLAY_CLUSTER_BITS
#define OUT_CLUSTER ((uint64_t)1 << OUT_BITS)
#define OUT_L2_ENTRIES (OUT_CLUSTER / 8)
#define OUT_L1_SPAN (OUT_CLUSTER * OUT_L2_ENTRIES) /* virtual bytes one output L2 table maps */
#define REFCOUNTS_PER_BLOCK (OUT_CLUSTER / 2)     /* 16-bit refcounts */
#define BATCH_CLUSTERS 64                         /* 4 MiB read, checked and written at once */
#define WINDOW_ENTRIES 8192                       /* 64 KiB of a table in memory per window */

#define OFFSET_MASK 0x00fffffffffffe00ull /* of an L1 or L2 entry */
#define OFLAG_COPIED (1ull << 63) /* refcount is exactly 1, as qemu-img check expects */

enum format { FMT_PROBE, FMT_RAW, FMT_QCOW2 };
enum run_kind { RUN_ZERO, RUN_DATA };

/* A window onto a table of big-endian 64-bit entries in a file. */
struct window {
  uint64_t base;  /* file offset of entry 0 */
  uint64_t count; /* entries in the table */
  uint64_t first; /* index of e[0]; UINT64_MAX when nothing is loaded */
  uint64_t n;
  uint64_t e[WINDOW_ENTRIES];
};

/* One image of the chain, 0 the top. */
struct level {
  int fd;
  bool raw;
  uint32_t version, cluster_bits;
  uint64_t size, file_size;
  struct window l1, l2;
  uint64_t l2_of; /* L1 index whose table is in l2; UINT64_MAX none */
  uint8_t *seen;  /* a bit per cluster of the file: L2 tables already walked this pass */
  uint64_t seen_bytes;
  uint64_t ext_start, ext_end; /* raw: the data or hole extent last found */
  bool ext_data;
  char path[PATH_MAX];
};

struct chain {
  struct level *lv[MAX_CHAIN];
  int depth;
};

/* What the top image shows from a virtual offset up to `end`. */
struct run {
  enum run_kind kind;
  uint64_t end;
  int fd;        /* RUN_DATA: the bytes are at `host` in this file */
  uint64_t host;
};

/* Open `src` and its whole backing chain into `c` (zeroed); on failure the caller
 * still calls qcow2__chain_close. 0 or -errno as qcow2_flatten documents. */
QCOW2_HIDDEN int qcow2__chain_open(struct chain *c, const char *src);
QCOW2_HIDDEN void qcow2__chain_close(struct chain *c);

/* Start a new pass: offsets must grow within a pass (an L2 table met again is
 * corrupt), so a second walk from the start forgets the first. */
QCOW2_HIDDEN void qcow2__chain_rewind(struct chain *c);

/* What the chain shows at virtual offset `p`, for as far as it stays the same kind
 * of thing in every image consulted, but not past `limit`. */
QCOW2_HIDDEN int qcow2__chain_resolve(struct chain *c, uint64_t p, uint64_t limit, struct run *x);

/* Virtual bytes [v, end) of the chain into `buf` (NULL: only the tables are read,
 * no data), reading adjacent runs of one file at once; has_data[k] is set for each
 * 64 KiB output cluster k from v that any data touches, and *marked (unless NULL)
 * grows by the entries that were not set before. */
QCOW2_HIDDEN int qcow2__chain_read(struct chain *c, uint8_t *buf, uint64_t v, uint64_t end, bool *has_data,
                                   uint64_t *marked);

#endif
