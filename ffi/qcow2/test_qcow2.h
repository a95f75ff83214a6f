/* What test_qcow2.c (the runner) shares with test_flatten.c. */
#ifndef TEST_QCOW2_H
#define TEST_QCOW2_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#define CLUSTER 65536

struct tally {
  int run, failed;
};

#define check(t, descr, cond)                                                   \
  do {                                                                          \
    int ok_ = (cond);                                                           \
    (t)->run++;                                                                 \
    if (!ok_) (t)->failed++;                                                    \
    printf("%d - %s: %s\n", (t)->run, (descr), ok_ ? "PASSED" : "FAILED");      \
  } while (0)

uint32_t get_be32(const uint8_t *p);
void put_be32(uint8_t *p, uint32_t v);
void put_be64(uint8_t *p, uint64_t v);
uint64_t next_rand(uint64_t *s);
const char *in_dir(const char *dir, const char *name, char *buf);
int put_file(const char *path, const uint8_t *data, size_t len, off_t size);
ssize_t get_file(const char *path, uint8_t *buf, size_t cap);
int exists(const char *path);

void test_flatten(struct tally *t, const char *dir);

#endif
