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
