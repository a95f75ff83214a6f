/* The box's /etc/resolv.conf and /etc/hosts (etc_files.c), written into temporary roots. */
#include "etc_files.h"
#include "test_files.h"

#define CONFIG_WITH(network) "{\"hostname\":\"box1\",\"rootfs\":{\"device\":\"/dev/vdb\"},\"network\":" network "}"
#define NETWORK_JSON                                                                                              \
  "{\"interface\":\"eth0\",\"address\":\"192.168.127.2\",\"prefix\":24,\"gateway\":\"192.168.127.1\",\"mtu\":1500," \
  "\"nameservers\":[\"192.168.127.1\",\"8.8.8.8\"],\"search\":[\"local\",\"corp.example\"]}"
#define HEADER "# Written by boxlite at every boot from the box's network settings.\n"
#define RESOLV_CONF HEADER "nameserver 192.168.127.1\nnameserver 8.8.8.8\nsearch local corp.example\n"
#define HOSTS HEADER "127.0.0.1\tlocalhost\n::1\tlocalhost\n192.168.127.2\tbox1\n"

static struct guest_config parse(const char *json) {
  struct guest_config cfg;
  char why[256];
  CHECK(message_parse_config((const uint8_t *)json, strlen(json), &cfg, why, sizeof why) == 0);
  CHECK(cfg.network.interface[0] != '\0');
  return cfg;
}

static int write_into(const struct root *r, const struct guest_config *cfg, char *err, size_t errlen) {
  err[0] = '\0';
  return etc_files_write(r->path, cfg, err, errlen);
}

/* What is at rel, not following a symlink; all zero when nothing is. */
static struct stat stat_of(int dirfd, const char *rel) {
  struct stat st;
  if (fstatat(dirfd, rel, &st, AT_SYMLINK_NOFOLLOW) != 0) memset(&st, 0, sizeof st);
  return st;
}

static mode_t mode_of(int dirfd, const char *rel) { return stat_of(dirfd, rel).st_mode; }

static void test_an_image_without_etc_gets_one_with_both_files(void) {
  struct root r;
  root_make(&r);
  struct guest_config cfg = parse(CONFIG_WITH(NETWORK_JSON));
  char err[256];
  /* A strict umask, as a PID 1 may have: the files are 0644 whatever it is. */
  mode_t saved = umask(077);
  CHECK(write_into(&r, &cfg, err, sizeof err) == 0);
  umask(saved);
  CHECK(S_ISDIR(mode_of(r.fd, "etc")));
  CHECK(text_is(r.fd, "etc/resolv.conf", RESOLV_CONF));
  CHECK(text_is(r.fd, "etc/hosts", HOSTS));
  CHECK(mode_of(r.fd, "etc/resolv.conf") == (S_IFREG | 0644) && mode_of(r.fd, "etc/hosts") == (S_IFREG | 0644));
  /* Nothing else is left in /etc: no temporary file. */
  int etc = openat(r.fd, "etc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  CHECK(count_names(etc) == 2);
  close(etc);
  root_remove(&r);
}

static void test_symlinks_are_replaced_not_written_through(void) {
  struct root r, outside;
  root_make(&r);
  root_make(&outside);
  put_text(outside.fd, "resolv.conf", "nameserver 10.9.9.9\n");
  char target[128];
  snprintf(target, sizeof target, "%s/resolv.conf", outside.path);
  /* As images have them: an absolute link (systemd-resolved's stub) and one that dangles. */
  put_symlink(r.fd, "etc/resolv.conf", target);
  put_symlink(r.fd, "etc/hosts", "../run/hosts");
  /* A temporary file an interrupted boot left, itself a symlink out of the rootfs. */
  put_symlink(r.fd, "etc/.hosts.boxlite", target);
  struct guest_config cfg = parse(CONFIG_WITH(NETWORK_JSON));
  char err[256];
  CHECK(write_into(&r, &cfg, err, sizeof err) == 0);
  CHECK(text_is(r.fd, "etc/resolv.conf", RESOLV_CONF) && text_is(r.fd, "etc/hosts", HOSTS));
  CHECK(text_is(outside.fd, "resolv.conf", "nameserver 10.9.9.9\n"));
  CHECK(!exists(r.fd, "run") && !exists(r.fd, "etc/.hosts.boxlite"));
  root_remove(&r);
  root_remove(&outside);
}

static void test_existing_files_are_replaced_and_search_is_optional(void) {
  struct root r;
  root_make(&r);
  put_text(r.fd, "etc/resolv.conf", "nameserver 1.2.3.4\noptions ndots:5\nsearch old.example\n");
  put_text(r.fd, "etc/hosts", "127.0.0.1 localhost\n10.0.0.9 old\n");
  put_text(r.fd, "etc/passwd", "root:x:0:0::/root:/bin/sh\n");
  struct guest_config cfg =
      parse(CONFIG_WITH("{\"interface\":\"eth0\",\"address\":\"10.0.2.15\",\"prefix\":24,\"gateway\":\"10.0.2.2\","
                        "\"mtu\":1500,\"nameservers\":[\"10.0.2.3\"]}"));
  char err[256];
  CHECK(write_into(&r, &cfg, err, sizeof err) == 0);
  CHECK(text_is(r.fd, "etc/resolv.conf", HEADER "nameserver 10.0.2.3\n"));
  CHECK(text_is(r.fd, "etc/hosts", HEADER "127.0.0.1\tlocalhost\n::1\tlocalhost\n10.0.2.15\tbox1\n"));
  CHECK(text_is(r.fd, "etc/passwd", "root:x:0:0::/root:/bin/sh\n"));
  root_remove(&r);
}

static void test_a_plain_file_is_rewritten_in_place_and_a_linked_one_or_a_fifo_replaced(void) {
  struct root r;
  root_make(&r);
  put_file(r.fd, "etc/resolv.conf", "nameserver 1.2.3.4\noptions ndots:5 timeout:9 attempts:5 rotate\n", 63, 0600);
  ino_t before = stat_of(r.fd, "etc/resolv.conf").st_ino;
  /* A hosts with a second name elsewhere: rewriting it in place would change that one too. */
  put_text(r.fd, "etc/hosts", "10.0.0.9 old\n");
  CHECK(linkat(r.fd, "etc/hosts", r.fd, "hosts.copy", 0) == 0);
  struct guest_config cfg = parse(CONFIG_WITH(NETWORK_JSON));
  char err[256];
  CHECK(write_into(&r, &cfg, err, sizeof err) == 0);
  CHECK(stat_of(r.fd, "etc/resolv.conf").st_ino == before);
  CHECK(text_is(r.fd, "etc/resolv.conf", RESOLV_CONF) && mode_of(r.fd, "etc/resolv.conf") == (S_IFREG | 0644));
  CHECK(text_is(r.fd, "etc/hosts", HOSTS) && text_is(r.fd, "hosts.copy", "10.0.0.9 old\n"));
  /* A FIFO is replaced, not opened: opening one to write would wait for a reader. */
  CHECK(unlinkat(r.fd, "etc/hosts", 0) == 0 && mkfifoat(r.fd, "etc/hosts", 0644) == 0);
  CHECK(write_into(&r, &cfg, err, sizeof err) == 0);
  CHECK(text_is(r.fd, "etc/hosts", HOSTS) && mode_of(r.fd, "etc/hosts") == (S_IFREG | 0644));
  root_remove(&r);
}

static void test_an_etc_that_is_a_symlink_is_refused(void) {
  struct root r, outside;
  root_make(&r);
  root_make(&outside);
  put_symlink(r.fd, "etc", outside.path);
  struct guest_config cfg = parse(CONFIG_WITH(NETWORK_JSON));
  char err[256], want[256];
  CHECK(write_into(&r, &cfg, err, sizeof err) == -1);
  snprintf(want, sizeof want, "%s/etc is not a directory (a symlink there is not followed)", r.path);
  CHECK_STR(err, want);
  CHECK(count_names(outside.fd) == 0);
  root_remove(&r);
  root_remove(&outside);
}

static void test_a_failure_names_the_file_and_leaves_no_temporary_file(void) {
  struct root r;
  root_make(&r);
  put_text(r.fd, "etc/resolv.conf", "nameserver 1.2.3.4\n");
  put_dir(r.fd, "etc/hosts", 0755);
  struct guest_config cfg = parse(CONFIG_WITH(NETWORK_JSON));
  char err[256], want[256];
  CHECK(write_into(&r, &cfg, err, sizeof err) == -1);
  snprintf(want, sizeof want, "write %s/etc/hosts: Is a directory", r.path);
  CHECK_STR(err, want);
  /* resolv.conf went first and stays written: the next CONFIG with a network writes it again. */
  CHECK(text_is(r.fd, "etc/resolv.conf", RESOLV_CONF));
  CHECK(!exists(r.fd, "etc/.hosts.boxlite") && S_ISDIR(mode_of(r.fd, "etc/hosts")));
  root_remove(&r);
}

int main(void) {
  test_an_image_without_etc_gets_one_with_both_files();
  test_symlinks_are_replaced_not_written_through();
  test_existing_files_are_replaced_and_search_is_optional();
  test_a_plain_file_is_rewritten_in_place_and_a_linked_one_or_a_fifo_replaced();
  test_an_etc_that_is_a_symlink_is_refused();
  test_a_failure_names_the_file_and_leaves_no_temporary_file();
  return test_finish("test_etc_files");
}
