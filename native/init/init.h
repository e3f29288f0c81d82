/* Shared declarations of capsa-init's modules. */
#ifndef CAPSA_INIT_H
#define CAPSA_INIT_H

#include <stddef.h>
#include <stdint.h>
#include <unistd.h>
#include "protocol.h"

/* ---- plan.c: a cursor over one op's payload. No allocation. ---- */
struct reader {
  const uint8_t *p;
  const uint8_t *end;
  int bad; /* set when a field ran past the end */
};
uint32_t rd_u32(struct reader *r);
uint64_t rd_u64(struct reader *r);
const char *rd_str(struct reader *r);
/* Reads a string list into out[0..max-1] followed by NULL; returns count. */
int rd_strs(struct reader *r, const char **out, int max);
const uint8_t *rd_blob(struct reader *r, uint32_t *len);

struct op {
  uint16_t code;
  struct reader args;
};
/* Validates the header; returns op count or -1. */
int plan_open(const uint8_t *buf, size_t len, const uint8_t **first_op);
/* Decodes the op at *cursor and advances it; returns 0 or -1 on a bad op. */
int plan_next(const uint8_t **cursor, const uint8_t *end, struct op *op);
/* Checks every op's payload against op_fields() (protocol.h); returns the op
 * count, or -1 with *bad_op the index of the first bad op (-1: the header). */
int plan_check(const uint8_t *buf, size_t len, int *bad_op);

/* ---- sync.c: fixed-size messages over the sync socket. ---- */
extern int sync_fd;
extern int current_op;
extern int start_fd; /* exec fifo, write end, once `start` opened it */
int send_msg(uint32_t type, int32_t val, int32_t err, const char *detail);
/* Waits for MSG_ACK; returns 0, or -1 on ABORT/EOF. */
int wait_ack(void);
/* Scoped fds: `autoclose int fd = ...;` is closed when the scope ends (a
 * negative fd is left alone; die() never returns, so only normal exits run it). */
static inline void close_fdp(int *fd) {
  if (*fd >= 0) close(*fd);
}
#define autoclose __attribute__((cleanup(close_fdp)))

/* Reports an error for the current op and exits 1. Never returns. */
void die(int err, const char *fmt, ...) __attribute__((noreturn, format(printf, 2, 3)));
/* Like die, for a refusal: the detail is the whole message (ERR_REFUSED). */
void refuse(int err, const char *fmt, ...) __attribute__((noreturn, format(printf, 2, 3)));
void warn_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- mounts.c ---- */
extern int root_fd;     /* O_PATH fd of the container rootfs (before pivot) */
extern int host_proc_fd;/* O_PATH fd of the host's /proc, closed before exec */
void op_root_propagation(struct reader *r, int after_pivot);
void op_rootfs(struct reader *r);
void op_rootfs_tree(struct reader *r);
void op_rootfs_mount(struct reader *r);
void op_attach_rootfs(struct reader *r);
void close_mount_slots(void);
void op_mount(struct reader *r);
void op_mknod(struct reader *r);
void op_symlink(struct reader *r);
void op_mkdir(struct reader *r);
void op_mask(struct reader *r);
void op_readonly(struct reader *r);
void op_pivot_root(void);
void op_move_root(void);
void op_chroot(void);
void op_root_readonly(void);
void op_sysctl(struct reader *r);
int make_fs_mount(const char *fstype, const char *source, const char **data);
/* copyup.c */
void copy_tree(int src_dir, int dst_dir, int depth);

/* ---- creds.c ---- */
void op_cap_bounding(struct reader *r);
void op_creds(struct reader *r);
void op_seccomp(struct reader *r);
void op_rlimit(struct reader *r);
void op_resolve_exec(struct reader *r);
void op_exec(struct reader *r);
/* ---- console.c ---- */
void op_console(struct reader *r);
void op_open_state(struct reader *r);
void op_hook(struct reader *r);
void op_setns_pid(struct reader *r);
/* ---- procattr.c ---- */
void op_scheduler(struct reader *r);
void op_ioprio(struct reader *r);
void op_cpu_affinity(struct reader *r);
void op_mempolicy(struct reader *r);
/* ---- idmap.c ---- */
void op_idmap_tree(struct reader *r);
int idmap_take_tree(const char *source);
void idmap_close_userns(void);
int capsa_probe_idmap(void);
int capsa_probe_seccomp(void);
/* netdev.c */
void op_netdev_up(struct reader *r);
void op_netdev_check(struct reader *r);
/* selfclone.c, privproc.c */
int capsa_run_sealed(char **argv);
int capsa_private_procfs(void);
#endif
