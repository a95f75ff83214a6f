/* Control payloads (JSON) of the protocol: parsing what the host sends, writing what the guest sends. */
#ifndef BOXLITE_MESSAGE_H
#define BOXLITE_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent.h"
#include "files.h"
#include "json.h"

/* An EXEC payload. The strings point into doc, which the request owns. */
struct exec_request {
  char **argv; /* argc entries + NULL */
  size_t argc;
  char **env; /* envc entries + NULL */
  size_t envc;
  const char *cwd;
  bool create_cwd;
  const char *user;
  bool tty;
  uint16_t rows, cols;
  bool stdin_open;
  struct json_doc doc;
};

/* A FILES_OUT or FILES_IN payload. spec.path points into doc, which the request owns. */
struct files_request {
  uint8_t type; /* FRAME_FILES_OUT or FRAME_FILES_IN */
  struct files_spec spec;
  struct json_doc doc;
};

/* Longest hostname (the kernel's __NEW_UTS_LEN) and rootfs device path CONFIG may carry. */
#define CONFIG_HOSTNAME_MAX 64
#define CONFIG_DEVICE_MAX 127

/* A CONFIG payload: the box's settings, copied out of the JSON (the session keeps the applied one). */
struct guest_config {
  char hostname[CONFIG_HOSTNAME_MAX + 1];
  char rootfs_device[CONFIG_DEVICE_MAX + 1];
  /* NULL, or the name of a reserved field ("mounts", "network") that is not empty: well-formed,
   * but this agent cannot apply it, and a box must not start silently without it. */
  const char *unsupported;
};

/* Room for any EXIT payload: an error of EXIT_ERROR_MAX bytes, each escaped to at most 6. */
#define EXIT_PAYLOAD_MAX (EXIT_ERROR_MAX * 6 + 128)

/* Outcome of a command, reported by EXIT. */
struct exit_info {
  int code;
  int signal;
  uint64_t duration_us;
  const char *error; /* NULL or "" when there is none */
};

/* Parsers return 0, or -1 with a reason written to why. */
int message_parse_hello(const uint8_t *p, size_t n, int64_t *version, char *why, size_t whylen);
int message_parse_exec(const uint8_t *p, size_t n, struct exec_request *req, char *why, size_t whylen);
void message_free_exec(struct exec_request *req);
/* type is FRAME_FILES_OUT or FRAME_FILES_IN: `path` is required (absolute, no NUL), the
 * booleans of that type are optional with the spec's defaults, other fields are ignored. */
int message_parse_files(uint8_t type, const uint8_t *p, size_t n, struct files_request *req, char *why,
                        size_t whylen);
void message_free_files(struct files_request *req);
/* CONFIG: `hostname` (1..64 bytes) and `rootfs.device` (an absolute path) are required; `mounts`
 * (an array) and `network` (an object) may be absent, null or empty; other fields are ignored. */
int message_parse_config(const uint8_t *p, size_t n, struct guest_config *cfg, char *why, size_t whylen);
int message_parse_signal(const uint8_t *p, size_t n, int *signal, char *why, size_t whylen);
int message_parse_resize(const uint8_t *p, size_t n, uint16_t *rows, uint16_t *cols, char *why, size_t whylen);

/* Writers return the payload length, or 0 when it does not fit in cap. */
size_t message_hello(char *buf, size_t cap);
size_t message_started(char *buf, size_t cap, int pid);
size_t message_exit(char *buf, size_t cap, const struct exit_info *info);
size_t message_error(char *buf, size_t cap, const char *code, const char *message);

#endif
