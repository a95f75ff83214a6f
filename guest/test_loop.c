/*
 * The event loop end to end over a socketpair (standing in for the virtio port), with real
 * processes and pipes but no chroot: the "commands" are small functions run in the forked
 * child. Covers reading, flow control, stdin, reaping, signals and SHUTDOWN; and the copies,
 * which run the agent's own copy child (files_child_finish) on a temp dir instead of a chroot.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "exec.h"
#include "loop.h"
#include "reap.h"
#include "test_files.h"

/* The commands: "echo TEXT", "cat", "spew N", "exit N", "sleep". */
static _Noreturn void run_command(const struct exec_request *req) {
  const char *cmd = req->argv[0], *arg = req->argc > 1 ? req->argv[1] : "";
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  if (strcmp(cmd, "echo") == 0) {
    ssize_t w = write(1, arg, strlen(arg));
    w += write(2, "err", 3);
    _exit(w > 0 ? 0 : 1);
  }
  static char buf[65536];
  if (strcmp(cmd, "cat") == 0) {
    ssize_t n;
    while ((n = read(0, buf, sizeof buf)) > 0)
      if (write(1, buf, (size_t)n) != n) _exit(1);
    _exit(0);
  }
  if (strcmp(cmd, "spew") == 0) {
    memset(buf, 'z', sizeof buf);
    for (long left = atol(arg); left > 0;) {
      ssize_t n = write(1, buf, left < (long)sizeof buf ? (size_t)left : sizeof buf);
      if (n <= 0) _exit(1);
      left -= n;
    }
    _exit(0);
  }
  if (strcmp(cmd, "exit") == 0) _exit(atoi(arg));
  for (;;) pause();
}

static int spawn(void *ctx, struct stream *st, const struct exec_request *req, char *err, size_t errlen) {
  (void)ctx, (void)err, (void)errlen;
  int in[2], out[2], errp[2];
  if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) return -1;
  pid_t pid = fork();
  if (pid == 0) {
    dup2(req->stdin_open ? in[0] : open("/dev/null", O_RDONLY), 0);
    dup2(out[1], 1);
    dup2(errp[1], 2);
    /* No exec here, so close-on-exec does not apply: close the agent's fds by hand. */
    for (int fd = 3; fd < 1024; fd++) close(fd);
    run_command(req);
  }
  close(in[0]), close(out[1]), close(errp[1]);
  fcntl(in[1], F_SETFL, O_NONBLOCK), fcntl(out[0], F_SETFL, O_NONBLOCK), fcntl(errp[0], F_SETFL, O_NONBLOCK);
  st->pid = pid;
  st->start_ns = clock_now_ns();
  st->fds[0] = in[1], st->fds[1] = out[0], st->fds[2] = errp[0];
  if (!req->stdin_open) close(in[1]), st->fds[0] = -1;
  /* Like a failed lookup of /etc/passwd: a stale errno must not look like a channel error. */
  errno = ENOENT;
  return 0;
}

/* The container's root for FILES_OUT / FILES_IN. */
static struct root files_root;

static int spawn_files(void *ctx, struct stream *st, const struct files_request *req, char *err, size_t errlen) {
  (void)ctx, (void)err, (void)errlen;
  bool out = req->type == FRAME_FILES_OUT;
  int data[2], errp[2];
  if (pipe2(data, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) return -1;
  int mine = out ? data[1] : data[0], theirs = out ? data[0] : data[1];
  pid_t pid = fork();
  if (pid == 0) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    int root = open(files_root.path, O_RDONLY | O_DIRECTORY);
    for (int fd = 3; fd < 1024; fd++)
      if (fd != mine && fd != errp[1] && fd != root) close(fd);
    files_child_finish(root, req, mine, errp[1]);
  }
  close(mine), close(errp[1]);
  fcntl(theirs, F_SETFL, O_NONBLOCK), fcntl(errp[0], F_SETFL, O_NONBLOCK);
  st->pid = pid;
  st->start_ns = clock_now_ns();
  st->errpipe = errp[0];
  st->fds[out ? 1 : 0] = theirs;
  return 0;
}

static void signal_process(void *ctx, struct stream *st, int sig) { (void)ctx, kill(st->pid, sig); }
static void resize(void *ctx, struct stream *st, uint16_t r, uint16_t c) { (void)ctx, (void)st, (void)r, (void)c; }
static void terminate(void *ctx, struct stream *st) { (void)ctx, kill(st->pid, SIGKILL); }
/* CONFIG changes nothing here: the "rootfs" is the host's own, the commands run in place. */
static int configure(void *ctx, const struct guest_config *cfg, char *err, size_t errlen) {
  (void)ctx, (void)cfg, (void)err, (void)errlen;
  return 0;
}
static const struct session_ops ops = {
    .configure = configure,
    .spawn = spawn,
    .signal = signal_process,
    .resize = resize,
    .terminate = terminate,
    .spawn_files = spawn_files,
};
#define CONFIG_JSON "{\"hostname\":\"loop\",\"rootfs\":{\"device\":\"/dev/vdb\"}}"

/* The host's side. */
static int host = -1;
static uint8_t rbuf[2 * (FRAME_HEADER + FRAME_MAX_PAYLOAD)];
static size_t rlen;

static void send_frame(uint8_t type, uint32_t stream, const void *payload, size_t len) {
  uint8_t header[FRAME_HEADER];
  frame_put_header(header, type, stream, (uint32_t)len);
  CHECK(write(host, header, sizeof header) == (ssize_t)sizeof header);
  for (size_t off = 0; off < len;) {
    ssize_t n = write(host, (const uint8_t *)payload + off, len - off);
    CHECK(n > 0);
    if (n <= 0) return;
    off += (size_t)n;
  }
}

static void send_json(uint8_t type, uint32_t stream, const char *json) { send_frame(type, stream, json, strlen(json)); }

static void grant(uint32_t stream, uint32_t n) {
  uint8_t p[4];
  put_be32(p, n);
  send_frame(FRAME_WINDOW, stream, p, 4);
}

/* The next frame from the agent (payload copied into out), or false after timeout_ms. */
static bool next_frame(struct frame *f, uint8_t *out, int timeout_ms) {
  static size_t consumed;
  memmove(rbuf, rbuf + consumed, rlen - consumed);
  rlen -= consumed;
  consumed = 0;
  for (;;) {
    if (frame_decode(rbuf, rlen, f) == FRAME_OK) {
      memcpy(out, f->payload, f->length);
      out[f->length] = '\0';
      consumed = FRAME_HEADER + f->length;
      return true;
    }
    struct pollfd p = {.fd = host, .events = POLLIN};
    if (poll(&p, 1, timeout_ms) <= 0) return false;
    ssize_t n = read(host, rbuf + rlen, sizeof rbuf - rlen);
    if (n <= 0) return false;
    rlen += (size_t)n;
  }
}

static uint8_t payload[FRAME_MAX_PAYLOAD + 1];

/* Runs a command (or a copy) to its EXIT, granting output as it comes; returns stdout and the EXIT JSON. */
static size_t run_frame(uint8_t type, uint32_t id, const char *exec, const uint8_t *in, size_t in_len, uint8_t *out,
                        char *exit_json) {
  struct frame f;
  size_t got = 0, sent = 0;
  uint32_t window = INITIAL_WINDOW;
  bool eof_sent = in == NULL;
  send_json(type, id, exec);
  for (;;) {
    while (sent < in_len && window > 0) {
      size_t n = in_len - sent < MAX_DATA_CHUNK ? in_len - sent : MAX_DATA_CHUNK;
      if (n > window) n = window;
      send_frame(FRAME_STDIN, id, in + sent, n);
      sent += n, window -= (uint32_t)n;
    }
    if (sent == in_len && !eof_sent) send_frame(FRAME_STDIN, id, NULL, 0), eof_sent = true;
    if (!next_frame(&f, payload, 5000)) {
      fprintf(stderr, "stream %u: no answer (got %zu, sent %zu, window %u)\n", id, got, sent, window);
      CHECK(!"agent answered");
      return got;
    }
    CHECK(f.stream == id);
    if (f.type == FRAME_STDOUT && out) memcpy(out + got, payload, f.length), got += f.length;
    if (f.type == FRAME_STDOUT || f.type == FRAME_STDERR) grant(id, f.length);
    if (f.type == FRAME_WINDOW) window += get_be32(payload);
    if (f.type == FRAME_EXIT) {
      strcpy(exit_json, (char *)payload);
      return got;
    }
  }
}

static size_t run(uint32_t id, const char *exec, const uint8_t *in, size_t in_len, uint8_t *out, char *exit_json) {
  return run_frame(FRAME_EXEC, id, exec, in, in_len, out, exit_json);
}

/* FILES_OUT streams a tar as STDOUT and FILES_IN takes one as STDIN, each ending with EXIT;
 * a failed copy's message comes in EXIT's error. */
static void copy_files(void) {
  char exit_json[512];
  static uint8_t tar[2 << 20];
  size_t n = run_frame(FRAME_FILES_OUT, 10, "{\"path\":\"/dir\"}", NULL, 0, tar, exit_json);
  CHECK(n > (1 << 20) && n % TAR_BLOCK == 0 && memcmp(tar, "dir/", 4) == 0);
  CHECK(strncmp(exit_json, "{\"code\":0,\"signal\":0,", 21) == 0 && !strstr(exit_json, "error"));
  /* More than a window of STDIN, so the copy child's reads drive the grants. */
  run_frame(FRAME_FILES_IN, 11, "{\"path\":\"/copy\"}", tar, n, NULL, exit_json);
  CHECK(strncmp(exit_json, "{\"code\":0,\"signal\":0,", 21) == 0);
  CHECK(text_is(files_root.fd, "copy/hello.txt", "hello\n"));
  CHECK(same_tree(files_root.fd, "dir", files_root.fd, "copy"));

  CHECK(run_frame(FRAME_FILES_OUT, 12, "{\"path\":\"/nope\"}", NULL, 0, tar, exit_json) == 0);
  CHECK(strncmp(exit_json, "{\"code\":2,\"signal\":0,", 21) == 0);
  CHECK(strstr(exit_json, "\"error\":\"/nope does not exist\"}") != NULL);
  static const uint8_t junk[1024] = "not a tar";
  run_frame(FRAME_FILES_IN, 13, "{\"path\":\"/junk\"}", junk, sizeof junk, NULL, exit_json);
  CHECK(strstr(exit_json, "{\"code\":1,") && strstr(exit_json, "\"error\":\"corrupt tar: bad header checksum\"}"));
  run_frame(FRAME_FILES_IN, 14, "{\"path\":\"/\",\"no_overwrite\":true}", tar, n, NULL, exit_json);
  CHECK(strstr(exit_json, "{\"code\":3,") && strstr(exit_json, "no_overwrite"));
}

/* Whether process pid became a zombie within 5 s (its parent, stopped, has not reaped it). */
static bool wait_zombie(pid_t pid) {
  char path[64], stat[512];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  for (int i = 0; i < 5000; i++) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd < 0 ? -1 : read(fd, stat, sizeof stat - 1);
    if (fd >= 0) close(fd);
    if (n > 0) {
      stat[n] = '\0';
      const char *state = strrchr(stat, ')');
      if (state && state[1] == ' ' && state[2] == 'Z') return true;
    }
    usleep(1000);
  }
  return false;
}

static void host_side(pid_t agent) {
  struct frame f;
  char exit_json[512];
  static uint8_t out[2 << 20], in[1 << 20];
  send_json(FRAME_HELLO, 0, "{\"version\":1}");
  CHECK(next_frame(&f, payload, 5000) && f.type == FRAME_HELLO);
  send_json(FRAME_CONFIG, 0, CONFIG_JSON);
  CHECK(next_frame(&f, payload, 5000) && f.type == FRAME_CONFIG && f.stream == 0);

  CHECK(run(1, "{\"argv\":[\"echo\",\"hi\"],\"env\":[],\"cwd\":\"/\"}", NULL, 0, out, exit_json) == 2);
  CHECK(memcmp(out, "hi", 2) == 0 && strncmp(exit_json, "{\"code\":0,\"signal\":0,", 21) == 0);

  CHECK(run(2, "{\"argv\":[\"exit\",\"3\"],\"env\":[],\"cwd\":\"/\"}", NULL, 0, out, exit_json) == 0);
  CHECK(strncmp(exit_json, "{\"code\":3,\"signal\":0,", 21) == 0);

  for (size_t i = 0; i < sizeof in; i++) in[i] = (uint8_t)(i * 7 + i / 251);
  CHECK(run(3, "{\"argv\":[\"cat\"],\"env\":[],\"cwd\":\"/\",\"stdin\":true}", in, sizeof in, out, exit_json) == sizeof in);
  CHECK(memcmp(out, in, sizeof in) == 0);

  /* Without grants the agent stops at the window; a grant lets the rest come. */
  send_json(FRAME_EXEC, 4, "{\"argv\":[\"spew\",\"600000\"],\"env\":[],\"cwd\":\"/\"}");
  size_t got = 0;
  while (next_frame(&f, payload, 300))
    if (f.type == FRAME_STDOUT) got += f.length;
  CHECK(got == INITIAL_WINDOW);
  grant(4, 1 << 20);
  bool exited = false;
  while (!exited && next_frame(&f, payload, 5000)) {
    if (f.type == FRAME_STDOUT) got += f.length;
    exited = f.type == FRAME_EXIT;
  }
  CHECK(exited && got == 600000);

  send_json(FRAME_EXEC, 5, "{\"argv\":[\"sleep\"],\"env\":[],\"cwd\":\"/\"}");
  CHECK(next_frame(&f, payload, 5000) && f.type == FRAME_STARTED);
  send_json(FRAME_SIGNAL, 5, "{\"signal\":15}");
  CHECK(next_frame(&f, payload, 5000) && f.type == FRAME_EXIT);
  CHECK(strncmp((char *)payload, "{\"code\":143,\"signal\":15,", 24) == 0);

  /* Three commands that end while the agent is stopped leave it one SIGCHLD: each still gets its
   * EXIT, though the agent reaps the next command only once the EXIT before went out. */
  pid_t pids[3];
  for (uint32_t id = 6; id <= 8; id++) {
    send_json(FRAME_EXEC, id, "{\"argv\":[\"sleep\"],\"env\":[],\"cwd\":\"/\"}");
    CHECK(next_frame(&f, payload, 5000) && f.type == FRAME_STARTED && f.stream == id);
    const char *pid = strstr((char *)payload, "\"pid\":");
    pids[id - 6] = pid ? (pid_t)atoi(pid + 6) : -1;
  }
  CHECK(kill(agent, SIGSTOP) == 0);
  for (int i = 0; i < 3; i++) CHECK(pids[i] > 0 && kill(pids[i], SIGKILL) == 0);
  for (int i = 0; i < 3; i++) CHECK(wait_zombie(pids[i]));
  CHECK(kill(agent, SIGCONT) == 0);
  unsigned ended = 0;
  while (ended != 0x1c0 && next_frame(&f, payload, 5000))
    if (f.type == FRAME_EXIT && strncmp((char *)payload, "{\"code\":137,\"signal\":9,", 23) == 0) ended |= 1u << f.stream;
  CHECK(ended == 0x1c0);

  copy_files();
  send_frame(FRAME_SHUTDOWN, 0, NULL, 0);
}

/* libkrun's channel: the agent listens (on vsock in a VM; a unix socket stands in here, the
 * loop only sees a listening fd) and each host connection is the channel. A host that
 * disconnects is replaced by the next one to connect, which starts over with HELLO. */
static void listener_side(const char *path) {
  struct frame f;
  char exit_json[512];
  static uint8_t out[64];
  for (int round = 0; round < 2; round++) {
    host = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path);
    CHECK(connect(host, (struct sockaddr *)&addr, sizeof addr) == 0);
    send_json(FRAME_HELLO, 0, "{\"version\":1}");
    CHECK(next_frame(&f, payload, 5000) && f.type == FRAME_HELLO);
    /* The second host re-dials with the same configuration, which is acknowledged. */
    send_json(FRAME_CONFIG, 0, CONFIG_JSON);
    CHECK(next_frame(&f, payload, 5000) && f.type == FRAME_CONFIG);
    CHECK(run(1, "{\"argv\":[\"echo\",\"again\"],\"env\":[],\"cwd\":\"/\"}", NULL, 0, out, exit_json) == 5);
    CHECK(memcmp(out, "again", 5) == 0);
    if (round == 0) close(host);
  }
  send_frame(FRAME_SHUTDOWN, 0, NULL, 0);
}

/* The exec port beside the main channel (each a socketpair standing in for a virtio port): it
 * takes HELLO and commands, which run once the main channel's CONFIG made the box, and refuses
 * what acts on the whole box. The two channels' commands are told apart by their streams. */
static void exec_port_side(int main_fd, int exec_fd) {
  struct frame f;
  char exit_json[512];
  static uint8_t out[64];
  host = exec_fd;
  send_json(FRAME_HELLO, 0, "{\"version\":1}");
  CHECK(next_frame(&f, payload, 5000) && f.type == FRAME_HELLO);
  send_json(FRAME_EXEC, 1, "{\"argv\":[\"echo\",\"early\"],\"env\":[],\"cwd\":\"/\"}");
  CHECK(next_frame(&f, payload, 5000) && f.type == FRAME_ERROR && f.stream == 1);
  CHECK(strstr((char *)payload, "\"code\":\"unconfigured\"") != NULL);

  host = main_fd;
  send_json(FRAME_HELLO, 0, "{\"version\":1}");
  CHECK(next_frame(&f, payload, 5000) && f.type == FRAME_HELLO);
  send_json(FRAME_CONFIG, 0, CONFIG_JSON);
  CHECK(next_frame(&f, payload, 5000) && f.type == FRAME_CONFIG);
  /* Stream 1 on the main channel too: each session has its own streams. */
  send_json(FRAME_EXEC, 1, "{\"argv\":[\"sleep\"],\"env\":[],\"cwd\":\"/\"}");
  CHECK(next_frame(&f, payload, 5000) && f.type == FRAME_STARTED && f.stream == 1);

  host = exec_fd;
  CHECK(run(1, "{\"argv\":[\"echo\",\"direct\"],\"env\":[],\"cwd\":\"/\"}", NULL, 0, out, exit_json) == 6);
  CHECK(memcmp(out, "direct", 6) == 0 && strncmp(exit_json, "{\"code\":0,\"signal\":0,", 21) == 0);
  const char *whole_box[] = {"{}", CONFIG_JSON};
  uint8_t types[] = {FRAME_FREEZE, FRAME_CONFIG};
  for (int i = 0; i < 2; i++) {
    send_json(types[i], 0, whole_box[i]);
    CHECK(next_frame(&f, payload, 5000) && f.type == FRAME_ERROR && f.stream == 0);
    CHECK(strstr((char *)payload, "only its main channel takes it") != NULL);
    /* The broken session takes a new HELLO, as after a reconnect. */
    send_json(FRAME_HELLO, 0, "{\"version\":1}");
    CHECK(next_frame(&f, payload, 5000) && f.type == FRAME_HELLO);
  }

  /* The main channel's command ran on through all of it. */
  host = main_fd;
  send_json(FRAME_SIGNAL, 1, "{\"signal\":15}");
  CHECK(next_frame(&f, payload, 5000) && f.type == FRAME_EXIT && f.stream == 1);
  CHECK(strncmp((char *)payload, "{\"code\":143,\"signal\":15,", 24) == 0);
  send_frame(FRAME_SHUTDOWN, 0, NULL, 0);
}

/* Forks the agent's loop on a channel fd (a virtio port's stand-in) or a listener, and an exec port's fd (or -1). */
static pid_t start_agent(int channel, int listener, int exec_port, int host_end) {
  pid_t agent = fork();
  if (agent == 0) {
    static struct agent a;
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* a failed test must not leave an agent behind */
    signal(SIGPIPE, SIG_IGN);
    if (host_end >= 0) close(host_end);
    if (channel >= 0) fcntl(channel, F_SETFL, O_NONBLOCK);
    if (exec_port >= 0) fcntl(exec_port, F_SETFL, O_NONBLOCK);
    a.main.channel = channel;
    a.main.listener = listener;
    a.exec.channel = exec_port;
    a.sigfd = reap_signalfd();
    if (a.sigfd < 0 || loop_init(&a, &ops) < 0) _exit(2);
    loop_run(&a); /* returns on SHUTDOWN */
    _exit(0);
  }
  return agent;
}

static void wait_agent(pid_t agent) {
  int status = -1;
  CHECK(waitpid(agent, &status, 0) == agent && WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

int main(void) {
  alarm(120); /* a hang is a failure, not a stuck test run */
  root_make(&files_root);
  put_text(files_root.fd, "dir/hello.txt", "hello\n");
  static uint8_t big[(1 << 20) + 77];
  for (size_t i = 0; i < sizeof big; i++) big[i] = (uint8_t)(i % 251);
  put_file(files_root.fd, "dir/sub/big", big, sizeof big, 0600);
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  pid_t agent = start_agent(sv[1], -1, -1, sv[0]);
  close(sv[1]);
  host = sv[0];
  host_side(agent);
  wait_agent(agent);
  close(host);

  int ev[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0 && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ev) == 0);
  agent = start_agent(sv[1], -1, ev[1], -1);
  close(sv[1]), close(ev[1]);
  exec_port_side(sv[0], ev[0]);
  wait_agent(agent);
  close(sv[0]), close(ev[0]);

  char path[sizeof files_root.path + 16];
  snprintf(path, sizeof path, "%s/agent.sock", files_root.path);
  int listener = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path);
  CHECK(bind(listener, (struct sockaddr *)&addr, sizeof addr) == 0 && listen(listener, 1) == 0);
  agent = start_agent(-1, listener, -1, -1);
  close(listener);
  listener_side(path);
  wait_agent(agent);
  unlink(path);
  root_remove(&files_root);
  return test_finish("test_loop");
}
