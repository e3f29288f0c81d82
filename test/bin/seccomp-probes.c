/*
 * Seccomp probes of testinit.
 *
 * `testinit notified PATH`: mkdir(PATH) with a SIGUSR1 handler installed
 * without SA_RESTART, printing "ok" or the errno name; for seccomp agent
 * tests (a signal that interrupts the wait for the agent shows as EINTR).
 *
 * `testinit glibc`: what a program linked against this system's glibc (2.34+)
 * meets under a seccomp profile. One line per probe, "name=ok" or
 * "name=ERRNO":
 *
 *   raw syscalls, as the kernel (or the filter) answers them:
 *     clone3       clone3(NULL, 0): EINVAL means it reached the kernel
 *     openat2      openat2(AT_FDCWD, "/", O_PATH)
 *     faccessat2   faccessat2(AT_FDCWD, "/", F_OK, 0)
 *     close_range  close_range(~0U - 1, ~0U, 0): nothing to close
 *   through glibc, which tries the new call first and falls back on ENOSYS:
 *     thread       pthread_create + join     (clone3, then clone)
 *     spawn        posix_spawn + waitpid     (clone3, then clone)
 *     faccessat    faccessat(AT_EACCESS)     (faccessat2, then an emulation)
 *     closefrom    closefrom(1000)           (close_range, then /proc/self/fd;
 *                                             glibc aborts when both fail)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static void line(const char *name, int rc, int err) {
  if (rc == 0) printf("%s=ok\n", name);
  else printf("%s=%s\n", name, strerrorname_np(err) ? strerrorname_np(err) : "E?");
}

static void raw(const char *name, long rc) {
  int err = errno;
  if (rc >= 0 && !strcmp(name, "openat2")) close((int)rc);
  line(name, rc < 0 ? -1 : 0, err);
}

static void *thread_main(void *arg) { return arg; }

int cmd_glibc(int argc, char **argv) {
  (void)argc; (void)argv;
  raw("clone3", syscall(SYS_clone3, NULL, 0));
  struct open_how how = {.flags = O_PATH | O_CLOEXEC};
  raw("openat2", syscall(SYS_openat2, AT_FDCWD, "/", &how, sizeof how));
  raw("faccessat2", syscall(SYS_faccessat2, AT_FDCWD, "/", F_OK, 0));
  raw("close_range", syscall(SYS_close_range, ~0U - 1, ~0U, 0));

  pthread_t t;
  int rc = pthread_create(&t, NULL, thread_main, NULL);
  if (rc == 0) rc = pthread_join(t, NULL);
  line("thread", rc, rc);

  pid_t pid;
  char *child[] = {"testinit", "true", NULL};
  rc = posix_spawn(&pid, "/proc/self/exe", NULL, NULL, child, environ);
  if (rc == 0) {
    int status;
    if (waitpid(pid, &status, 0) < 0) rc = errno;
    else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) rc = ECHILD;
  }
  line("spawn", rc, rc);

  rc = faccessat(AT_FDCWD, "/", R_OK, AT_EACCESS);
  line("faccessat", rc, errno);

  fflush(stdout);
  closefrom(1000);
  line("closefrom", 0, 0);
  return 0;
}

static void on_usr1(int sig) { (void)sig; }

int cmd_notified(int argc, char **argv) {
  (void)argc;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_usr1; /* no SA_RESTART */
  sigaction(SIGUSR1, &sa, NULL);
  int rc = mkdir(argv[0], 0755);
  int err = errno;
  if (rc == 0) rmdir(argv[0]);
  line("mkdir", rc, err);
  return 0;
}
