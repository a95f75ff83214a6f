/*
 * Tests for qcow2_flatten_size and qcow2_flatten_fd: the image goes down a pipe
 * (pwrite or lseek on a pipe fails with ESPIPE, so an image that arrives whole
 * was written strictly in order), is read back by test_flatten.c's independent
 * reader and compared with qcow2_flatten's. src/disk/qcow2.test.ts adds qemu-img.
 */
#define _POSIX_C_SOURCE 200809L

#include "qcow2.h"
#include "test_qcow2.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Flatten `src` into a pipe from a child process while this one copies the pipe
 * to `out`; returns the child's result and sets *got to the bytes that came. */
static int flatten_through_pipe(const char *src, uint64_t size, const char *out, uint64_t *got) {
  static uint8_t buf[1 << 16];
  int fds[2], status = 0, file;
  pid_t child;
  ssize_t n;
  *got = 0;
  if (pipe(fds) != 0) return -errno;
  child = fork();
  if (child < 0) return -errno;
  if (child == 0) {
    close(fds[0]);
    _exit(-qcow2_flatten_fd(src, fds[1], size));
  }
  close(fds[1]);
  file = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  while ((n = read(fds[0], buf, sizeof buf)) > 0) {
    *got += (uint64_t)n;
    if (file >= 0 && write(file, buf, (size_t)n) != n) break;
  }
  close(fds[0]);
  if (file >= 0) close(file);
  waitpid(child, &status, 0);
  return WIFEXITED(status) ? -WEXITSTATUS(status) : -EINTR;
}

int flatten_fd_to_file(const char *src, const char *out) {
  uint64_t size = 0;
  int fd, r = qcow2_flatten_size(src, &size);
  struct stat st;
  if (r != 0) return r;
  fd = open(out, O_WRONLY | O_CREAT | O_EXCL, 0600);
  if (fd < 0) return -errno;
  r = qcow2_flatten_fd(src, fd, size);
  if (r == 0 && (fstat(fd, &st) != 0 || (uint64_t)st.st_size != size)) r = -EIO;
  close(fd);
  if (r != 0) unlink(out);
  return r;
}

static void test_pipe_chain(struct tally *t, const char *dir) {
  char top[512], out[512], ref[512];
  uint8_t *disk = NULL, *ref_disk = NULL;
  uint64_t size = 0, got = 0, vsize = 0, data = 0, ref_size = 0, ref_data = 0, wrong = 0;
  struct qcow2_info info;
  make_chain(dir);
  in_dir(dir, "top.qcow2", top), in_dir(dir, "pipe-flat.qcow2", out), in_dir(dir, "ref-flat.qcow2", ref);
  check(t, "qcow2_flatten_size plans the 3-image chain", qcow2_flatten_size(top, &size) == 0 && size > 0 && size % CLUSTER == 0);
  check(t, "qcow2_flatten_fd writes it whole down a pipe (which cannot seek)",
        flatten_through_pipe(top, size, out, &got) == 0 && got == size);
  check(t, "the result is a valid qcow2 v3 without a backing file, refcounts all 1",
        read_flat(out, &disk, &vsize, &data) == 0 && qcow2_read_info(out, &info) == 0 && info.backing_file[0] == '\0');
  for (uint64_t i = 0; disk != NULL && i < vsize; i++) wrong += disk[i] != expected_byte(i);
  check(t, "every byte reads as through the chain", disk != NULL && vsize == 3 << 20 && wrong == 0);
  check(t, "allocated clusters are kept even when they hold zeros: 19, one more than qcow2_flatten",
        qcow2_flatten(top, ref, QCOW2_FLATTEN_NO_SYNC) == 0 && read_flat(ref, &ref_disk, &ref_size, &ref_data) == 0 &&
            data == 19 && ref_data == 18 && ref_size == vsize && memcmp(disk, ref_disk, vsize) == 0);
  free(disk), free(ref_disk);
  unlink(out), unlink(ref);
}

static int write_to_closed_pipe(const char *src) {
  uint64_t size = 0;
  int fds[2], r = qcow2_flatten_size(src, &size);
  if (r != 0 || pipe(fds) != 0) return r != 0 ? r : -errno;
  close(fds[0]);
  r = qcow2_flatten_fd(src, fds[1], size);
  close(fds[1]);
  return r;
}

static void test_errors(struct tally *t, const char *dir) {
  char top[512], out[512], path[512];
  struct spec plain = {3, 16, 1 << 20, NULL, NULL, 1, {{0, 0, 0x5a}}};
  struct spec more = {3, 16, 1 << 20, NULL, NULL, 2, {{0, 0, 0x5a}, {9, 0, 0x5b}}};
  uint64_t size = 0, got = 1;
  in_dir(dir, "fd-plain.qcow2", path), in_dir(dir, "fd-out.qcow2", out);
  craft(path, &plain, NULL);
  check(t, "a size other than the plan's is ESTALE, and nothing is written",
        qcow2_flatten_size(path, &size) == 0 && flatten_through_pipe(path, size + CLUSTER, out, &got) == -ESTALE && got == 0);
  craft(path, &more, NULL); /* the chain changed after it was planned */
  check(t, "a chain that changed since its plan is ESTALE, and nothing is written",
        flatten_through_pipe(path, size, out, &got) == -ESTALE && got == 0);
  check(t, "a NULL size, a NULL or empty path and a negative fd are refused",
        qcow2_flatten_size(path, NULL) == -EINVAL && qcow2_flatten_size(NULL, &size) == -EINVAL &&
            qcow2_flatten_size("", &size) == -EINVAL && qcow2_flatten_fd(path, -1, size) == -EBADF);
  check(t, "a missing image is ENOENT", qcow2_flatten_size(in_dir(dir, "no-such.qcow2", top), &size) == -ENOENT);
  check(t, "a reader that leaves makes it fail with EPIPE", write_to_closed_pipe(path) == -EPIPE);
  unlink(path), unlink(out);
}

static void test_large(struct tally *t, const char *dir) {
  char ov[512], out[512], base[512];
  uint8_t raw[1000];
  struct qcow2_info info;
  memset(raw, 0x11, sizeof raw);
  put_file(in_dir(dir, "fd-base.raw", base), raw, sizeof raw, sizeof raw);
  in_dir(dir, "fd-huge.qcow2", ov), in_dir(dir, "fd-huge-flat.qcow2", out);
  check(t, "stream a 1 PiB overlay over a small raw file, quickly",
        qcow2_create_overlay(ov, "fd-base.raw", "raw", (uint64_t)1 << 50) == 0 && flatten_fd_to_file(ov, out) == 0 &&
            qcow2_read_info(out, &info) == 0 && info.virtual_size == (uint64_t)1 << 50 && info.backing_file[0] == '\0');
  unlink(ov), unlink(out), unlink(base);
}

void test_flatten_fd(struct tally *t, const char *dir) {
  signal(SIGPIPE, SIG_IGN); /* EPIPE rather than death when a reader leaves */
  test_pipe_chain(t, dir);
  test_errors(t, dir);
  test_large(t, dir);
}
