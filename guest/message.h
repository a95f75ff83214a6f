/* Control payloads (JSON) of the protocol: parsing what the host sends, writing what the guest sends. */
#ifndef BOXLITE_MESSAGE_H
#define BOXLITE_MESSAGE_H

#include <netinet/in.h>
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
/* Longest interface name: the kernel's IFNAMSIZ less the NUL. */
#define CONFIG_INTERFACE_MAX 15
/* resolv.conf's limits: the resolvers read at most 3 nameservers (MAXNS); glibc before 2.26
 * reads at most 6 search names, and musl ignores a line of more than 254 bytes, which leaves
 * 247 for the names after "search ". */
#define CONFIG_NAMESERVERS_MAX 3
#define CONFIG_SEARCH_NAMES_MAX 6
#define CONFIG_SEARCH_MAX 247

/* CONFIG's network: one interface with a static IPv4 address, a default route and DNS. */
struct guest_network {
  char interface[CONFIG_INTERFACE_MAX + 1]; /* "" when CONFIG has no network */
  struct in_addr address, gateway;           /* the gateway is inside address/prefix */
  uint8_t prefix;                            /* 1..32 */
  uint16_t mtu;                              /* 68..65535 */
  struct in_addr nameservers[CONFIG_NAMESERVERS_MAX];
  size_t nameserver_count; /* 1..CONFIG_NAMESERVERS_MAX */
  char search[CONFIG_SEARCH_MAX + 1]; /* the search names separated by single spaces; "" for none */
};

/* CONFIG's mounts: volumes, each a virtio-fs share mounted in the container (docs/volumes.md). */
#define CONFIG_MOUNTS_MAX 16
#define CONFIG_TAG_MAX 36 /* virtio-fs's tag field */
#define CONFIG_MOUNT_PATH_MAX 1023
#define CONFIG_FILE_NAME_MAX 255
#define CONFIG_USER_MAX 255

struct guest_mount {
  char tag[CONFIG_TAG_MAX + 1];
  /* The volume's directory in the share: a name in its root (QEMU's fsd serves every volume of
   * a box on one device), or "" when the share is the volume (libkrun: one share per volume). */
  char subdir[CONFIG_FILE_NAME_MAX + 1];
  char path[CONFIG_MOUNT_PATH_MAX + 1]; /* absolute in the container, not "/", no "." or ".." part */
  char file[CONFIG_FILE_NAME_MAX + 1];  /* a single-file share: the file's name in it; "" for a directory */
  bool read_only;
  /* The share's owner on the host, and the box's user (EXEC's `user` syntax, "" for root):
   * when they differ the mount is idmapped so the box user owns what the host user owns. */
  uint32_t host_uid, host_gid;
  char user[CONFIG_USER_MAX + 1];
};

/* A CONFIG payload: the box's settings, copied out of the JSON (the session keeps the applied one). */
struct guest_config {
  char hostname[CONFIG_HOSTNAME_MAX + 1];
  char rootfs_device[CONFIG_DEVICE_MAX + 1];
  struct guest_network network;
  struct guest_mount mounts[CONFIG_MOUNTS_MAX];
  size_t mount_count;
  /* The capabilities of the box's commands (caps.h): bit n is capability n. */
  uint64_t capabilities;
};

/* message_parse_config's answer to a well-formed CONFIG the agent will not apply: the session
 * answers config_failed (a box must not start without what it asked for), not malformed. */
#define CONFIG_REFUSED (-2)

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
 * (an array), `network` and `capabilities` (objects) may be absent, null or empty; other fields
 * are ignored. Without `capabilities` the commands get docker's default set.
 * Returns 0, -1 (malformed) or CONFIG_REFUSED (a mount or a `network` that breaks the rules of
 * docs/guest-protocol.md), with the reason in why. */
int message_parse_config(const uint8_t *p, size_t n, struct guest_config *cfg, char *why, size_t whylen);
/* Whether a and b configure the box the same way (a CONFIG sent again is then acknowledged). */
bool message_same_config(const struct guest_config *a, const struct guest_config *b);
/* `hostname "H", rootfs D[, N volumes] and network A/P on I` (or `and no network`), for messages. */
void message_describe_config(const struct guest_config *cfg, char *buf, size_t cap);
/* WAKE (docs/guest-protocol.md, "Waking a restored guest"): the host's wall clock, entropy
 * for the kernel's RNG, and the box's disks that stand in for a template's (their names and
 * sizes: at most WAKE_DISKS_MAX, each vdb..vdz, bytes a positive multiple of 512). */
#define WAKE_ENTROPY_MIN 32
#define WAKE_ENTROPY_MAX 64
#define WAKE_DISKS_MAX 8
struct wake_disk {
  char name[8];
  uint64_t bytes;
};
struct wake_request {
  int64_t time_s, time_ns; /* CLOCK_REALTIME: seconds since the epoch, and 0..999999999 ns */
  uint8_t entropy[WAKE_ENTROPY_MAX];
  size_t entropy_len;
  struct wake_disk disks[WAKE_DISKS_MAX];
  size_t ndisks;
};
int message_parse_wake(const uint8_t *p, size_t n, struct wake_request *req, char *why, size_t whylen);
/* SUSPEND (docs/guest-protocol.md, "Suspending a box"): the streams that outlive the host's next
 * connection because the box is restored from saved memory, not reconnected. `keep`: served
 * again on it (a fresh window each way); `orphan`: run on unheard, their output read and dropped.
 * Each an array of at most MAX_STREAMS stream ids (1..2^31-1); absent or null mean none. */
struct suspend_request {
  uint32_t keep[MAX_STREAMS];
  size_t nkeep;
  uint32_t orphan[MAX_STREAMS];
  size_t norphan;
};
int message_parse_suspend(const uint8_t *p, size_t n, struct suspend_request *req, char *why, size_t whylen);
int message_parse_signal(const uint8_t *p, size_t n, int *signal, char *why, size_t whylen);
int message_parse_resize(const uint8_t *p, size_t n, uint16_t *rows, uint16_t *cols, char *why, size_t whylen);

/* Writers return the payload length, or 0 when it does not fit in cap. */
size_t message_hello(char *buf, size_t cap);
size_t message_started(char *buf, size_t cap, int pid);
size_t message_exit(char *buf, size_t cap, const struct exit_info *info);
size_t message_error(char *buf, size_t cap, const char *code, const char *message);

#endif
