/*
 * testinit — a static multi-call binary for capsa's integration tests.
 *
 * Usage: testinit CMD [ARGS...]
 * Results go to stdout; failures print "testinit: CMD: what: ENAME (text)" to
 * stderr and exit 1. It often runs as PID 1 in a bare rootfs, so it must not
 * assume an environment, /proc, or a libc locale: every failure is reported
 * by symbolic errno name, which tests can match exactly.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <sys/wait.h>

extern char **environ;

static const char *cmd_name = "?";

/* Symbolic errno name ("EPERM"); glibc >= 2.32 has strerrorname_np. */
static const char *errname(int e) {
  static char buf[16];
  const char *n = strerrorname_np(e);
  if (n) return n;
  snprintf(buf, sizeof buf, "E%d", e);
  return buf;
}

static void die_errno(const char *what) {
  int e = errno;
  fprintf(stderr, "testinit: %s: %s: %s (%s)\n", cmd_name, what, errname(e), strerror(e));
  exit(1);
}

static void die_msg(const char *msg) {
  fprintf(stderr, "testinit: %s: %s\n", cmd_name, msg);
  exit(1);
}

static void out_flush(void) {
  if (fflush(stdout) != 0) die_errno("stdout");
}

/* Parse a non-negative decimal integer or die. */
static long parse_long(const char *s) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end) die_msg("invalid number");
  return v;
}

/* Sleep for a fractional number of seconds, resuming after signals. */
static void sleep_seconds(double secs) {
  struct timespec ts;
  ts.tv_sec = (time_t)secs;
  ts.tv_nsec = (long)((secs - (double)ts.tv_sec) * 1e9);
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

static void pause_forever(void) {
  for (;;) pause();
}

/* Copy a file to stdout; returns 0 or an errno. */
static int copy_file(const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  char buf[8192];
  ssize_t n;
  out_flush();
  while ((n = read(fd, buf, sizeof buf)) > 0) {
    if (write(1, buf, (size_t)n) != n) {
      int e = errno;
      close(fd);
      return e;
    }
  }
  int e = n < 0 ? errno : 0;
  close(fd);
  return e;
}

static void cat_or_die(const char *path) {
  int e = copy_file(path);
  if (e) {
    errno = e;
    die_errno(path);
  }
}

/* Print the lines of /proc/self/status whose key starts with prefix. */
static int status_lines(const char *prefix) {
  FILE *f = fopen("/proc/self/status", "re");
  if (!f) die_errno("/proc/self/status");
  char line[1024];
  int found = 0;
  size_t plen = strlen(prefix);
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, prefix, plen) == 0) {
      fputs(line, stdout);
      found++;
    }
  }
  fclose(f);
  return found;
}

/* ---- signal names (x86_64 numbering) ---- */

static const struct {
  const char *name;
  int num;
} signals[] = {
    {"HUP", SIGHUP},       {"INT", SIGINT},       {"QUIT", SIGQUIT},   {"ILL", SIGILL},
    {"TRAP", SIGTRAP},     {"ABRT", SIGABRT},     {"BUS", SIGBUS},     {"FPE", SIGFPE},
    {"KILL", SIGKILL},     {"USR1", SIGUSR1},     {"SEGV", SIGSEGV},   {"USR2", SIGUSR2},
    {"PIPE", SIGPIPE},     {"ALRM", SIGALRM},     {"TERM", SIGTERM},   {"STKFLT", SIGSTKFLT},
    {"CHLD", SIGCHLD},     {"CONT", SIGCONT},     {"STOP", SIGSTOP},   {"TSTP", SIGTSTP},
    {"TTIN", SIGTTIN},     {"TTOU", SIGTTOU},     {"URG", SIGURG},     {"XCPU", SIGXCPU},
    {"XFSZ", SIGXFSZ},     {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF},   {"WINCH", SIGWINCH},
    {"IO", SIGIO},         {"PWR", SIGPWR},       {"SYS", SIGSYS},
};

static const char *sig_name(int sig) {
  for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++)
    if (signals[i].num == sig) return signals[i].name;
  return NULL;
}

/* Accepts "9", "KILL", "SIGKILL", "kill". */
static int parse_signal(const char *s) {
  if (isdigit((unsigned char)s[0])) return (int)parse_long(s);
  if (strncasecmp(s, "SIG", 3) == 0) s += 3;
  for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++)
    if (strcasecmp(s, signals[i].name) == 0) return signals[i].num;
  die_msg("unknown signal");
  return -1;
}

/* ---- commands ---- */

static int cmd_true(int argc, char **argv) { (void)argc; (void)argv; return 0; }
static int cmd_false(int argc, char **argv) { (void)argc; (void)argv; return 1; }

static int cmd_hostname(int argc, char **argv) {
  (void)argc; (void)argv;
  char buf[256] = {0};
  if (gethostname(buf, sizeof buf - 1) != 0) die_errno("gethostname");
  printf("%s\n", buf);
  return 0;
}

static int cmd_domainname(int argc, char **argv) {
  (void)argc; (void)argv;
  char buf[256] = {0};
  if (getdomainname(buf, sizeof buf - 1) != 0) die_errno("getdomainname");
  printf("%s\n", buf);
  return 0;
}

static int cmd_id(int argc, char **argv) {
  (void)argc; (void)argv;
  gid_t groups[256];
  int n = getgroups(256, groups);
  if (n < 0) die_errno("getgroups");
  printf("uid=%u gid=%u euid=%u egid=%u groups=", getuid(), getgid(), geteuid(), getegid());
  for (int i = 0; i < n; i++) printf("%s%u", i ? "," : "", groups[i]);
  printf("\n");
  return 0;
}

static int cmd_pid(int argc, char **argv) { (void)argc; (void)argv; printf("%d\n", getpid()); return 0; }
static int cmd_ppid(int argc, char **argv) { (void)argc; (void)argv; printf("%d\n", getppid()); return 0; }

static int cmd_cat(int argc, char **argv) {
  for (int i = 0; i < argc; i++) cat_or_die(argv[i]);
  return 0;
}

static int names_cmp(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmd_ls(int argc, char **argv) {
  (void)argc;
  DIR *d = opendir(argv[0]);
  if (!d) die_errno(argv[0]);
  size_t n = 0, cap = 64;
  char **names = malloc(cap * sizeof *names);
  struct dirent *de;
  while ((de = readdir(d))) {
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
    if (n == cap) names = realloc(names, (cap *= 2) * sizeof *names);
    names[n++] = strdup(de->d_name);
  }
  closedir(d);
  qsort(names, n, sizeof *names, names_cmp);
  for (size_t i = 0; i < n; i++) printf("%s\n", names[i]);
  return 0;
}

static const char *file_type(mode_t m) {
  if (S_ISREG(m)) return "file";
  if (S_ISDIR(m)) return "dir";
  if (S_ISLNK(m)) return "symlink";
  if (S_ISCHR(m)) return "char";
  if (S_ISBLK(m)) return "block";
  if (S_ISFIFO(m)) return "fifo";
  if (S_ISSOCK(m)) return "socket";
  return "unknown";
}

static int cmd_stat(int argc, char **argv) {
  (void)argc;
  struct stat st;
  if (lstat(argv[0], &st) != 0) die_errno(argv[0]);
  printf("type=%s mode=%04o uid=%u gid=%u", file_type(st.st_mode), st.st_mode & 07777, st.st_uid, st.st_gid);
  if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))
    printf(" major=%u minor=%u", major(st.st_rdev), minor(st.st_rdev));
  printf("\n");
  return 0;
}

static int cmd_readlink(int argc, char **argv) {
  (void)argc;
  char buf[4096];
  ssize_t n = readlink(argv[0], buf, sizeof buf - 1);
  if (n < 0) die_errno(argv[0]);
  buf[n] = 0;
  printf("%s\n", buf);
  return 0;
}

static int cmd_mounts(int argc, char **argv) { (void)argc; (void)argv; cat_or_die("/proc/self/mountinfo"); return 0; }
static int cmd_status(int argc, char **argv) { (void)argc; (void)argv; cat_or_die("/proc/self/status"); return 0; }
static int cmd_cgroup(int argc, char **argv) { (void)argc; (void)argv; cat_or_die("/proc/self/cgroup"); return 0; }
static int cmd_oom(int argc, char **argv) { (void)argc; (void)argv; cat_or_die("/proc/self/oom_score_adj"); return 0; }
static int cmd_caps(int argc, char **argv) { (void)argc; (void)argv; status_lines("Cap"); return 0; }
static int cmd_nnp(int argc, char **argv) { (void)argc; (void)argv; return status_lines("NoNewPrivs:") ? 0 : 1; }
static int cmd_seccomp(int argc, char **argv) { (void)argc; (void)argv; return status_lines("Seccomp:") ? 0 : 1; }

static int cmd_cwd(int argc, char **argv) {
  (void)argc; (void)argv;
  char buf[4096];
  if (!getcwd(buf, sizeof buf)) die_errno("getcwd");
  printf("%s\n", buf);
  return 0;
}

static int cmd_env(int argc, char **argv) {
  (void)argc; (void)argv;
  for (char **e = environ; e && *e; e++) printf("%s\n", *e);
  return 0;
}

static int cmd_umask(int argc, char **argv) {
  (void)argc; (void)argv;
  mode_t m = umask(0); /* umask can only be read by setting it */
  umask(m);
  printf("%04o\n", (unsigned)m);
  return 0;
}

static const struct {
  const char *name;
  int res;
} rlimits[] = {
    {"AS", RLIMIT_AS},         {"CORE", RLIMIT_CORE},         {"CPU", RLIMIT_CPU},
    {"DATA", RLIMIT_DATA},     {"FSIZE", RLIMIT_FSIZE},       {"LOCKS", RLIMIT_LOCKS},
    {"MEMLOCK", RLIMIT_MEMLOCK}, {"MSGQUEUE", RLIMIT_MSGQUEUE}, {"NICE", RLIMIT_NICE},
    {"NOFILE", RLIMIT_NOFILE}, {"NPROC", RLIMIT_NPROC},       {"RSS", RLIMIT_RSS},
    {"RTPRIO", RLIMIT_RTPRIO}, {"RTTIME", RLIMIT_RTTIME},     {"SIGPENDING", RLIMIT_SIGPENDING},
    {"STACK", RLIMIT_STACK},
};

static void print_rlim(rlim_t v) {
  if (v == RLIM_INFINITY) printf("unlimited");
  else printf("%llu", (unsigned long long)v);
}

static int cmd_rlimit(int argc, char **argv) {
  (void)argc;
  const char *name = argv[0];
  if (strncasecmp(name, "RLIMIT_", 7) == 0) name += 7;
  for (size_t i = 0; i < sizeof rlimits / sizeof rlimits[0]; i++) {
    if (strcasecmp(name, rlimits[i].name) != 0) continue;
    struct rlimit rl;
    if (getrlimit(rlimits[i].res, &rl) != 0) die_errno("getrlimit");
    print_rlim(rl.rlim_cur);
    printf(" ");
    print_rlim(rl.rlim_max);
    printf("\n");
    return 0;
  }
  die_msg("unknown rlimit");
  return 1;
}

static int cmd_sleep(int argc, char **argv) {
  (void)argc;
  if (!strcmp(argv[0], "forever")) pause_forever();
  char *end;
  double secs = strtod(argv[0], &end);
  if (end == argv[0] || *end || secs < 0) die_msg("invalid duration");
  sleep_seconds(secs);
  return 0;
}

static int cmd_exit(int argc, char **argv) { (void)argc; return (int)parse_long(argv[0]); }

static int cmd_kill_self(int argc, char **argv) {
  (void)argc;
  int sig = parse_signal(argv[0]);
  out_flush();
  if (kill(getpid(), sig) != 0) die_errno("kill");
  /* PID 1 ignores signals it has no handler for; give them time, then say so. */
  sleep_seconds(0.5);
  die_msg("still alive after signal");
  return 1;
}

static int cmd_write(int argc, char **argv) {
  (void)argc;
  int fd = open(argv[0], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0 || write(fd, argv[1], strlen(argv[1])) < 0) {
    int e = errno;
    printf("%s\n", errname(e));
    out_flush();
    errno = e;
    die_errno(argv[0]);
  }
  if (close(fd) != 0) die_errno(argv[0]);
  return 0;
}

static int cmd_mkdir(int argc, char **argv) {
  (void)argc;
  if (mkdir(argv[0], 0755) != 0) die_errno(argv[0]);
  return 0;
}

static int cmd_touch(int argc, char **argv) {
  (void)argc;
  int fd = open(argv[0], O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) die_errno(argv[0]);
  close(fd);
  return 0;
}

/* Prints "ok" or the errno name: tests use it to probe access decisions. */
static void report(int rc) {
  if (rc == 0) printf("ok\n");
  else printf("%s\n", errname(errno));
}

static int cmd_open(int argc, char **argv) {
  (void)argc;
  int flags;
  if (!strcmp(argv[1], "r")) flags = O_RDONLY;
  else if (!strcmp(argv[1], "w")) flags = O_WRONLY;
  else if (!strcmp(argv[1], "rw")) flags = O_RDWR;
  else die_msg("mode must be r, w or rw");
  int fd = open(argv[0], flags | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  report(fd < 0 ? -1 : 0);
  if (fd >= 0) close(fd);
  return 0;
}

static int cmd_mknod(int argc, char **argv) {
  mode_t type;
  if (!strcmp(argv[1], "c")) type = S_IFCHR;
  else if (!strcmp(argv[1], "b")) type = S_IFBLK;
  else if (!strcmp(argv[1], "p")) type = S_IFIFO;
  else die_msg("type must be c, b or p");
  dev_t dev = 0;
  if (type != S_IFIFO) {
    if (argc < 4) die_msg("usage: mknod PATH c|b MAJ MIN");
    dev = makedev((unsigned)parse_long(argv[2]), (unsigned)parse_long(argv[3]));
  }
  report(mknod(argv[0], type | 0666, dev));
  return 0;
}

/* A few syscalls that seccomp/capability tests probe; a number calls it raw. */
static int cmd_syscall(int argc, char **argv) {
  (void)argc;
  const char *n = argv[0];
  int rc;
  if (!strcmp(n, "getpid")) rc = (int)syscall(SYS_getpid);
  else if (!strcmp(n, "getuid")) rc = (int)syscall(SYS_getuid);
  else if (!strcmp(n, "uname")) { struct utsname u; rc = uname(&u); }
  else if (!strcmp(n, "mkdir")) {
    rc = mkdir("/tmp/testinit-syscall", 0755);
    if (rc == 0) rmdir("/tmp/testinit-syscall");
  } else if (!strcmp(n, "chmod")) {
    struct stat st;
    rc = stat("/tmp", &st);
    if (rc == 0) rc = chmod("/tmp", st.st_mode & 07777); /* no-op change */
  } else if (!strcmp(n, "chown")) rc = chown("/tmp", (uid_t)-1, (gid_t)-1);
  else if (!strcmp(n, "unshare")) rc = unshare(0);
  else if (!strcmp(n, "ptrace")) rc = (int)ptrace(PTRACE_TRACEME, 0, NULL, NULL);
  else if (!strcmp(n, "personality")) rc = (int)syscall(SYS_personality, 0xffffffffUL) < 0 ? -1 : 0;
  else if (!strcmp(n, "socket")) {
    rc = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (rc >= 0) { close(rc); rc = 0; }
  } else if (!strcmp(n, "sethostname")) {
    char h[256] = {0};
    rc = gethostname(h, sizeof h - 1);
    if (rc == 0) rc = sethostname(h, strlen(h));
  } else if (!strcmp(n, "setuid")) rc = setuid(getuid());
  else if (!strcmp(n, "mlock")) { static char page[4096]; rc = mlock(page, sizeof page); }
  else if (isdigit((unsigned char)n[0])) rc = syscall(parse_long(n), 0, 0, 0, 0, 0, 0) < 0 ? -1 : 0;
  else { die_msg("unknown syscall name"); return 1; }
  report(rc < 0 ? -1 : 0);
  return 0;
}

static int cmd_fds(int argc, char **argv) {
  (void)argc; (void)argv;
  DIR *d = opendir("/proc/self/fd");
  if (!d) die_errno("/proc/self/fd");
  int self = dirfd(d);
  long fds[1024];
  size_t n = 0;
  struct dirent *de;
  while ((de = readdir(d)) && n < 1024) {
    if (de->d_name[0] == '.') continue;
    long fd = strtol(de->d_name, NULL, 10);
    if (fd != self) fds[n++] = fd;
  }
  for (size_t i = 0; i < n; i++) {
    char path[64], target[4096];
    snprintf(path, sizeof path, "/proc/self/fd/%ld", fds[i]);
    ssize_t len = readlinkat(self, path + strlen("/proc/self/fd/"), target, sizeof target - 1);
    if (len < 0) snprintf(target, sizeof target, "?%s", errname(errno));
    else target[len] = 0;
    printf("%ld -> %s\n", fds[i], target);
  }
  closedir(d);
  return 0;
}

static int cmd_sysctl(int argc, char **argv) {
  (void)argc;
  char path[512];
  int len = snprintf(path, sizeof path, "/proc/sys/%s", argv[0]);
  for (int i = (int)strlen("/proc/sys/"); i < len; i++)
    if (path[i] == '.') path[i] = '/';
  cat_or_die(path);
  return 0;
}

static int cmd_fork_sleep(int argc, char **argv) {
  (void)argc;
  char *end;
  double secs = strtod(argv[0], &end);
  if (end == argv[0] || *end) die_msg("invalid duration");
  out_flush();
  pid_t child = fork();
  if (child < 0) die_errno("fork");
  if (child == 0) {
    sleep_seconds(secs);
    _exit(0);
  }
  printf("%d\n", child);
  out_flush();
  sleep_seconds(secs);
  waitpid(child, NULL, 0);
  return 0;
}

static int cmd_spin(int argc, char **argv) {
  (void)argc; (void)argv;
  volatile unsigned long x = 0;
  for (;;) x++;
  return 0;
}

/* Rewrites FILE with a growing counter via rename, so readers never see it empty. */
static int cmd_count(int argc, char **argv) {
  (void)argc;
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp", argv[0]);
  for (unsigned long i = 0;; i++) {
    char buf[32];
    int len = snprintf(buf, sizeof buf, "%lu\n", i);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) die_errno(tmp);
    if (write(fd, buf, (size_t)len) != len) die_errno(tmp);
    close(fd);
    if (rename(tmp, argv[0]) != 0) die_errno(argv[0]);
    sleep_seconds(0.01);
  }
  return 0;
}

static int cmd_hog(int argc, char **argv) {
  (void)argc;
  size_t bytes = (size_t)parse_long(argv[0]) << 20;
  char *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) die_errno("mmap");
  long page = sysconf(_SC_PAGESIZE);
  for (size_t off = 0; off < bytes; off += (size_t)page) p[off] = 1; /* fault every page in */
  printf("allocated\n");
  out_flush();
  pause_forever();
  return 0;
}

static int cmd_forkbomb(int argc, char **argv) {
  (void)argc;
  long want = parse_long(argv[0]);
  pid_t *kids = calloc((size_t)(want > 0 ? want : 1), sizeof *kids);
  long got = 0;
  int first_err = 0;
  out_flush();
  for (long i = 0; i < want; i++) {
    pid_t p = fork();
    if (p == 0) {
      pause_forever();
    }
    if (p < 0) {
      if (!first_err) first_err = errno;
      continue;
    }
    kids[got++] = p;
  }
  printf("forked=%ld error=%s\n", got, first_err ? errname(first_err) : "none");
  for (long i = 0; i < got; i++) kill(kids[i], SIGKILL);
  for (long i = 0; i < got; i++) waitpid(kids[i], NULL, 0);
  return 0;
}

static int cmd_echo(int argc, char **argv) {
  for (int i = 0; i < argc; i++) printf("%s%s", i ? " " : "", argv[i]);
  printf("\n");
  return 0;
}

static int cmd_stdin(int argc, char **argv) {
  (void)argc; (void)argv;
  out_flush();
  char buf[8192];
  ssize_t n;
  while ((n = read(0, buf, sizeof buf)) != 0) {
    if (n < 0) {
      if (errno == EINTR) continue;
      die_errno("read stdin");
    }
    if (write(1, buf, (size_t)n) != n) die_errno("write stdout");
  }
  return 0;
}

static int cmd_tty(int argc, char **argv) {
  (void)argc; (void)argv;
  printf("stdin=%d stdout=%d stderr=%d ", isatty(0), isatty(1), isatty(2));
  char *name = ttyname(0);
  printf("ttyname=%s\n", name ? name : errname(errno));
  return 0;
}

static int cmd_winsize(int argc, char **argv) {
  (void)argc; (void)argv;
  struct winsize ws;
  if (ioctl(0, TIOCGWINSZ, &ws) != 0) die_errno("TIOCGWINSZ");
  printf("rows=%u cols=%u\n", ws.ws_row, ws.ws_col);
  return 0;
}

static void on_signal(int sig) {
  /* Only async-signal-safe calls here. */
  char msg[32] = "got SIG";
  const char *n = sig_name(sig);
  size_t len = strlen(msg);
  for (size_t i = 0; n && n[i] && len < sizeof msg - 2; i++) msg[len++] = n[i];
  msg[len++] = '\n';
  (void)!write(1, msg, len);
  _exit(100 + sig);
}

static int cmd_signals(int argc, char **argv) {
  (void)argc; (void)argv;
  int sigs[] = {SIGTERM, SIGINT, SIGHUP, SIGUSR1};
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
    if (sigaction(sigs[i], &sa, NULL) != 0) die_errno("sigaction");
  printf("ready\n");
  out_flush();
  pause_forever();
  return 0;
}


/* ---- process attributes (scheduler, I/O priority, memory policy) ---- */

/* "sched": sched_getattr of this process, then policy/nice/rt_priority as
 * /proc/self/stat shows them (fields 41, 19, 40). */
static int cmd_sched(int argc, char **argv) {
  (void)argc; (void)argv;
  struct {
    unsigned size, policy;
    unsigned long long flags;
    int nice;
    unsigned priority;
    unsigned long long runtime, deadline, period;
    unsigned util_min, util_max;
  } a;
  memset(&a, 0, sizeof a);
  if (syscall(SYS_sched_getattr, 0, &a, (unsigned)sizeof a, 0) != 0) die_errno("sched_getattr");
  printf("policy=%u nice=%d priority=%u flags=0x%llx runtime=%llu deadline=%llu period=%llu\n", a.policy, a.nice, a.priority,
         a.flags, a.runtime, a.deadline, a.period);
  FILE *f = fopen("/proc/self/stat", "re");
  if (!f) die_errno("/proc/self/stat");
  char buf[2048];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  char *p = strrchr(buf, ')');
  if (!p) die_msg("/proc/self/stat: no ')'");
  /* p+2 is field 3 (state). */
  char *field[64] = {0};
  int i = 3;
  for (char *t = strtok(p + 2, " "); t && i < 64; t = strtok(NULL, " ")) field[i++] = t;
  if (i <= 41) die_msg("/proc/self/stat: too few fields");
  printf("stat policy=%s nice=%s rt_priority=%s\n", field[41], field[19], field[40]);
  return 0;
}

/* "ioprio": ioprio_get(IOPRIO_WHO_PROCESS, 0) as class and level. */
static int cmd_ioprio(int argc, char **argv) {
  (void)argc; (void)argv;
  long v = syscall(SYS_ioprio_get, 1, 0);
  if (v < 0) die_errno("ioprio_get");
  printf("class=%ld level=%ld\n", v >> 13, v & 0x1fff);
  return 0;
}

/* "mempolicy": get_mempolicy of this thread: mode, mode flags, node list. */
static int cmd_mempolicy(int argc, char **argv) {
  (void)argc; (void)argv;
  int mode = 0;
  unsigned long mask[1024 / (8 * sizeof(unsigned long))];
  memset(mask, 0, sizeof mask);
  if (syscall(SYS_get_mempolicy, &mode, mask, 1024UL + 1, NULL, 0UL) != 0) die_errno("get_mempolicy");
  const int flag_bits = (1 << 15) | (1 << 14) | (1 << 13);
  printf("mode=%d flags=0x%x nodes=", mode & ~flag_bits, mode & flag_bits);
  const char *sep = "";
  for (int node = 0; node < 1024; node++) {
    if (mask[node / (8 * sizeof(unsigned long))] & (1UL << (node % (8 * sizeof(unsigned long))))) {
      printf("%s%d", sep, node);
      sep = ",";
    }
  }
  printf("\n");
  return 0;
}


/* "owners PATH...": uid:gid of each path (lstat), one line each. */
static int cmd_owners(int argc, char **argv) {
  for (int i = 0; i < argc; i++) {
    struct stat st;
    if (lstat(argv[i], &st) != 0) die_errno(argv[i]);
    printf("%u:%u\n", st.st_uid, st.st_gid);
  }
  return 0;
}

static int cmd_help(int argc, char **argv);
int cmd_glibc(int argc, char **argv); /* seccomp-probes.c */
int cmd_notified(int argc, char **argv); /* seccomp-probes.c */

static const struct command {
  const char *name;
  int min_args;
  int (*fn)(int argc, char **argv);
  const char *usage;
} commands[] = {
    {"true", 0, cmd_true, ""},
    {"false", 0, cmd_false, ""},
    {"hostname", 0, cmd_hostname, ""},
    {"domainname", 0, cmd_domainname, ""},
    {"id", 0, cmd_id, ""},
    {"pid", 0, cmd_pid, ""},
    {"ppid", 0, cmd_ppid, ""},
    {"cat", 1, cmd_cat, "FILE..."},
    {"ls", 1, cmd_ls, "DIR"},
    {"stat", 1, cmd_stat, "PATH"},
    {"readlink", 1, cmd_readlink, "PATH"},
    {"mounts", 0, cmd_mounts, ""},
    {"caps", 0, cmd_caps, ""},
    {"status", 0, cmd_status, ""},
    {"cwd", 0, cmd_cwd, ""},
    {"env", 0, cmd_env, ""},
    {"umask", 0, cmd_umask, ""},
    {"rlimit", 1, cmd_rlimit, "NAME"},
    {"sleep", 1, cmd_sleep, "SECONDS|forever"},
    {"exit", 1, cmd_exit, "CODE"},
    {"kill-self", 1, cmd_kill_self, "SIGNAL"},
    {"write", 2, cmd_write, "FILE TEXT"},
    {"mkdir", 1, cmd_mkdir, "PATH"},
    {"touch", 1, cmd_touch, "PATH"},
    {"open", 2, cmd_open, "PATH r|w|rw"},
    {"mknod", 2, cmd_mknod, "PATH c|b|p [MAJ MIN]"},
    {"syscall", 1, cmd_syscall, "NAME|NR"},
    {"fds", 0, cmd_fds, ""},
    {"sysctl", 1, cmd_sysctl, "KEY"},
    {"fork-sleep", 1, cmd_fork_sleep, "SECONDS"},
    {"spin", 0, cmd_spin, ""},
    {"count", 1, cmd_count, "FILE"},
    {"hog", 1, cmd_hog, "MB"},
    {"forkbomb", 1, cmd_forkbomb, "N"},
    {"echo", 0, cmd_echo, "ARGS..."},
    {"stdin", 0, cmd_stdin, ""},
    {"tty", 0, cmd_tty, ""},
    {"winsize", 0, cmd_winsize, ""},
    {"signals", 0, cmd_signals, ""},
    {"nnp", 0, cmd_nnp, ""},
    {"seccomp", 0, cmd_seccomp, ""},
    {"oom", 0, cmd_oom, ""},
    {"cgroup", 0, cmd_cgroup, ""},
    {"glibc", 0, cmd_glibc, ""},
    {"sched", 0, cmd_sched, ""},
    {"ioprio", 0, cmd_ioprio, ""},
    {"mempolicy", 0, cmd_mempolicy, ""},
    {"owners", 1, cmd_owners, "PATH..."},
    {"notified", 1, cmd_notified, "PATH"},
    {"help", 0, cmd_help, ""},
};

static int cmd_help(int argc, char **argv) {
  (void)argc; (void)argv;
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    printf("testinit %s %s\n", commands[i].name, commands[i].usage);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: testinit CMD [ARGS...] (testinit help lists commands)\n");
    return 2;
  }
  cmd_name = argv[1];
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
    const struct command *c = &commands[i];
    if (strcmp(argv[1], c->name) != 0) continue;
    if (argc - 2 < c->min_args) {
      fprintf(stderr, "usage: testinit %s %s\n", c->name, c->usage);
      return 2;
    }
    int rc = c->fn(argc - 2, argv + 2);
    out_flush();
    return rc;
  }
  fprintf(stderr, "testinit: unknown command \"%s\"\n", argv[1]);
  return 2;
}
