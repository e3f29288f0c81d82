/* Plan decoding: pointers into the plan buffer, no allocation. */
#include <string.h>
#include "init.h"

uint32_t rd_u32(struct reader *r) {
  uint32_t v = 0;
  if (r->end - r->p < 4) { r->bad = 1; return 0; }
  memcpy(&v, r->p, 4);
  r->p += 4;
  return v;
}

uint64_t rd_u64(struct reader *r) {
  uint64_t v = 0;
  if (r->end - r->p < 8) { r->bad = 1; return 0; }
  memcpy(&v, r->p, 8);
  r->p += 8;
  return v;
}

const char *rd_str(struct reader *r) {
  uint32_t len = rd_u32(r);
  const char *s = (const char *)r->p;
  /* The encoder always writes a terminating NUL inside len. */
  if (r->bad || len == 0 || (size_t)(r->end - r->p) < len || s[len - 1] != '\0') {
    r->bad = 1;
    return "";
  }
  r->p += len;
  return s;
}

int rd_strs(struct reader *r, const char **out, int max) {
  uint32_t n = rd_u32(r);
  if (n >= (uint32_t)max) { r->bad = 1; out[0] = NULL; return 0; }
  for (uint32_t i = 0; i < n; i++) out[i] = rd_str(r);
  out[n] = NULL;
  return (int)n;
}

const uint8_t *rd_blob(struct reader *r, uint32_t *len) {
  *len = rd_u32(r);
  const uint8_t *b = r->p;
  if (r->bad || (size_t)(r->end - r->p) < *len) { r->bad = 1; *len = 0; return NULL; }
  r->p += *len;
  return b;
}

int plan_open(const uint8_t *buf, size_t len, const uint8_t **first_op) {
  if (len < 12 || memcmp(buf, PLAN_MAGIC, 4) != 0) return -1;
  uint32_t version, count;
  memcpy(&version, buf + 4, 4);
  memcpy(&count, buf + 8, 4);
  if (version != PLAN_VERSION) return -1;
  *first_op = buf + 12;
  return (int)count;
}

int plan_next(const uint8_t **cursor, const uint8_t *end, struct op *op) {
  const uint8_t *p = *cursor;
  uint32_t len;
  if (end - p < 8) return -1;
  memcpy(&op->code, p, 2);
  memcpy(&len, p + 4, 4);
  p += 8;
  if ((size_t)(end - p) < len) return -1;
  op->args.p = p;
  op->args.end = p + len;
  op->args.bad = 0;
  *cursor = p + len;
  return 0;
}

/* Skips one field of `type` ("u32", "str", ...) at *p; -1 when it runs past end. */
static int skip_field(const uint8_t **p, const uint8_t *end, const char *type, size_t tlen) {
  struct reader r = {*p, end, 0};
  if (tlen == 3 && !memcmp(type, "u32", 3)) (void)rd_u32(&r);
  else if (tlen == 3 && !memcmp(type, "u64", 3)) (void)rd_u64(&r);
  else if (tlen == 3 && !memcmp(type, "str", 3)) (void)rd_str(&r);
  else if (tlen == 4 && !memcmp(type, "blob", 4)) { uint32_t n; (void)rd_blob(&r, &n); }
  else if (tlen == 4 && !memcmp(type, "strs", 4)) {
    uint32_t n = rd_u32(&r);
    for (uint32_t i = 0; i < n && !r.bad; i++) (void)rd_str(&r);
  } else if (tlen == 4 && !memcmp(type, "u32s", 4)) {
    uint32_t n = rd_u32(&r);
    if (!r.bad && (size_t)(r.end - r.p) / 4 < n) r.bad = 1;
    else r.p += (size_t)n * 4;
  } else {
    return -1;
  }
  if (r.bad) return -1;
  *p = r.p;
  return 0;
}

int plan_check(const uint8_t *buf, size_t len, int *bad_op) {
  const uint8_t *cursor, *end = buf + len;
  int count = plan_open(buf, len, &cursor);
  if (count < 0) { *bad_op = -1; return -1; }
  for (int i = 0; i < count; i++) {
    struct op op;
    *bad_op = i;
    if (plan_next(&cursor, end, &op) < 0) return -1;
    const char *fields = op_fields(op.code);
    if (!fields) return -1;
    const uint8_t *p = op.args.p;
    for (const char *f = fields; *f;) {
      const char *sp = strchr(f, ' ');
      size_t n = sp ? (size_t)(sp - f) : strlen(f);
      if (skip_field(&p, op.args.end, f, n) < 0) return -1;
      f += n;
      while (*f == ' ') f++;
    }
    if (p != op.args.end) return -1; /* trailing bytes: the two sides disagree */
  }
  *bad_op = -1;
  return cursor == end ? count : -1;
}
