/*
 * CVE-2024-21626 class: the container's process must not hold the host's
 * procfs.
 *
 * capsa-init opens the host's /proc first thing (host_proc_fd) and, before
 * this, kept it until just before execve: through the whole `created` state
 * for an init waiting on the exec fifo. A process in the container's pid
 * namespace with CAP_SYS_PTRACE (which overrides "not dumpable") can open
 * /proc/<init>/fd/<host_proc_fd>/<host pid>/root and walk the host's root
 * filesystem.
 *
 * capsa_private_procfs() makes a procfs instance that is attached nowhere
 * (fsopen + fsmount: only the returned fd reaches it), of the calling
 * process's active pid namespace and showing only processes ("subset=pid",
 * Linux >= 5.8; ignored where unknown). Called in the container process right
 * after the clone that put it in the container's pid namespace, it replaces
 * host_proc_fd: "self/oom_score_adj" and "self/fd/N" (the exec fifo reopen)
 * work the same through it, and what a neighbour reaches through it is the
 * container's own processes.
 *
 * Needs CAP_SYS_ADMIN over the pid namespace's user namespace and the current
 * mount namespace — which the container process still has at that point.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Returns an O_PATH-like mount fd of a private procfs, or -1 with errno set. */
int capsa_private_procfs(void) {
  int fs = (int)syscall(SYS_fsopen, "proc", FSOPEN_CLOEXEC);
  if (fs < 0) return -1;
  (void)syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, "subset", "pid", 0);
  int mfd = -1;
  if (syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) == 0)
    mfd = (int)syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
  int saved = errno;
  close(fs);
  errno = saved;
  return mfd;
}
