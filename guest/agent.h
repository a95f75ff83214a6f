/* Limits and constants shared by the guest agent's modules (docs/guest-protocol.md). */
#ifndef BOXLITE_AGENT_H
#define BOXLITE_AGENT_H

#ifndef BOXLITE_GUEST_VERSION
#define BOXLITE_GUEST_VERSION "0.1.0"
#endif

#define PROTOCOL_VERSION 1
#define MAX_STREAMS 64
#define INITIAL_WINDOW 262144u
/* Senders split data into frames of at most 64 KiB. */
#define MAX_DATA_CHUNK (64u * 1024u)
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
/* Where the container's root filesystem is mounted in the agent's namespace. */
#define ROOTFS_DIR "/rootfs"
/* Longest `error` text carried in an EXIT frame. */
#define EXIT_ERROR_MAX 256

#endif
