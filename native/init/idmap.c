/*
 * Idmapped mounts (runtime-spec mounts[].uidMappings/gidMappings, the
 * idmap/ridmap options). MOUNT_ATTR_IDMAP needs CAP_SYS_ADMIN over the
 * filesystem's user namespace (the host's, for host directories) and a user
 * namespace fd carrying the mapping, so P builds every such tree while it is
 * still in the host's namespaces, before it joins or makes the container's:
 *
 *   - a short-lived child is cloned into a new user namespace; P writes its
 *     uid_map/gid_map (the mappings TypeScript wrote out), opens
 *     /proc/<child>/ns/user and lets the child go (the fd keeps the namespace);
 *     or, for a mount that uses a joined user namespace, P opens that path;
 *   - the tree is made detached (open_tree of the source, or fsopen/fsmount of
 *     a new filesystem), and mount_setattr(MOUNT_ATTR_IDMAP) is applied to it,
 *     recursively for ridmap;
 *   - the detached tree's fd is inherited by C through the clone, and
 *     OP_MOUNT KIND_IDMAPPED attaches it at its destination inside the rootfs
 *     (in order, checked by source).
 *
 * User namespaces are shared between trees with the same mapping.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include "init.h"

#define MAX_TREES 64

static struct {
  const char *source; /* points into the plan buffer */
  int fd;
} trees[MAX_TREES];
static int tree_count, tree_next;

static struct {
  const char *uid_map, *gid_map; /* plan buffer */
  int fd;
} userns[MAX_TREES];
static int userns_count;

static int write_map(pid_t pid, const char *file, const char *content) {
  char path[64];
  snprintf(path, sizeof path, "%d/%s", (int)pid, file);
  int fd = openat(host_proc_fd, path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  size_t len = strlen(content);
  ssize_t n = write(fd, content, len);
  int saved = errno;
  close(fd);
  errno = saved;
  return n == (ssize_t)len ? 0 : -1;
}

/* A user namespace fd with these maps: a child born in a new user namespace
 * waits on a pipe while P writes its maps and opens its ns file. */
static int make_userns(const char *uid_map, const char *gid_map, const char *source) {
  for (int i = 0; i < userns_count; i++)
    if (strcmp(userns[i].uid_map, uid_map) == 0 && strcmp(userns[i].gid_map, gid_map) == 0) return userns[i].fd;
  if (userns_count == MAX_TREES) die(E2BIG, "too many idmapped mounts");
  int gate[2];
  if (pipe2(gate, O_CLOEXEC) < 0) die(errno, "pipe2");
  long pid = syscall(SYS_clone, (unsigned long)(CLONE_NEWUSER | SIGCHLD), NULL, NULL, NULL, 0);
  if (pid < 0) die(errno, "clone a user namespace for idmapped mount %s", source);
  if (pid == 0) {
    /* Only async-signal-safe calls here: wait for P to be done with us. */
    char b;
    close(gate[1]);
    while (read(gate[0], &b, 1) < 0 && errno == EINTR) {}
    _exit(0);
  }
  close(gate[0]);
  int err = 0;
  const char *what = "";
  if (write_map((pid_t)pid, "uid_map", uid_map) < 0) { err = errno; what = "write uid_map"; }
  else if (write_map((pid_t)pid, "gid_map", gid_map) < 0) { err = errno; what = "write gid_map"; }
  int fd = -1;
  if (!err) {
    char path[64];
    snprintf(path, sizeof path, "%d/ns/user", (int)pid);
    fd = openat(host_proc_fd, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) { err = errno; what = "open user namespace"; }
  }
  close(gate[1]);
  while (waitpid((pid_t)pid, NULL, 0) < 0 && errno == EINTR) {}
  if (err) die(err, "%s for idmapped mount %s", what, source);
  userns[userns_count].uid_map = uid_map;
  userns[userns_count].gid_map = gid_map;
  userns[userns_count].fd = fd;
  userns_count++;
  return fd;
}

enum { TREE_BIND = 0, TREE_FS = 1 };

/* OP_IDMAP_TREE (in P): u32 kind, str source, str fstype, strs data,
 * u32 recursive bind, u32 recursive idmap, str uid_map, str gid_map,
 * str userns path (joined user namespace; maps empty then). */
void op_idmap_tree(struct reader *r) {
  const char *data[64];
  uint32_t kind = rd_u32(r);
  const char *source = rd_str(r);
  const char *fstype = rd_str(r);
  rd_strs(r, data, 64);
  uint32_t rec_bind = rd_u32(r), rec_idmap = rd_u32(r);
  const char *uid_map = rd_str(r);
  const char *gid_map = rd_str(r);
  const char *ns_path = rd_str(r);
  uint64_t attr_set = rd_u64(r), attr_clr = rd_u64(r);
  uint32_t rec_attr = rd_u32(r);
  if (r->bad) die(EINVAL, "malformed idmap tree op");
  if (tree_count == MAX_TREES) die(E2BIG, "too many idmapped mounts");

  int nsfd, own_nsfd = 0;
  if (*ns_path) {
    nsfd = open(ns_path, O_RDONLY | O_CLOEXEC);
    if (nsfd < 0) die(errno, "open user namespace %s for idmapped mount %s", ns_path, source);
    own_nsfd = 1;
  } else {
    nsfd = make_userns(uid_map, gid_map, source);
  }
  int mfd;
  if (kind == TREE_BIND) {
    mfd = open_tree(AT_FDCWD, source, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (rec_bind ? AT_RECURSIVE : 0));
    if (mfd < 0) die(errno, "bind source %s", source);
  } else {
    mfd = make_fs_mount(fstype, source, data);
  }
  struct mount_attr attr;
  if (attr_set || attr_clr) {
    memset(&attr, 0, sizeof attr);
    attr.attr_set = attr_set;
    /* Changing the atime mode needs the whole MOUNT_ATTR__ATIME field cleared. */
    attr.attr_clr = attr_clr | ((attr_set & MOUNT_ATTR__ATIME) ? MOUNT_ATTR__ATIME : 0);
    if (mount_setattr(mfd, "", AT_EMPTY_PATH | (rec_attr ? AT_RECURSIVE : 0), &attr, sizeof attr) < 0)
      die(errno, "set mount flags on %s", source);
  }
  memset(&attr, 0, sizeof attr);
  attr.attr_set = MOUNT_ATTR_IDMAP;
  attr.userns_fd = (uint64_t)nsfd;
  if (mount_setattr(mfd, "", AT_EMPTY_PATH | (rec_idmap ? AT_RECURSIVE : 0), &attr, sizeof attr) < 0)
    die(errno, "idmap %s", source);
  if (own_nsfd) close(nsfd);
  trees[tree_count].source = source;
  trees[tree_count].fd = mfd;
  tree_count++;
}

/* The next tree made by OP_IDMAP_TREE; its source must be the mount's. */
int idmap_take_tree(const char *source) {
  if (tree_next >= tree_count || strcmp(trees[tree_next].source, source) != 0)
    die(EPROTO, "no idmapped tree prepared for %s", source);
  int fd = trees[tree_next].fd;
  trees[tree_next].fd = -1;
  tree_next++;
  return fd;
}

/* In P just before the clone: the user namespace fds have done their job and
 * must never be among the container process's fds. */
void idmap_close_userns(void) {
  for (int i = 0; i < userns_count; i++) close(userns[i].fd);
  userns_count = 0;
}

/* `capsa-init --probe-idmap`: whether this kernel can idmap a mount (mount_setattr
 * with MOUNT_ATTR_IDMAP on a detached tree, with a user namespace of our own).
 * Prints "1" or "0 <reason>"; used by `capsa features`. */
int capsa_probe_idmap(void) {
  host_proc_fd = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (host_proc_fd < 0) { printf("0 open /proc: %s\n", strerror(errno)); return 0; }
  if (syscall(SYS_mount_setattr, -1, "", 0, NULL, 0) < 0 && errno == ENOSYS) { printf("0 mount_setattr: %s\n", strerror(errno)); return 0; }
  /* make_userns dies on failure: try it in a child so we can report instead. */
  static const char *const candidates[] = {"/", NULL};
  int pipefd[2];
  if (pipe(pipefd) < 0) { printf("0 pipe: %s\n", strerror(errno)); return 0; }
  pid_t pid = fork();
  if (pid < 0) { printf("0 fork: %s\n", strerror(errno)); return 0; }
  if (pid == 0) {
    close(pipefd[0]);
    sync_fd = -1; /* die() then writes to stderr: send it down the pipe */
    dup2(pipefd[1], 2);
    int ns = make_userns("0 0 65536\n", "0 0 65536\n", "probe");
    for (int i = 0; candidates[i]; i++) {
      int t = open_tree(AT_FDCWD, candidates[i], OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
      if (t < 0) continue;
      struct mount_attr attr;
      memset(&attr, 0, sizeof attr);
      attr.attr_set = MOUNT_ATTR_IDMAP;
      attr.userns_fd = (uint64_t)ns;
      if (mount_setattr(t, "", AT_EMPTY_PATH, &attr, sizeof attr) == 0) _exit(0);
    }
    /* "/" may be a filesystem without idmap support: a fresh tmpfs (>= 6.3). */
    int fsfd = fsopen("tmpfs", FSOPEN_CLOEXEC);
    if (fsfd >= 0 && fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) == 0) {
      int t = fsmount(fsfd, FSMOUNT_CLOEXEC, 0);
      struct mount_attr attr;
      memset(&attr, 0, sizeof attr);
      attr.attr_set = MOUNT_ATTR_IDMAP;
      attr.userns_fd = (uint64_t)ns;
      if (t >= 0 && mount_setattr(t, "", AT_EMPTY_PATH, &attr, sizeof attr) == 0) _exit(0);
    }
    dprintf(2, "mount_setattr(MOUNT_ATTR_IDMAP): %s", strerror(errno));
    _exit(1);
  }
  close(pipefd[1]);
  char why[256];
  size_t len = 0;
  ssize_t n;
  while (len < sizeof why - 1 && (n = read(pipefd[0], why + len, sizeof why - 1 - len)) != 0) {
    if (n < 0) { if (errno == EINTR) continue; break; }
    len += (size_t)n;
  }
  why[len] = '\0';
  if (len && why[len - 1] == '\n') why[len - 1] = '\0';
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) printf("1\n");
  else printf("0 %s\n", why[0] ? why : "probe failed");
  return 0;
}
