#include "tar.h"

#include <stdio.h>
#include <string.h>

/* ustar header fields: offset and width (POSIX.1-2001, pax "ustar Interchange Format"). */
enum {
  F_NAME = 0,
  F_MODE = 100,
  F_UID = 108,
  F_GID = 116,
  F_SIZE = 124,
  F_MTIME = 136,
  F_CHKSUM = 148,
  F_TYPE = 156,
  F_LINKNAME = 157,
  F_MAGIC = 257,
  F_VERSION = 263,
  F_DEVMAJOR = 329,
  F_DEVMINOR = 337,
  F_PREFIX = 345,
};

static size_t round_up(size_t n) { return (n + TAR_BLOCK - 1) / TAR_BLOCK * TAR_BLOCK; }

/* width-1 octal digits and a NUL; false when v needs more digits. */
static bool put_octal(uint8_t *field, size_t width, uint64_t v) {
  size_t digits = width - 1;
  if (v >> (3 * digits) != 0) return false;
  field[digits] = '\0';
  for (size_t i = digits; i-- > 0; v >>= 3) field[i] = (uint8_t)('0' + (v & 7));
  return true;
}

/* A string field: NUL-terminated when shorter than the field, cut when longer (pax has it whole). */
static void put_string(uint8_t *field, size_t width, const char *s) {
  size_t n = strlen(s);
  memcpy(field, s, n < width ? n : width);
}

static bool fits_time(int64_t t) { return t >= 0 && t <= 077777777777; }

static void put_checksum(uint8_t *b) {
  memset(b + F_CHKSUM, ' ', 8);
  uint32_t sum = 0;
  for (size_t i = 0; i < TAR_BLOCK; i++) sum += b[i];
  put_octal(b + F_CHKSUM, 7, sum); /* six digits, a NUL, and the space already there */
}

static void put_header(uint8_t *b, const struct tar_entry *e) {
  memset(b, 0, TAR_BLOCK);
  put_string(b + F_NAME, 100, e->name);
  put_octal(b + F_MODE, 8, e->mode & 07777);
  /* A number that does not fit is 0 here; the pax header before carries it. */
  if (!put_octal(b + F_UID, 8, e->uid)) put_octal(b + F_UID, 8, 0);
  if (!put_octal(b + F_GID, 8, e->gid)) put_octal(b + F_GID, 8, 0);
  if (!put_octal(b + F_SIZE, 12, e->size)) put_octal(b + F_SIZE, 12, 0);
  put_octal(b + F_MTIME, 12, fits_time(e->mtime) ? (uint64_t)e->mtime : 0);
  b[F_TYPE] = (uint8_t)e->type;
  put_string(b + F_LINKNAME, 100, e->linkname);
  memcpy(b + F_MAGIC, "ustar", 6);
  memcpy(b + F_VERSION, "00", 2);
  if (!put_octal(b + F_DEVMAJOR, 8, e->devmajor)) put_octal(b + F_DEVMAJOR, 8, 0);
  if (!put_octal(b + F_DEVMINOR, 8, e->devminor)) put_octal(b + F_DEVMINOR, 8, 0);
  put_checksum(b);
}

static size_t decimal_digits(size_t n) {
  size_t d = 1;
  while (n >= 10) n /= 10, d++;
  return d;
}

/* "LEN key=value\n", where LEN counts the whole record, its own digits included. */
static size_t put_record(char *out, const char *key, const char *value) {
  size_t klen = strlen(key), vlen = strlen(value), base = klen + vlen + 3;
  size_t len = base + decimal_digits(base);
  if (base + decimal_digits(len) != len) len = base + decimal_digits(len);
  size_t n = (size_t)sprintf(out, "%zu %s=", len, key);
  memcpy(out + n, value, vlen);
  out[n + vlen] = '\n';
  return len;
}

static size_t put_number_record(char *out, const char *key, long long v) {
  char num[24];
  snprintf(num, sizeof num, "%lld", v);
  return put_record(out, key, num);
}

static size_t pax_records(const struct tar_entry *e, char *out) {
  size_t n = 0;
  if (strlen(e->name) > 100) n += put_record(out + n, "path", e->name);
  if (strlen(e->linkname) > 100) n += put_record(out + n, "linkpath", e->linkname);
  if (e->size > 077777777777ull) n += put_number_record(out + n, "size", (long long)e->size);
  if (e->uid > 07777777) n += put_number_record(out + n, "uid", e->uid);
  if (e->gid > 07777777) n += put_number_record(out + n, "gid", e->gid);
  if (!fits_time(e->mtime)) n += put_number_record(out + n, "mtime", (long long)e->mtime);
  return n;
}

size_t tar_encode(const struct tar_entry *e, uint8_t *out) {
  size_t len = pax_records(e, (char *)out + TAR_BLOCK);
  size_t off = 0;
  if (len > 0) {
    static const struct tar_entry pax = {.type = TAR_PAX, .name = "././@PaxHeader", .mode = 0644};
    struct tar_entry header = pax;
    header.size = len;
    header.mtime = fits_time(e->mtime) ? e->mtime : 0;
    put_header(out, &header);
    off = TAR_BLOCK + round_up(len);
    memset(out + TAR_BLOCK + len, 0, off - TAR_BLOCK - len);
  }
  put_header(out + off, e);
  return off + TAR_BLOCK;
}

/* A numeric field: octal text (space or NUL padded), or GNU base-256 when the top bit is set. */
static int get_number(const uint8_t *f, size_t width, int64_t *out) {
  if (f[0] & 0x80) {
    uint8_t invert = (f[0] & 0x40) ? 0xff : 0; /* negative: two's complement, -a-1 == ~a */
    uint64_t x = 0;
    for (size_t i = 0; i < width; i++) {
      uint8_t c = f[i] ^ invert;
      if (i == 0) c &= 0x7f;
      if (x >> 56) return -1;
      x = x << 8 | c;
    }
    if (x >> 63) return -1;
    *out = invert ? ~(int64_t)x : (int64_t)x;
    return 0;
  }
  size_t start = 0, end = width;
  while (start < end && (f[start] == ' ' || f[start] == '\0')) start++;
  while (end > start && (f[end - 1] == ' ' || f[end - 1] == '\0')) end--;
  int64_t v = 0; /* at most 12 digits here: no overflow */
  for (size_t i = start; i < end; i++) {
    if (f[i] < '0' || f[i] > '7') return -1;
    v = v * 8 + (f[i] - '0');
  }
  *out = v;
  return 0;
}

static int get_field(const uint8_t *b, size_t off, size_t width, int64_t min, int64_t max, int64_t *out) {
  return get_number(b + off, width, out) < 0 || *out < min || *out > max ? -1 : 0;
}

static bool checksum_ok(const uint8_t *b) {
  int64_t stored;
  if (get_number(b + F_CHKSUM, 8, &stored) < 0) return false;
  int64_t sum = 0, signed_sum = 0; /* some old tars summed signed chars */
  for (size_t i = 0; i < TAR_BLOCK; i++) {
    uint8_t c = i >= F_CHKSUM && i < F_CHKSUM + 8 ? ' ' : b[i];
    sum += c;
    signed_sum += (int8_t)c;
  }
  return stored == sum || stored == signed_sum;
}

/* A string field up to its first NUL (or its whole width). */
static size_t get_string(const uint8_t *field, size_t width, char *out) {
  const uint8_t *nul = memchr(field, '\0', width);
  size_t n = nul ? (size_t)(nul - field) : width;
  memcpy(out, field, n);
  out[n] = '\0';
  return n;
}

static void get_name(const uint8_t *b, char *out) {
  size_t n = 0;
  /* Only POSIX ustar has a prefix; GNU keeps other fields (atime, ctime) there. */
  if (memcmp(b + F_MAGIC, "ustar\0", 6) == 0 && b[F_PREFIX]) {
    n = get_string(b + F_PREFIX, 155, out);
    out[n++] = '/';
  }
  get_string(b + F_NAME, 100, out + n);
}

static bool is_zero(const uint8_t *b) {
  for (size_t i = 0; i < TAR_BLOCK; i++)
    if (b[i]) return false;
  return true;
}

static int get_numbers(const uint8_t *b, struct tar_entry *e) {
  int64_t mode, uid, gid, size, mtime, major = 0, minor = 0;
  if (get_field(b, F_MODE, 8, 0, INT64_MAX, &mode) < 0 || get_field(b, F_UID, 8, 0, UINT32_MAX, &uid) < 0 ||
      get_field(b, F_GID, 8, 0, UINT32_MAX, &gid) < 0 || get_field(b, F_SIZE, 12, 0, INT64_MAX, &size) < 0 ||
      get_field(b, F_MTIME, 12, INT64_MIN, INT64_MAX, &mtime) < 0)
    return -1;
  /* Device numbers mean something only for devices (other formats reuse the bytes). */
  bool device = e->type == TAR_CHAR || e->type == TAR_BLOCKDEV;
  if (device && (get_field(b, F_DEVMAJOR, 8, 0, UINT32_MAX, &major) < 0 ||
                 get_field(b, F_DEVMINOR, 8, 0, UINT32_MAX, &minor) < 0))
    return -1;
  e->mode = (uint32_t)(mode & 07777);
  e->uid = (uint32_t)uid;
  e->gid = (uint32_t)gid;
  e->size = (uint64_t)size;
  e->mtime = mtime;
  e->devmajor = (uint32_t)major;
  e->devminor = (uint32_t)minor;
  return 0;
}

int tar_decode(const uint8_t *b, struct tar_entry *e, const char **why) {
  if (is_zero(b)) return TAR_DECODED_END;
  if (!checksum_ok(b)) {
    *why = "bad header checksum";
    return -1;
  }
  e->type = b[F_TYPE] ? (char)b[F_TYPE] : TAR_FILE;
  get_name(b, e->name);
  get_string(b + F_LINKNAME, 100, e->linkname);
  /* Pre-POSIX tars mark directories by a trailing slash only. */
  size_t n = strlen(e->name);
  if (!b[F_TYPE] && n > 0 && e->name[n - 1] == '/') e->type = TAR_DIR;
  if (get_numbers(b, e) < 0) {
    *why = "bad number in header";
    return -1;
  }
  return TAR_DECODED_ENTRY;
}

/* Unsigned decimal, at most max. */
static int parse_unsigned(const char *s, size_t n, uint64_t max, uint64_t *out) {
  if (n == 0 || n > 20) return -1;
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return -1;
    unsigned d = (unsigned)(s[i] - '0');
    if (v > (max - d) / 10) return -1;
    v = v * 10 + d;
  }
  *out = v;
  return 0;
}

/* pax time: [-]seconds[.fraction]; the fraction is dropped. */
static int parse_time(const char *s, size_t n, int64_t *out) {
  bool negative = n > 0 && s[0] == '-';
  const char *digits = s + negative;
  size_t len = n - negative;
  const char *dot = memchr(digits, '.', len);
  if (dot) {
    for (const char *p = dot + 1; p < digits + len; p++)
      if (*p < '0' || *p > '9') return -1;
    len = (size_t)(dot - digits);
  }
  uint64_t v;
  if (parse_unsigned(digits, len, INT64_MAX, &v) < 0) return -1;
  *out = negative ? -(int64_t)v : (int64_t)v;
  return 0;
}

static int set_name(char *dst, const char *value, size_t n, unsigned *set, unsigned flag) {
  if (n > TAR_NAME_MAX || memchr(value, '\0', n)) return -1;
  memcpy(dst, value, n);
  dst[n] = '\0';
  /* An empty value undoes an earlier override (POSIX: the field reverts to the header's). */
  *set = n ? *set | flag : *set & ~flag;
  return 0;
}

static int apply_record(const char *key, size_t klen, const char *value, size_t vlen, struct tar_entry *over,
                        unsigned *set) {
  uint64_t v;
#define KEY_IS(k) (klen == sizeof k - 1 && memcmp(key, k, klen) == 0)
  if (KEY_IS("path")) return set_name(over->name, value, vlen, set, TAR_SET_NAME);
  if (KEY_IS("linkpath")) return set_name(over->linkname, value, vlen, set, TAR_SET_LINKNAME);
  if (KEY_IS("size")) {
    if (parse_unsigned(value, vlen, INT64_MAX, &over->size) < 0) return -1;
    *set |= TAR_SET_SIZE;
  } else if (KEY_IS("uid") || KEY_IS("gid")) {
    if (parse_unsigned(value, vlen, UINT32_MAX, &v) < 0) return -1;
    *(KEY_IS("uid") ? &over->uid : &over->gid) = (uint32_t)v;
    *set |= KEY_IS("uid") ? TAR_SET_UID : TAR_SET_GID;
  } else if (KEY_IS("mtime")) {
    if (parse_time(value, vlen, &over->mtime) < 0) return -1;
    *set |= TAR_SET_MTIME;
  } else if (klen >= 11 && memcmp(key, "GNU.sparse.", 11) == 0) {
    return -1; /* sparse data is laid out differently: extracting it as is would be wrong */
  }
#undef KEY_IS
  return 0; /* other keys (atime, uname, xattrs...) are not kept */
}

int tar_parse_pax(const char *data, size_t len, struct tar_entry *over, unsigned *set, const char **why) {
  while (len > 0) {
    const char *space = memchr(data, ' ', len < 24 ? len : 24);
    uint64_t n;
    if (!space || parse_unsigned(data, (size_t)(space - data), len, &n) < 0 || n <= (size_t)(space - data) + 2 ||
        data[n - 1] != '\n') {
      *why = "bad pax record";
      return -1;
    }
    const char *kv = space + 1;
    size_t kvlen = (size_t)(data + n - 1 - kv);
    const char *eq = memchr(kv, '=', kvlen);
    if (!eq || eq == kv) {
      *why = "bad pax record";
      return -1;
    }
    if (apply_record(kv, (size_t)(eq - kv), eq + 1, (size_t)(kv + kvlen - eq - 1), over, set) < 0) {
      *why = "bad or unsupported pax record";
      return -1;
    }
    data += n;
    len -= n;
  }
  return 0;
}

void tar_apply(struct tar_entry *e, const struct tar_entry *over, unsigned set) {
  if (set & TAR_SET_NAME) memcpy(e->name, over->name, strlen(over->name) + 1);
  if (set & TAR_SET_LINKNAME) memcpy(e->linkname, over->linkname, strlen(over->linkname) + 1);
  if (set & TAR_SET_SIZE) e->size = over->size;
  if (set & TAR_SET_UID) e->uid = over->uid;
  if (set & TAR_SET_GID) e->gid = over->gid;
  if (set & TAR_SET_MTIME) e->mtime = over->mtime;
}
