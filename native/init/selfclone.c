/*
 * CVE-2019-5736: capsa-init runs from a sealed in-memory copy of itself.
 *
 * A process in the container can reach the runtime's own binary through
 * /proc/<pid>/exe: of the waiting init or of an exec helper when it has
 * CAP_SYS_PTRACE (which overrides "not dumpable"), or of itself after the
 * kernel ran "#!/proc/self/exe" for an entrypoint it controls (the runtime's
 * binary then runs inside the container and reads a plan from the attacker,
 * who can ask for PR_SET_DUMPABLE 1). If /proc/<pid>/exe is the host file, an
 * O_PATH handle on it can be reopened for writing once no capsa-init runs,
 * and every later container on the host runs the attacker's code as root.
 *
 * capsa_run_sealed() is the first thing main() does: unless /proc/self/exe
 * already is a memfd with all write seals, it copies the binary into one,
 * seals it, and re-executes from it with the same argv, environment and
 * inherited fds. Then /proc/<pid>/exe of every capsa-init is that memfd: it
 * can be opened, but never written, and it is not the host file. The cost is
 * one copy of the binary (~0.7 MB) per capsa-init process — runc pays the same
 * for its /proc/self/exe clone.
 *
 * Runs before anything else, single-threaded; allocation-free.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010
#endif

#define CAPSA_SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)

extern char **environ;

/* 1 when the running binary is a memfd carrying all of CAPSA_SEALS. */
static int running_sealed(void) {
  int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  int seals = fcntl(fd, F_GET_SEALS);
  close(fd);
  return seals >= 0 && (seals & CAPSA_SEALS) == CAPSA_SEALS;
}

/*
 * Returns 0 when already running sealed (after restoring the process name,
 * which fexecve set to the fd number), or -1 with errno set when the sealed
 * copy could not be made or executed; on success it does not return.
 */
int capsa_run_sealed(char **argv) {
  if (running_sealed()) {
    prctl(PR_SET_NAME, "capsa-init", 0, 0, 0);
    return 0;
  }
  int saved;
  int src = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  if (src < 0) return -1;
  struct stat st;
  int mfd = -1;
  if (fstat(src, &st) < 0) goto fail;
  mfd = memfd_create("capsa-init", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (mfd < 0) goto fail;
  for (off_t left = st.st_size; left > 0;) {
    ssize_t n = sendfile(mfd, src, NULL, (size_t)left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n == 0) errno = EIO; /* the file shrank under us */
      goto fail;
    }
    left -= n;
  }
  close(src);
  src = -1;
  if (fcntl(mfd, F_ADD_SEALS, CAPSA_SEALS) < 0) goto fail;
  syscall(SYS_execveat, mfd, "", argv, environ, AT_EMPTY_PATH);
fail:
  saved = errno;
  if (src >= 0) close(src);
  if (mfd >= 0) close(mfd);
  errno = saved;
  return -1;
}
