/*
 * netprobe: what scripts/bench/network.ts runs inside a box, timing each operation with
 * the guest's monotonic clock (busybox has no sub-second timer).
 *
 *   netprobe connect IP PORT N      N TCP connects (and closes): p50 and p90 in microseconds
 *   netprobe dns SERVER NAME N      N A queries over UDP to SERVER:53: p50 and p90 in microseconds
 *   netprobe download IP PORT PATH  one HTTP/1.0 GET: bytes read and MB/s
 *
 * Output: one line of key=value pairs.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define MAX_SAMPLES 10000

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static void report(const char *what, double *samples, int n) {
  qsort(samples, (size_t)n, sizeof *samples, cmp);
  printf("%s_p50_us=%.0f %s_p90_us=%.0f n=%d\n", what, samples[n / 2], what, samples[n * 9 / 10], n);
}

static struct sockaddr_in address(const char *ip, int port) {
  struct sockaddr_in sin;
  memset(&sin, 0, sizeof sin);
  sin.sin_family = AF_INET;
  sin.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, ip, &sin.sin_addr) != 1) {
    fprintf(stderr, "netprobe: bad address %s\n", ip);
    exit(2);
  }
  return sin;
}

static int probe_connect(const char *ip, int port, int n) {
  static double samples[MAX_SAMPLES];
  struct sockaddr_in sin = address(ip, port);
  for (int i = 0; i < n; i++) {
    double start = now_us();
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sin, sizeof sin) != 0) {
      perror("netprobe: connect");
      return 1;
    }
    samples[i] = now_us() - start;
    close(fd);
  }
  report("connect", samples, n);
  return 0;
}

/* An A query for name with id `id`. Returns its length. */
static size_t build_query(unsigned char *buf, const char *name, uint16_t id) {
  size_t len = 0;
  unsigned char header[12] = {(unsigned char)(id >> 8), (unsigned char)id, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0};
  memcpy(buf, header, sizeof header);
  len = sizeof header;
  const char *label = name;
  while (*label) {
    const char *dot = strchr(label, '.');
    size_t n = dot ? (size_t)(dot - label) : strlen(label);
    buf[len++] = (unsigned char)n;
    memcpy(buf + len, label, n);
    len += n;
    label += n + (dot ? 1 : 0);
  }
  buf[len++] = 0;
  unsigned char tail[4] = {0, 1, 0, 1};
  memcpy(buf + len, tail, sizeof tail);
  return len + sizeof tail;
}

static int probe_dns(const char *server, const char *name, int n) {
  static double samples[MAX_SAMPLES];
  struct sockaddr_in sin = address(server, 53);
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  struct timeval timeout = {2, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  unsigned char query[512], answer[1500];
  for (int i = 0; i < n; i++) {
    size_t len = build_query(query, name, (uint16_t)(i + 1));
    double start = now_us();
    if (sendto(fd, query, len, 0, (struct sockaddr *)&sin, sizeof sin) < 0) {
      perror("netprobe: sendto");
      return 1;
    }
    for (;;) {
      ssize_t got = recv(fd, answer, sizeof answer, 0);
      if (got < 0) {
        perror("netprobe: recv");
        return 1;
      }
      if (got >= 2 && answer[0] == query[0] && answer[1] == query[1]) break;
    }
    samples[i] = now_us() - start;
  }
  close(fd);
  report("dns", samples, n);
  return 0;
}

static int probe_download(const char *ip, int port, const char *path) {
  struct sockaddr_in sin = address(ip, port);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  double start = now_us();
  if (fd < 0 || connect(fd, (struct sockaddr *)&sin, sizeof sin) != 0) {
    perror("netprobe: connect");
    return 1;
  }
  char request[512];
  int len = snprintf(request, sizeof request, "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n", path, ip);
  if (write(fd, request, (size_t)len) != len) {
    perror("netprobe: write");
    return 1;
  }
  static char buf[1 << 16];
  long long total = 0;
  for (;;) {
    ssize_t got = read(fd, buf, sizeof buf);
    if (got < 0) {
      perror("netprobe: read");
      return 1;
    }
    if (got == 0) break;
    total += got;
  }
  double seconds = (now_us() - start) / 1e6;
  close(fd);
  printf("bytes=%lld seconds=%.3f mb_per_s=%.1f\n", total, seconds, (double)total / 1e6 / seconds);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 5 && strcmp(argv[1], "connect") == 0) return probe_connect(argv[2], atoi(argv[3]), atoi(argv[4]) < MAX_SAMPLES ? atoi(argv[4]) : MAX_SAMPLES);
  if (argc == 5 && strcmp(argv[1], "dns") == 0) return probe_dns(argv[2], argv[3], atoi(argv[4]) < MAX_SAMPLES ? atoi(argv[4]) : MAX_SAMPLES);
  if (argc == 5 && strcmp(argv[1], "download") == 0) return probe_download(argv[2], atoi(argv[3]), argv[4]);
  fprintf(stderr, "usage: netprobe connect IP PORT N | dns SERVER NAME N | download IP PORT PATH\n");
  return 2;
}
