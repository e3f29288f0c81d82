/*
 * Mount ops. Every destination inside the rootfs is resolved with
 * openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS), and every mount is attached
 * with the fd-based mount API (open_tree/fsopen/fsmount + move_mount onto the
 * resolved fd), so a symlink in the rootfs can never redirect a mount to the
 * host (CVE-2021-30465 class) and there is no path race between check and use.
 * No allocation: paths live on the stack or in the plan buffer.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include "init.h"

int root_fd = -1;
int host_proc_fd = -1;

/* The rootfs as a detached mount tree, made by P before any user namespace
 * (OP_ROOTFS_TREE) and attached by C (OP_ATTACH_ROOTFS). */
static int rootfs_tree = -1;

/* Mounts that masked and read-only paths are resolved beneath: slot N holds
 * fd+1 of the mount made by the op that named slot N (0: empty). The kernel's
 * filesystem itself is the base, never a path re-resolved later, so nothing
 * the image or a later mount does can make a mask miss its target. */
#define MOUNT_SLOTS 32
static int mount_slot[MOUNT_SLOTS + 1];

void close_mount_slots(void) {
  for (int i = 1; i <= MOUNT_SLOTS; i++) {
    if (mount_slot[i]) close(mount_slot[i] - 1);
    mount_slot[i] = 0;
  }
}

enum { CREATE_NONE = 0, CREATE_DIR = 1, CREATE_FILE = 2 };
enum { KIND_FS = 0, KIND_BIND = 1, KIND_SETATTR = 2, KIND_IDMAPPED = 3 };
enum { REC_BIND = 1, REC_ATTR = 2 };

static int openat2_in(int dirfd, const char *path, int flags, uint64_t resolve) {
  struct open_how how;
  memset(&how, 0, sizeof how);
  how.flags = (uint64_t)flags | O_CLOEXEC;
  how.resolve = resolve;
  int fd;
  do {
    fd = (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
  } while (fd < 0 && errno == EAGAIN);
  return fd;
}

/* Appends `s` to out (of capacity PATH_MAX) at *len; ENAMETOOLONG when full. */
static int path_append(char *out, size_t *len, const char *s, size_t n) {
  if (*len + n >= PATH_MAX) { errno = ENAMETOOLONG; return -1; }
  memcpy(out + *len, s, n);
  *len += n;
  out[*len] = '\0';
  return 0;
}

/* Makes `name` in dir pfd: an empty file (0644) or a directory. 0 or -1/errno. */
static int make_entry(int pfd, const char *name, int as_file, mode_t mode) {
  if (!as_file) return mkdirat(pfd, name, mode);
  int fd = openat(pfd, name, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) return -1;
  close(fd);
  return 0;
}

/* The common case of a missing destination: its parent exists and only the
 * last component is missing. Creates it in the parent and opens what it made
 * (no symlinks allowed: it must be the new entry). Returns the fd, -1/errno
 * on a real failure, or -2 when the general walk below must decide (no
 * parent, a name that exists but does not resolve, an odd last component). */
static int create_last_component(int rootfd, const char *path, int create, mode_t mode) {
  char parent[PATH_MAX];
  size_t len = strlen(path);
  if (len >= sizeof parent) return -2;
  memcpy(parent, path, len + 1);
  char *slash = strrchr(parent, '/');
  const char *name = slash ? slash + 1 : parent;
  if (*name == '\0' || strcmp(name, ".") == 0 || strcmp(name, "..") == 0) return -2;
  int pfd;
  if (slash) {
    *slash = '\0';
    pfd = openat2_in(rootfd, *parent ? parent : "/", O_PATH | O_DIRECTORY, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
    if (pfd < 0) return -2;
  } else {
    pfd = rootfd;
  }
  int rc = make_entry(pfd, name, create == CREATE_FILE, mode);
  int fd = -2;
  if (rc == 0) {
    fd = openat2_in(pfd, name, O_PATH, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
  } else if (errno != EEXIST) {
    fd = -1;
  }
  int saved = errno;
  if (pfd != rootfd) close(pfd);
  errno = saved;
  return fd;
}

/* Resolve `path` inside the rootfs, creating missing directories (and the last
 * component as dir or file when asked). A dangling symlink on the way is
 * followed the way runc does: its target is created, resolved inside the
 * rootfs like everything else (an image's /etc/resolv.conf ->
 * ../run/systemd/resolve/stub-resolv.conf, say). Returns an O_PATH fd or
 * -1/errno. */
static int open_in_root(int rootfd, const char *path, int create, mode_t mode) {
  const uint64_t res = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  int fd = openat2_in(rootfd, path, O_PATH, res);
  if (fd >= 0 || errno != ENOENT || create == CREATE_NONE) return fd;
  fd = create_last_component(rootfd, path, create, mode);
  if (fd != -2) return fd;

  char buf[PATH_MAX];
  char link[PATH_MAX];
  size_t len = strlen(path);
  if (len >= sizeof buf) { errno = ENAMETOOLONG; return -1; }
  memcpy(buf, path, len + 1);
  int hops = 0;
restart:
  /* Walk prefixes; each is resolved from the root so symlinks stay inside. */
  for (char *p = buf; ; ) {
    while (*p == '/') p++;
    if (*p == '\0') break;
    char *slash = strchr(p, '/');
    int last = 1;
    if (slash) {
      char *q = slash;
      while (*q == '/') q++;
      last = (*q == '\0');
      *slash = '\0';
    }
    int cfd = openat2_in(rootfd, buf, O_PATH, res);
    if (cfd < 0 && errno == ENOENT) {
      /* Create the component in its (already resolved) parent. */
      char *base = strrchr(buf, '/');
      const char *name = base ? base + 1 : buf;
      int pfd;
      if (base && base != buf) {
        *base = '\0';
        pfd = openat2_in(rootfd, buf, O_PATH | O_DIRECTORY, res);
        *base = '/';
      } else {
        pfd = dup(rootfd);
      }
      if (pfd < 0) return -1;
      int rc = make_entry(pfd, name, last && create == CREATE_FILE, last ? mode : 0755);
      int saved = errno;
      ssize_t n = rc < 0 && saved == EEXIST ? readlinkat(pfd, name, link, sizeof link - 1) : -1;
      close(pfd);
      if (n >= 0) {
        /* The name exists but does not resolve: a dangling symlink. Go on
         * from its target: (parent/)target(/rest of the path). */
        if (++hops > 40) { errno = ELOOP; return -1; }
        link[n] = '\0';
        char next[PATH_MAX];
        size_t nlen = 0;
        next[0] = '\0';
        if (link[0] != '/' && base && base != buf && path_append(next, &nlen, buf, (size_t)(base - buf)) < 0) return -1;
        if (path_append(next, &nlen, "/", 1) < 0 || path_append(next, &nlen, link, (size_t)n) < 0) return -1;
        if (!last) {
          const char *rest = slash + 1;
          if (path_append(next, &nlen, "/", 1) < 0 || path_append(next, &nlen, rest, strlen(rest)) < 0) return -1;
        }
        memcpy(buf, next, nlen + 1);
        goto restart;
      }
      if (rc < 0 && saved != EEXIST) { errno = saved; return -1; }
      cfd = openat2_in(rootfd, buf, O_PATH, res);
    }
    if (cfd < 0) return -1;
    if (last) return cfd;
    close(cfd);
    *slash = '/';
    p = slash + 1;
  }
  return openat2_in(rootfd, buf, O_PATH, res);
}

/* A special filesystem's destination (procfs, sysfs, ...): a directory
 * reached from the rootfs without following any symlink, created as
 * needed. An image cannot redirect such a mount: a destination that is or
 * passes through a symlink is refused (runc: "must be mounted on ordinary
 * directory"). Returns an O_PATH fd; dies on refusal. */
static int open_dir_no_symlinks(int rootfd, const char *path, const char *fstype) {
  const uint64_t strict = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  char buf[PATH_MAX];
  size_t len = strlen(path);
  if (len >= sizeof buf) die(ENAMETOOLONG, "mount destination %s", path);
  memcpy(buf, path, len + 1);
  int dfd = openat(rootfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) die(errno, "open rootfs");
  for (char *save = NULL, *name = strtok_r(buf, "/", &save); name; name = strtok_r(NULL, "/", &save)) {
    if (strcmp(name, ".") == 0) continue;
    if (strcmp(name, "..") == 0) refuse(EINVAL, "refusing: mount destination %s has a \"..\" component", path);
    int next = openat2_in(dfd, name, O_PATH | O_DIRECTORY, strict);
    if (next < 0 && errno == ENOENT) {
      if (mkdirat(dfd, name, 0755) < 0 && errno != EEXIST) die(errno, "create mount destination %s", path);
      next = openat2_in(dfd, name, O_PATH | O_DIRECTORY, strict);
    }
    if (next < 0) {
      if (errno == ELOOP || errno == ENOTDIR || errno == EXDEV)
        refuse(errno, "refusing: filesystem \"%s\" must be mounted on an ordinary directory, and %s is or passes through a symlink or non-directory", fstype, path);
      die(errno, "resolve mount destination %s in rootfs", path);
    }
    close(dfd);
    dfd = next;
  }
  return dfd;
}

void op_root_propagation(struct reader *r, int after_pivot) {
  uint32_t flags = rd_u32(r);
  if (mount(NULL, "/", NULL, flags, NULL) < 0)
    die(errno, after_pivot ? "set propagation of / after pivot_root" : "set propagation of /");
}

static int statx_of(int fd, struct statx *stx) {
  if (statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_INO | STATX_MNT_ID, stx) < 0) return -1;
  if (!(stx->stx_mask & STATX_MNT_ID)) { errno = ENOSYS; return -1; }
  return 0;
}

/* An O_PATH fd of the root of the mount that holds fd: walk up with ".."
 * until the mount id changes (".." of a mount root leaves the mount) or the
 * walk stops at "/". Returns the fd (the caller closes it) or -1/errno. */
static int open_mount_root(int fd, uint64_t *mnt_id) {
  struct statx cur, up;
  int curfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (curfd < 0 || statx_of(curfd, &cur) < 0) return -1;
  *mnt_id = cur.stx_mnt_id;
  for (int depth = 0; depth < PATH_MAX; depth++) {
    int upfd = openat(curfd, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (upfd < 0 || statx_of(upfd, &up) < 0) { int e = errno; close(curfd); errno = e; return -1; }
    int same_dir = up.stx_ino == cur.stx_ino && up.stx_dev_major == cur.stx_dev_major && up.stx_dev_minor == cur.stx_dev_minor;
    if (up.stx_mnt_id != *mnt_id || same_dir) { close(upfd); return curfd; }
    close(curfd);
    curfd = upfd;
    cur = up;
  }
  close(curfd);
  errno = ELOOP;
  return -1;
}

/* Whether one line of mountinfo is mount `id` (-1 when it is another), and
 * then whether it is shared: a "shared:N" tag among the optional fields,
 * which end at the " - " separator (spaces in paths are escaped as \040). */
static int line_shared(const char *line, uint64_t id) {
  char *end;
  unsigned long long n = strtoull(line, &end, 10);
  if (end == line || *end != ' ' || n != id) return -1;
  const char *sep = strstr(line, " - ");
  const char *tag = strstr(line, " shared:");
  return tag && (!sep || tag < sep);
}

/* 1 when the mount with this id is shared, 0 when not, -1/errno when it is
 * not in this process's mountinfo. Streams the file through a static buffer
 * (no allocation); of a line longer than the buffer only its head, which
 * holds every field up to the optional ones, is looked at. */
static int mount_is_shared(uint64_t id) {
  static char buf[65536];
  int fd = openat(host_proc_fd, "self/mountinfo", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  size_t have = 0;
  int skip_rest_of_line = 0, result = -1;
  for (;;) {
    ssize_t n = read(fd, buf + have, sizeof buf - 1 - have);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) { result = -2; break; }
    have += (size_t)n;
    char *start = buf, *nl;
    while ((nl = memchr(start, '\n', (size_t)(buf + have - start))) != NULL) {
      *nl = '\0';
      int r = skip_rest_of_line ? -1 : line_shared(start, id);
      skip_rest_of_line = 0;
      if (r >= 0) { result = r; goto done; }
      start = nl + 1;
    }
    size_t rest = (size_t)(buf + have - start);
    if (n == 0 || rest == sizeof buf - 1) {
      buf[have] = '\0';
      int r = rest && !skip_rest_of_line ? line_shared(start, id) : -1;
      if (r >= 0) { result = r; break; }
      if (n == 0) break;
      skip_rest_of_line = 1;
      rest = 0;
    }
    memmove(buf, start, rest);
    have = rest;
  }
done:;
  int e = result == -2 ? errno : ENOENT;
  close(fd);
  if (result < 0) { errno = e; return -1; }
  return result;
}

/* When the mount holding dirfd is shared, give it `prop` (private, or slave
 * for a slave rootfs), as runc does with the rootfs's parent mount: attaching
 * or binding the rootfs there must not propagate to the host's peers, and
 * pivot_root refuses a new root whose parent mount is shared. */
static void stop_outward_propagation(int dirfd, uint32_t prop, const char *path) {
  /* Whether it is shared first, from the dir's own mount id: the walk up to
   * the mount's root below needs search permission on every directory on the
   * way, which a user namespace's root may lack (a bundle under a 0700 dir),
   * and "/" was made a slave already unless the config asked for shared. */
  struct statx st;
  if (statx_of(dirfd, &st) < 0) die(errno, "stat rootfs %s", path);
  int shared = mount_is_shared(st.stx_mnt_id);
  if (shared < 0) die(errno, "read the propagation of the mount holding rootfs %s", path);
  if (!shared || !prop) return;
  uint64_t id;
  int mfd = open_mount_root(dirfd, &id);
  if (mfd < 0) die(errno, "find the mount holding rootfs %s", path);
  struct mount_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.propagation = prop;
  if (mount_setattr(mfd, "", AT_EMPTY_PATH, &attr, sizeof attr) < 0)
    die(errno, "stop the mount holding rootfs %s from propagating", path);
  close(mfd);
}

/* A joined mount namespace, or none of our own. str host path, u32 bind (0:
 * no mount namespace of our own: just remember the dir), u32 propagation for
 * the mount holding it when that one is shared (see above). */
void op_rootfs(struct reader *r) {
  const char *path = rd_str(r);
  uint32_t bind = rd_u32(r), shared_parent = rd_u32(r);
  if (r->bad) die(EINVAL, "malformed rootfs op");
  if (bind) {
    int dirfd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0) die(errno, "open rootfs %s", path);
    stop_outward_propagation(dirfd, shared_parent, path);
    close(dirfd);
    /* Bind the rootfs onto itself so it is a mount point pivot_root accepts. */
    if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) < 0) die(errno, "bind rootfs %s", path);
  }
  root_fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root_fd < 0) die(errno, "open rootfs %s", path);
}

/* In P, before any user namespace exists: the rootfs as a detached copy of
 * its mount tree, opened with the host's credentials (so the bundle may sit
 * under a 0700 directory), with its propagation set as "/" will be and the
 * given flags cleared (an image overlay is mounted nosuid,nodev on the host;
 * the container's own root is not). P's cwd becomes the rootfs: the clone's
 * new mount namespace carries it over, and C attaches the tree there. */
void op_rootfs_tree(struct reader *r) {
  const char *path = rd_str(r);
  uint32_t prop = rd_u32(r), recursive = rd_u32(r);
  uint64_t clr = rd_u64(r);
  if (r->bad) die(EINVAL, "malformed rootfs op");
  rootfs_tree = open_tree(AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
  if (rootfs_tree < 0) die(errno, "open rootfs %s", path);
  struct mount_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.propagation = prop;
  if (prop && mount_setattr(rootfs_tree, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &attr, sizeof attr) < 0)
    die(errno, "set propagation of rootfs %s", path);
  /* Flags: the top mount only (what capsa mounted), never mounts below it. */
  memset(&attr, 0, sizeof attr);
  attr.attr_clr = clr;
  if (clr && mount_setattr(rootfs_tree, "", AT_EMPTY_PATH, &attr, sizeof attr) < 0)
    die(errno, "clear flags of rootfs %s", path);
  if (chdir(path) < 0) die(errno, "chdir to rootfs %s", path);
}

/* In C, in its own mount namespace: the tree goes on top of the rootfs
 * directory (the cwd P left us) and becomes the root pivot_root moves to. */
void op_attach_rootfs(struct reader *r) {
  uint32_t shared_parent = rd_u32(r);
  if (r->bad) die(EINVAL, "malformed attach rootfs op");
  if (rootfs_tree < 0) die(EBADF, "no rootfs tree to attach");
  int here = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (here < 0) die(errno, "open the rootfs directory");
  stop_outward_propagation(here, shared_parent, "(cwd)");
  close(here);
  if (move_mount(rootfs_tree, "", AT_FDCWD, ".", MOVE_MOUNT_F_EMPTY_PATH) < 0) die(errno, "attach rootfs");
  root_fd = rootfs_tree;
  rootfs_tree = -1;
}

/* In P, before any user namespace: the container's root as a new filesystem
 * (a snapshot's overlay, from the lower/upper/work dirs containerd gives) or
 * a bind of a directory, built detached and never attached on the host: it
 * exists only in the container's mount namespace and goes with it. P's cwd
 * becomes the attach dir, as for OP_ROOTFS_TREE. */
void op_rootfs_mount(struct reader *r) {
  const char *data[256];
  const char *fstype = rd_str(r);
  const char *source = rd_str(r);
  rd_strs(r, data, 256);
  uint64_t set = rd_u64(r);
  uint32_t prop = rd_u32(r), recursive = rd_u32(r);
  const char *cwd = rd_str(r);
  const char *at = rd_str(r);
  if (r->bad) die(EINVAL, "malformed rootfs mount op");
  /* Relative lowerdirs (kept under fsconfig's 256-byte value limit) resolve from here. */
  if (*cwd && chdir(cwd) < 0) die(errno, "chdir to %s", cwd);
  if (strcmp(fstype, "bind") == 0) {
    rootfs_tree = open_tree(AT_FDCWD, source, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
    if (rootfs_tree < 0) die(errno, "open rootfs %s", source);
  } else {
    rootfs_tree = make_fs_mount(fstype, source, data);
  }
  struct mount_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.attr_set = set;
  attr.propagation = prop;
  if ((set || prop) && mount_setattr(rootfs_tree, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &attr, sizeof attr) < 0)
    die(errno, "set flags of the rootfs %s mount", fstype);
  if (chdir(at) < 0) die(errno, "chdir to rootfs %s", at);
}

/* Configure an fs context from "key=value" / "flag" strings. */
static void fs_configure(int fsfd, const char **data, const char *source) {
  char kv[1024];
  if (source && *source && fsconfig(fsfd, FSCONFIG_SET_STRING, "source", source, 0) < 0)
    die(errno, "fsconfig source=%s", source);
  for (int i = 0; data[i]; i++) {
    const char *eq = strchr(data[i], '=');
    if (!eq) {
      if (fsconfig(fsfd, FSCONFIG_SET_FLAG, data[i], NULL, 0) < 0) die(errno, "fsconfig %s", data[i]);
      continue;
    }
    size_t klen = (size_t)(eq - data[i]);
    if (klen >= sizeof kv) die(EINVAL, "mount option too long");
    memcpy(kv, data[i], klen);
    kv[klen] = '\0';
    if (fsconfig(fsfd, FSCONFIG_SET_STRING, kv, eq + 1, 0) < 0) die(errno, "fsconfig %s", data[i]);
  }
}

int make_fs_mount(const char *fstype, const char *source, const char **data) {
  int fsfd = fsopen(fstype, FSOPEN_CLOEXEC);
  if (fsfd < 0) die(errno, "fsopen %s", fstype);
  fs_configure(fsfd, data, source);
  if (fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) die(errno, "create %s filesystem", fstype);
  int mfd = fsmount(fsfd, FSMOUNT_CLOEXEC, 0);
  if (mfd < 0) die(errno, "fsmount %s", fstype);
  close(fsfd);
  return mfd;
}

static int try_bind_tree(const char *source, int recursive) {
  return open_tree(AT_FDCWD, source, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (recursive ? AT_RECURSIVE : 0));
}

/* Apply flags and propagation to a detached tree, then attach it at target. */
static void attach(int mfd, int targetfd, uint64_t set, uint64_t clr, uint32_t prop, int recursive, const char *dest) {
  struct mount_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.attr_set = set;
  attr.attr_clr = clr;
  attr.propagation = prop;
  /* Changing atime mode needs the whole MOUNT_ATTR__ATIME field cleared. */
  if (set & MOUNT_ATTR__ATIME) attr.attr_clr |= MOUNT_ATTR__ATIME;
  if ((set || attr.attr_clr || prop) &&
      mount_setattr(mfd, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &attr, sizeof attr) < 0)
    die(errno, "set mount flags on %s", dest);
  if (move_mount(mfd, "", targetfd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
    die(errno, "attach mount at %s", dest);
  /* Propagation of a detached tree is not kept by every kernel path (shared
   * in particular): set it again now that the mount is attached. */
  if (prop) {
    struct mount_attr p;
    memset(&p, 0, sizeof p);
    p.propagation = prop;
    if (mount_setattr(mfd, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &p, sizeof p) < 0)
      die(errno, "set propagation of %s", dest);
  }
}

/* Nothing but procfs itself, or binds over the files lxcfs provides, may be
 * mounted inside /proc (CVE-2019-16884/19921: hiding /proc/self/attr). */
static void refuse_mount_on_proc(int targetfd, uint32_t kind, const char *fstype, const char *dest) {
  static const char *const lxcfs[] = {"/proc/cpuinfo", "/proc/diskstats", "/proc/meminfo", "/proc/stat", "/proc/swaps",
                                      "/proc/uptime", "/proc/loadavg", "/proc/slabinfo", "/proc/net/dev",
                                      "/proc/sys/kernel/ns_last_pid", NULL};
  if (kind == KIND_SETATTR) return;
  struct statfs sf;
  if (fstatfs(targetfd, &sf) < 0) die(errno, "statfs mount destination %s", dest);
  if (sf.f_type != PROC_SUPER_MAGIC || (kind == KIND_FS && strcmp(fstype, "proc") == 0)) return;
  for (int i = 0; kind == KIND_BIND && lxcfs[i]; i++)
    if (strcmp(dest, lxcfs[i]) == 0) return;
  die(EPERM, "%s is inside /proc: only procfs and the files lxcfs provides may be mounted there", dest);
}

void op_mount(struct reader *r) {
  const char *data[64];
  uint32_t kind = rd_u32(r);
  const char *source = rd_str(r);
  const char *dest = rd_str(r);
  const char *fstype = rd_str(r);
  uint64_t set = rd_u64(r), clr = rd_u64(r);
  uint32_t prop = rd_u32(r), create = rd_u32(r), recursive = rd_u32(r);
  rd_strs(r, data, 64);
  const char *fallback = rd_str(r);
  uint32_t copy_up = rd_u32(r);
  uint32_t slot = rd_u32(r), no_symlinks = rd_u32(r);
  if (r->bad || slot > MOUNT_SLOTS) die(EINVAL, "malformed mount op");

  int targetfd = no_symlinks ? open_dir_no_symlinks(root_fd, dest, *fstype ? fstype : "bind")
                             : open_in_root(root_fd, dest, (int)create, 0755);
  if (targetfd < 0) die(errno, "resolve mount destination %s in rootfs", dest);
  refuse_mount_on_proc(targetfd, kind, fstype, dest);

  int rec_attr = (recursive & REC_ATTR) != 0;
  if (kind == KIND_SETATTR) {
    /* Change flags of the mount already at dest (e.g. make a tmpfs read-only
     * after the mounts below it were made). */
    struct mount_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.attr_set = set;
    attr.attr_clr = clr | ((set & MOUNT_ATTR__ATIME) ? MOUNT_ATTR__ATIME : 0);
    attr.propagation = prop;
    if (mount_setattr(targetfd, "", AT_EMPTY_PATH | (rec_attr ? AT_RECURSIVE : 0), &attr, sizeof attr) < 0)
      die(errno, "set mount flags on %s", dest);
    close(targetfd);
    return;
  }
  int mfd;
  if (kind == KIND_IDMAPPED) {
    /* Made and idmapped by P in the host's namespaces (idmap.c). */
    mfd = idmap_take_tree(source);
  } else if (kind == KIND_BIND) {
    mfd = try_bind_tree(source, (recursive & REC_BIND) != 0);
    if (mfd < 0) die(errno, "bind source %s", source);
  } else if (*fallback) {
    /* sysfs in a user namespace without its own netns is refused: bind the
     * host's instead, as runc does. */
    /* The refusal comes from fsopen itself (a user namespace that does not
     * own the network namespace) or from creating the superblock. */
    int fsfd = fsopen(fstype, FSOPEN_CLOEXEC);
    if (fsfd < 0 && errno != EPERM && errno != EACCES) die(errno, "fsopen %s", fstype);
    if (fsfd >= 0) fs_configure(fsfd, data, source);
    if (fsfd < 0 || fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) {
      if (errno != EPERM && errno != EACCES) die(errno, "create %s filesystem", fstype);
      if (fsfd >= 0) close(fsfd);
      mfd = try_bind_tree(fallback, 1);
      if (mfd < 0) die(errno, "bind %s as fallback", fallback);
      rec_attr = 1;
    } else {
      mfd = fsmount(fsfd, FSMOUNT_CLOEXEC, 0);
      if (mfd < 0) die(errno, "fsmount %s", fstype);
      close(fsfd);
    }
  } else {
    mfd = make_fs_mount(fstype, source, data);
  }
  if (copy_up) {
    /* The new filesystem is still detached: fill it from what lies below. */
    int src = openat(targetfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int dst = openat(mfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (src < 0 || dst < 0) die(errno, "tmpcopyup: open %s", dest);
    copy_tree(src, dst, 0);
    close(src);
    close(dst);
  }
  attach(mfd, targetfd, set, clr, prop, rec_attr, dest);
  if (slot) {
    if (mount_slot[slot]) close(mount_slot[slot] - 1);
    mount_slot[slot] = mfd + 1;
  } else {
    close(mfd);
  }
  close(targetfd);
}

/* The directory that will hold `path`'s last component, resolved in the
 * rootfs (missing directories created), as an O_PATH fd closed when the
 * caller's scope ends; *name points at that component inside buf. */
static int open_parent_in_root(const char *path, const char *what, char (*buf)[PATH_MAX], const char **name) {
  size_t len = strlen(path);
  if (len >= sizeof *buf) die(ENAMETOOLONG, "%s %s", what, path);
  memcpy(*buf, path, len + 1);
  char *base = strrchr(*buf, '/');
  *name = base ? base + 1 : *buf;
  if (base) *base = '\0';
  autoclose int pfd = open_in_root(root_fd, **buf ? *buf : "/", CREATE_DIR, 0755);
  if (pfd < 0) die(errno, "resolve parent of %s %s", what, path);
  int dfd = openat(pfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) die(errno, "open parent of %s %s", what, path);
  return dfd;
}

void op_mknod(struct reader *r) {
  const char *dest = rd_str(r);
  uint32_t mode = rd_u32(r), maj = rd_u32(r), min = rd_u32(r), uid = rd_u32(r), gid = rd_u32(r);
  char buf[PATH_MAX];
  const char *name;
  autoclose int dfd = open_parent_in_root(dest, "device", &buf, &name);
  /* Replace whatever is there (the image may ship a regular file). */
  if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT) die(errno, "remove existing %s", dest);
  if (mknodat(dfd, name, mode, makedev(maj, min)) < 0) die(errno, "mknod %s", dest);
  if (fchownat(dfd, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0) die(errno, "chown %s", dest);
  /* mknod applies the umask; set the exact mode asked for. */
  if (fchmodat(dfd, name, mode & 07777, 0) < 0) die(errno, "chmod %s", dest);
}

void op_symlink(struct reader *r) {
  const char *target = rd_str(r);
  const char *link = rd_str(r);
  char buf[PATH_MAX];
  const char *name;
  autoclose int dfd = open_parent_in_root(link, "symlink", &buf, &name);
  if (symlinkat(target, dfd, name) < 0 && errno != EEXIST) die(errno, "symlink %s -> %s", link, target);
}

void op_mkdir(struct reader *r) {
  const char *path = rd_str(r);
  uint32_t mode = rd_u32(r);
  autoclose int fd = open_in_root(root_fd, path, CREATE_DIR, mode);
  if (fd < 0) die(errno, "mkdir %s", path);
}

/*
 * What a masked or read-only path names. Beneath the filesystem mounted for
 * it when the plan names one (its slot: /proc/kcore beneath the procfs made
 * for /proc, never by re-resolving "/proc"), the parent without crossing into
 * another mount; otherwise in the container's root after pivot_root.
 * Returns an O_PATH fd, or -1 with errno ENOENT when there is nothing to
 * cover. A parent outside any slot that does not resolve fails closed: the
 * path could not be checked, so the container does not start.
 */
static int open_protected(const char *path, uint32_t slot, const char *rel, const char *what) {
  char parent[PATH_MAX];
  if (slot) {
    if (slot > MOUNT_SLOTS || !mount_slot[slot]) die(EINVAL, "%s %s: no filesystem in slot %u", what, path, slot);
    int base = mount_slot[slot] - 1;
    if (!*rel) return openat(base, ".", O_PATH | O_CLOEXEC);
    size_t len = strlen(rel);
    if (len >= sizeof parent) die(ENAMETOOLONG, "%s %s", what, path);
    memcpy(parent, rel, len + 1);
    char *slash = strrchr(parent, '/');
    const char *name = slash ? slash + 1 : parent;
    int pfd;
    if (slash) {
      *slash = '\0';
      pfd = openat2_in(base, parent, O_PATH | O_DIRECTORY, RESOLVE_BENEATH | RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS);
    } else {
      pfd = openat(base, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    }
    if (pfd < 0) {
      if (errno == ENOENT) return -1; /* the kernel has no such directory */
      die(errno, "open the parent of %s %s", what, path);
    }
    /* The last component may be a mount of its own (an lxcfs file): cover it. */
    int fd = openat2_in(pfd, name, O_PATH, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS);
    int saved = errno;
    close(pfd);
    if (fd < 0 && saved != ENOENT) die(saved, "open %s %s", what, path);
    errno = saved;
    return fd;
  }
  int fd = openat2_in(AT_FDCWD, path, O_PATH, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
  if (fd >= 0) return fd;
  if (errno != ENOENT) die(errno, "open %s %s", what, path);
  size_t len = strlen(path);
  if (len >= sizeof parent) die(ENAMETOOLONG, "%s %s", what, path);
  memcpy(parent, path, len + 1);
  char *slash = strrchr(parent, '/');
  if (slash && slash != parent) *slash = '\0';
  else strcpy(parent, "/");
  int pfd = openat2_in(AT_FDCWD, parent, O_PATH | O_DIRECTORY, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
  if (pfd < 0) refuse(errno, "refusing: the parent of %s %s does not resolve, so it cannot be covered", what, path);
  close(pfd);
  errno = ENOENT;
  return -1;
}

void op_mask(struct reader *r) {
  const char *path = rd_str(r);
  uint32_t slot = rd_u32(r);
  const char *rel = rd_str(r);
  if (r->bad) die(EINVAL, "malformed mask op");
  int fd = open_protected(path, slot, rel, "masked path");
  if (fd < 0) return;
  struct stat st;
  if (fstat(fd, &st) < 0) die(errno, "stat masked path %s", path);
  int mfd;
  if (S_ISDIR(st.st_mode)) {
    const char *data[] = {"size=0", "mode=0755", NULL};
    mfd = make_fs_mount("tmpfs", "tmpfs", data);
    attach(mfd, fd, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC, 0, 0, 0, path);
  } else {
    /* Only the real null device may be used to mask (CVE-2025-31133). */
    mfd = open_tree(AT_FDCWD, "/dev/null", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
    if (mfd < 0) die(errno, "open /dev/null to mask %s", path);
    struct stat ns;
    if (fstat(mfd, &ns) < 0 || !S_ISCHR(ns.st_mode) || major(ns.st_rdev) != 1 || minor(ns.st_rdev) != 3)
      refuse(EINVAL, "/dev/null is not the null device; refusing to mask %s", path);
    attach(mfd, fd, 0, 0, 0, 0, path);
  }
  close(mfd);
  close(fd);
}

void op_readonly(struct reader *r) {
  const char *path = rd_str(r);
  uint32_t slot = rd_u32(r);
  const char *rel = rd_str(r);
  if (r->bad) die(EINVAL, "malformed read-only path op");
  int fd = open_protected(path, slot, rel, "read-only path");
  if (fd < 0) return;
  int mfd = open_tree(fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE | AT_EMPTY_PATH);
  if (mfd < 0) die(errno, "bind read-only path %s", path);
  /* Read-only is what the config asks (config-linux.md readonlyPaths): the
   * other flags of what is there stay as they were (runc's remount does the
   * same); noexec here would stop binaries under a read-only /usr, say. */
  attach(mfd, fd, MOUNT_ATTR_RDONLY, 0, 0, 1, path);
  close(mfd);
  close(fd);
}

void op_pivot_root(void) {
  int old_root = open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  if (old_root < 0) die(errno, "open old root");
  if (fchdir(root_fd) < 0) die(errno, "chdir to rootfs");
  if (syscall(SYS_pivot_root, ".", ".") < 0) die(errno, "pivot_root");
  /* The old root now sits on top of the new one. Work from the old root's
   * own directory so the rslave below changes only the old tree (from the new
   * root it would turn the container's shared mounts into slaves), and keep
   * its unmount from propagating to the host. */
  if (fchdir(old_root) < 0) die(errno, "chdir to old root");
  close(old_root);
  if (mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0) die(errno, "make old root rslave");
  if (umount2(".", MNT_DETACH) < 0) die(errno, "detach old root");
  if (chdir("/") < 0) die(errno, "chdir /");
}

void op_move_root(void) {
  if (fchdir(root_fd) < 0) die(errno, "chdir to rootfs");
  /* Moving the rootfs onto a shared "/" would copy it to the peers of "/"
   * (the host's, with rshared): receive from them, send nothing. */
  if (mount(NULL, "/", NULL, MS_SLAVE, NULL) < 0) die(errno, "make / a slave before moving the rootfs");
  if (mount(".", "/", NULL, MS_MOVE, NULL) < 0) die(errno, "move rootfs to /");
  if (chroot(".") < 0) die(errno, "chroot");
  if (chdir("/") < 0) die(errno, "chdir /");
}

/* No mount namespace of our own: the rootfs is entered like chroot(1), and
 * nothing of the runtime's mount table is changed. */
void op_chroot(void) {
  if (fchdir(root_fd) < 0) die(errno, "chdir to rootfs");
  if (chroot(".") < 0) die(errno, "chroot");
  if (chdir("/") < 0) die(errno, "chdir /");
}

void op_root_readonly(void) {
  if (mount(NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0) {
    /* Keep the flags the mount already has (e.g. nodev) or the kernel refuses. */
    struct statfs sf;
    if (statfs("/", &sf) < 0) die(errno, "statfs /");
    unsigned long keep = sf.f_flags & (MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME | MS_RELATIME);
    if (mount(NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | keep, NULL) < 0) die(errno, "remount / read-only");
  }
}

/* sysctl writes go through the container's procfs, which must really be
 * procfs (not a tmpfs or bind planted by the image: CVE-2025-52881 class). */
void op_sysctl(struct reader *r) {
  const char *key = rd_str(r);
  const char *value = rd_str(r);
  /* /proc is a mount of its own: no NO_XDEV here, the statfs check below
   * is what proves we reached procfs. */
  int pfd = openat2_in(AT_FDCWD, "/proc/sys", O_PATH | O_DIRECTORY, RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
  if (pfd < 0) die(errno, "open /proc/sys");
  struct statfs sf;
  if (fstatfs(pfd, &sf) < 0 || sf.f_type != PROC_SUPER_MAGIC) refuse(EINVAL, "/proc/sys is not procfs");
  int fd = openat2_in(pfd, key, O_WRONLY, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV);
  if (fd < 0) die(errno, "open /proc/sys/%s", key);
  size_t len = strlen(value);
  if (write(fd, value, len) != (ssize_t)len) die(errno, "write %s to /proc/sys/%s", value, key);
  close(fd);
  close(pfd);
}
