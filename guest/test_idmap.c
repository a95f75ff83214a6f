/* The id map of an idmapped volume: a swap of two ids, every other id left alone. */
#include <string.h>

#include "idmap.h"
#include "test.h"

int main(void) {
  char map[IDMAP_TEXT_MAX];
  idmap_swap(map, 0, 1000);
  CHECK_STR(map, "0 1000 1\n1000 0 1\n1 1 999\n1001 1001 4294966294\n");
  idmap_swap(map, 1000, 0);
  CHECK_STR(map, "1000 0 1\n0 1000 1\n1 1 999\n1001 1001 4294966294\n");
  idmap_swap(map, 1000, 1001);
  CHECK_STR(map, "0 0 1000\n1000 1001 1\n1001 1000 1\n1002 1002 4294966293\n");
  /* The top id: nothing above it to map (the kernel refuses 4294967295 in a map). */
  idmap_swap(map, 5, 4294967294u);
  CHECK_STR(map, "0 0 5\n5 4294967294 1\n4294967294 5 1\n6 6 4294967288\n");
  /* The longest map still fits, with its NUL. */
  idmap_swap(map, 1000000000, 2000000000);
  CHECK(strlen(map) < IDMAP_TEXT_MAX);
  return test_finish("test_idmap");
}
