/*
 * Process attributes the runtime-spec sets on the container's process:
 * scheduling policy (sched_setattr), I/O priority (ioprio_set), CPU affinity
 * (sched_setaffinity) and the NUMA memory policy (set_mempolicy). Every value
 * was checked and encoded by TypeScript; failures report the errno.
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "init.h"

struct capsa_sched_attr {
  uint32_t size;
  uint32_t sched_policy;
  uint64_t sched_flags;
  int32_t sched_nice;
  uint32_t sched_priority;
  uint64_t sched_runtime;
  uint64_t sched_deadline;
  uint64_t sched_period;
  uint32_t sched_util_min;
  uint32_t sched_util_max;
};

static const char *policy_name(uint32_t p) {
  static const char *const names[] = {"SCHED_OTHER", "SCHED_FIFO", "SCHED_RR", "SCHED_BATCH", "SCHED_ISO", "SCHED_IDLE", "SCHED_DEADLINE"};
  return p < sizeof names / sizeof names[0] ? names[p] : "policy";
}

void op_scheduler(struct reader *r) {
  struct capsa_sched_attr a;
  memset(&a, 0, sizeof a);
  a.size = sizeof a;
  a.sched_policy = rd_u32(r);
  a.sched_nice = (int32_t)rd_u32(r);
  a.sched_priority = rd_u32(r);
  a.sched_flags = rd_u64(r);
  a.sched_runtime = rd_u64(r);
  a.sched_deadline = rd_u64(r);
  a.sched_period = rd_u64(r);
  if (r->bad) die(EINVAL, "malformed scheduler op");
  if (syscall(SYS_sched_setattr, 0, &a, 0) < 0) die(errno, "sched_setattr %s", policy_name(a.sched_policy));
}

void op_ioprio(struct reader *r) {
  uint32_t value = rd_u32(r);
  if (r->bad) die(EINVAL, "malformed ioprio op");
  /* IOPRIO_WHO_PROCESS, this process (runc does the same). */
  if (syscall(SYS_ioprio_set, 1, 0, (int)value) < 0) die(errno, "ioprio_set class %u level %u", value >> 13, value & 0x1fff);
}

/* Mask bytes in cpu_set_t order; an empty mask means every CPU (the kernel
 * keeps those this process's cpuset allows). */
void op_cpu_affinity(struct reader *r) {
  uint32_t len;
  const uint8_t *mask = rd_blob(r, &len);
  uint32_t report = rd_u32(r);
  if (r->bad) die(EINVAL, "malformed cpu affinity op");
  cpu_set_t set;
  if (len == 0) {
    memset(&set, 0xff, sizeof set);
  } else {
    if (len > sizeof set) die(EINVAL, "cpu mask of %u bytes is larger than %zu", len, sizeof set);
    memset(&set, 0, sizeof set);
    memcpy(&set, mask, len);
  }
  if (sched_setaffinity(0, sizeof set, &set) < 0) die(errno, "sched_setaffinity");
  if (!report) return;
  /* Say what the kernel made of it (runc's debug log does the same). */
  cpu_set_t now;
  if (sched_getaffinity(0, sizeof now, &now) < 0) die(errno, "sched_getaffinity");
  char line[MSG_DETAIL_LEN];
  size_t n = (size_t)snprintf(line, sizeof line, "capsa-init: affinity:");
  for (int cpu = 0; cpu < CPU_SETSIZE && n + 8 < sizeof line; cpu++)
    if (CPU_ISSET(cpu, &now)) n += (size_t)snprintf(line + n, sizeof line - n, " %d", cpu);
  send_msg(MSG_DEBUG, 0, 0, line);
}

/* Up to 1024 NUMA nodes, as a bit mask of unsigned longs. */
#define MAX_NODES 1024
void op_mempolicy(struct reader *r) {
  uint32_t mode = rd_u32(r);
  uint32_t count = rd_u32(r);
  unsigned long mask[MAX_NODES / (8 * sizeof(unsigned long))];
  memset(mask, 0, sizeof mask);
  for (uint32_t i = 0; i < count && !r->bad; i++) {
    uint32_t node = rd_u32(r);
    if (node >= MAX_NODES) die(EINVAL, "NUMA node %u is out of range", node);
    mask[node / (8 * sizeof(unsigned long))] |= 1UL << (node % (8 * sizeof(unsigned long)));
  }
  if (r->bad) die(EINVAL, "malformed memory policy op");
  /* maxnode counts one past the bits the kernel reads. */
  if (syscall(SYS_set_mempolicy, (int)mode, count ? mask : NULL, count ? (unsigned long)MAX_NODES + 1 : 0UL) < 0)
    die(errno, "set_mempolicy");
}
