/* The nodeid table and the fh table: one nodeid per (dev, ino) across growth, lookup counts,
 * slot reuse, and values from the guest that are no slot. */
#include <fcntl.h>
#include <unistd.h>

#include "../netd/test.h"
#include "handles.h"
#include "inodes.h"

#define MANY 5000

static int any_fd(void) { return open("/", O_PATH | O_CLOEXEC); }

static void test_inodes(void) {
  struct inodes t;
  struct stat st = {.st_dev = 1, .st_ino = 1, .st_mode = S_IFDIR};
  CHECK(inodes_init(&t, any_fd(), &st, 16) == 0);
  static uint64_t ids[MANY];
  for (int i = 0; i < MANY; i++) {
    st = (struct stat){.st_dev = (dev_t)(i % 3), .st_ino = (ino_t)(1000 + i), .st_mode = S_IFREG};
    CHECK(inodes_add(&t, any_fd(), &st, 1, "n", &ids[i]) == 0);
  }
  /* Looked up again after the table grew: the same nodeids, each counted twice. */
  for (int i = 0; i < MANY; i++) {
    st = (struct stat){.st_dev = (dev_t)(i % 3), .st_ino = (ino_t)(1000 + i), .st_mode = S_IFREG};
    uint64_t again;
    CHECK(inodes_add(&t, any_fd(), &st, 1, "n", &again) == 0 && again == ids[i]);
  }
  CHECK(t.used == MANY + 1);
  for (int i = 0; i < MANY; i++) inodes_forget(&t, ids[i], 1);
  CHECK(t.used == MANY + 1);
  for (int i = 0; i < MANY; i++) inodes_forget(&t, ids[i], UINT64_MAX);
  CHECK(t.used == 1);
  CHECK(inodes_get(&t, ids[0]) == NULL && inodes_get(&t, 1) != NULL);
  CHECK(inodes_get(&t, 0) == NULL && inodes_get(&t, UINT64_MAX) == NULL && inodes_get(&t, t.cap) == NULL);
  inodes_forget(&t, 1, UINT64_MAX); /* the root stays */
  CHECK(inodes_get(&t, 1) != NULL);
  st = (struct stat){.st_dev = 9, .st_ino = 9, .st_mode = S_IFREG};
  uint64_t reused;
  CHECK(inodes_add(&t, any_fd(), &st, 1, "n", &reused) == 0 && reused > 1 && reused < t.cap);
  inodes_free(&t);
}

static void test_handles(void) {
  struct handles h = {0};
  uint64_t a, b;
  CHECK(handles_add(&h, any_fd(), 5, &a) == 0 && handles_add(&h, any_fd(), 6, &b) == 0 && a != b);
  CHECK(handles_get(&h, a, 5) >= 0 && handles_get(&h, a, 6) < 0 && handles_get(&h, b, 6) >= 0);
  CHECK(handles_get(&h, 1u << 20, 5) < 0 && handles_get(&h, UINT64_MAX, 5) < 0);
  CHECK(handles_close(&h, a) == 0 && handles_close(&h, a) < 0 && handles_get(&h, a, 5) < 0);
  uint64_t c;
  CHECK(handles_add(&h, any_fd(), 7, &c) == 0 && c == a); /* the freed slot is reused */
  handles_free(&h);
}

int main(void) {
  test_inodes();
  test_handles();
  return test_finish("test_inodes");
}
