/* The id map of an idmapped volume (guest/volumes.c, docs/volumes.md "Ownership"). */
#ifndef BOXLITE_IDMAP_H
#define BOXLITE_IDMAP_H

#include <stddef.h>
#include <stdint.h>

/* Room for the longest map: five lines of three 10-digit numbers. */
#define IDMAP_TEXT_MAX 192

/*
 * Writes, as /proc/PID/uid_map (or gid_map) takes it ("inside outside count" lines), a map
 * that swaps `host` and `box` and leaves every other id as it is: through an idmapped
 * mount the box's user owns what the host owner owns, and the other way round, and nobody
 * else's files change hands. 4294967295 is never an id, so the map stops below it.
 */
void idmap_swap(char buf[IDMAP_TEXT_MAX], uint32_t host, uint32_t box);

#endif
