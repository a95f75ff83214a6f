/* fsd's command line: each --share's parts, and a line naming what is wrong. */
#include "args.h"
#include "test.h"

static struct fsd_args args;
static char err[256];

static int parse6(const char *a, const char *b, const char *c, const char *d, const char *e, const char *f) {
  static char buf[6][128];
  char *argv[7] = {"fsd"};
  const char *given[6] = {a, b, c, d, e, f};
  int argc = 1;
  for (int i = 0; i < 6 && given[i]; i++) {
    snprintf(buf[i], sizeof buf[i], "%s", given[i]);
    argv[argc++] = buf[i];
  }
  err[0] = '\0';
  return args_parse(argc, argv, &args, err, sizeof err);
}

static int parse(const char *a, const char *b, const char *c, const char *d) { return parse6(a, b, c, d, NULL, NULL); }

int main(void) {
  CHECK(parse6("--socket", "/s/fs.sock", "--share", "data:/data", "--share", "b:/x:ro:file=f.txt") == 0);
  CHECK(args.share_count == 2 && !args.verbose);
  CHECK_STR(args.socket_path, "/s/fs.sock");
  CHECK(args.socket_uid == -1 && args.socket_gid == -1);
  CHECK_STR(args.shares[0].name, "data");
  CHECK_STR(args.shares[0].root, "/data");
  CHECK(!args.shares[0].read_only && args.shares[0].only_name == NULL);
  CHECK(args.shares[1].read_only);
  CHECK_STR(args.shares[1].only_name, "f.txt");
  CHECK(parse6("--verbose", "--share", "s:/r:file=a:ro", "--socket", "/s", NULL) == 0 && args.verbose && args.shares[0].read_only);

  CHECK(parse("--verbose", NULL, NULL, NULL) < 0);
  CHECK_STR(err, "no --share given");
  CHECK(parse("--share", "s:/r", NULL, NULL) < 0);
  CHECK_STR(err, "no --socket given");
  CHECK(parse6("--socket", "/s", "--socket-owner", "1600000005:1600000000", "--share", "s:/r") == 0);
  CHECK(args.socket_uid == 1600000005 && args.socket_gid == 1600000000);
  CHECK(parse6("--socket", "/s", "--socket-owner", "5", "--share", "s:/r") < 0);
  CHECK_STR(err, "--socket-owner needs a value: UID:GID");
  CHECK(parse6("--socket", "/s", "--socket-owner", "a:b", "--share", "s:/r") < 0);
  CHECK(parse6("--socket", "/s", "--share", "s:/r", "--socket-owner", NULL) < 0);
  CHECK(parse("--socket", "/a", "--socket", "/b") < 0);
  CHECK_STR(err, "--socket is given twice, or empty");
  CHECK(parse("--socket", "", "--share", "s:/r") < 0);
  CHECK(parse("--share", "s:/r", "--socket", NULL) < 0);
  CHECK_STR(err, "--socket needs a value: a path");
  CHECK(parse("--share", NULL, NULL, NULL) < 0);
  CHECK_STR(err, "--share needs a value: NAME:ROOT[:ro][:file=FILE]");
  CHECK(parse("--bogus", NULL, NULL, NULL) < 0);
  CHECK_STR(err, "unknown argument \"--bogus\"");
  CHECK(parse("--share", "/s.sock", NULL, NULL) < 0);
  CHECK_STR(err, "--share /s.sock: want NAME:ROOT[:ro][:file=FILE] with an absolute ROOT (':' as %3A, '%' as %25)");
  /* A ':' or a '%' in a path or a file name is escaped; any other '%' is refused. */
  CHECK(parse6("--socket", "/s", "--share", "e:/a%3Ab%25c%3a:file=x%3Ay", NULL, NULL) == 0);
  CHECK_STR(args.shares[0].root, "/a:b%c:");
  CHECK_STR(args.shares[0].only_name, "x:y");
  CHECK(parse("--share", "e:/a%20b", NULL, NULL) < 0);
  CHECK(parse("--share", "e:/a%3", NULL, NULL) < 0);
  CHECK(parse("--share", "e:/a:file=%2F", NULL, NULL) < 0);
  CHECK(parse("--share", "/s.sock:rel", NULL, NULL) < 0);
  CHECK(parse("--share", ":/r", NULL, NULL) < 0);
  CHECK(parse("--share", "/s:/r:rw", NULL, NULL) < 0);
  CHECK_STR(err, "--share /s:/r:rw: bad or repeated option \"rw\" (want ro or file=FILE)");
  CHECK(parse("--share", "/s:/r:ro:ro", NULL, NULL) < 0);
  CHECK(parse("--share", "/s:/r:file=a/b", NULL, NULL) < 0);
  CHECK(parse("--share", "/s:/r:file=..", NULL, NULL) < 0);
  CHECK(parse("--share", "/s:/r:file=", NULL, NULL) < 0);
  CHECK(parse("--share", "s:/r", "--share", "s:/q") < 0);
  CHECK_STR(err, "--share: name s is given twice");
  return test_finish("test_args");
}
