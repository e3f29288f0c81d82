// Security test fixtures: `secprobe`, a small static attacker binary compiled
// from the C source below (it does what a hostile container process would:
// unmount and remount its confinement, open /proc/<pid>/exe, walk other
// processes' fds, call syscalls with chosen arguments), a private copy of the
// test rootfs holding it, and hostile rootfs copies whose paths are symlinks
// aimed at decoy "host" directories under /tmp/capsa-test-*.
//
// Every result secprobe prints is one line of "key=value" words, values being
// "ok" or a symbolic errno name, so tests assert exactly what the kernel said.

import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { makeBundle, type TestBundle } from './bundle';
import { suite } from 'uvu';
import { CAPSA_BIN, runCommand, type CapsaSuite, type RunOptions, type RunResult } from './capsa';
import { leaksBetween, snapshot, type HostSnapshot } from './leaks';
import { all, cmd, type Config } from './config';
import { removeTestDir, sharedTestRootfs } from './rootfs';
import { tick, until } from './wait';

const SECPROBE_SOURCE = String.raw`
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *en(int e) {
  static char b[16];
  const char *n = strerrorname_np(e);
  if (n) return n;
  snprintf(b, sizeof b, "E%d", e);
  return b;
}
static const char *res(long rc) { return rc < 0 ? en(errno) : "ok"; }
static unsigned long num(const char *s) { return strtoul(s, NULL, 0); }
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
static void nap(void) { struct timespec t = {0, 2000000}; nanosleep(&t, NULL); }

static const struct { const char *name; long nr; } sysnames[] = {
  {"personality", SYS_personality}, {"mkdir", SYS_mkdir}, {"chmod", SYS_chmod}, {"getpid", SYS_getpid},
  {"umask", SYS_umask}, {"setpgid", SYS_setpgid}, {"getpriority", SYS_getpriority}, {"socket", SYS_socket},
  {"unshare", SYS_unshare}, {"sethostname", SYS_sethostname}, {"reboot", SYS_reboot},
};

/* sys NAME|NR [ARG...]: the raw syscall with these arguments (0 for the rest). */
static int cmd_sys(int argc, char **argv) {
  long nr = -1;
  for (size_t i = 0; i < sizeof sysnames / sizeof sysnames[0]; i++)
    if (!strcmp(argv[0], sysnames[i].name)) nr = sysnames[i].nr;
  if (nr < 0) nr = (long)num(argv[0]);
  unsigned long a[6] = {0};
  for (int i = 1; i < argc && i <= 6; i++) a[i - 1] = num(argv[i]);
  long rc = syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
  printf("%s\n", res(rc));
  return 0;
}

/* sys32 socketcall|ipc CALL [ARG...]: the i386 multiplexed call made with
 * int 0x80 from this 64-bit process (seccomp sees AUDIT_ARCH_I386): socketcall
 * gets CALL and a pointer to the args as 32-bit words (in memory below 4 GiB),
 * ipc gets CALL and the args in registers. */
static int cmd_sys32(int argc, char **argv) {
#ifdef __x86_64__
  int mux = !strcmp(argv[0], "socketcall") ? 102 : !strcmp(argv[0], "ipc") ? 117 : -1;
  if (mux < 0 || argc < 2) { printf("usage\n"); return 2; }
  unsigned int *words = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
  if (words == MAP_FAILED) { printf("mmap %s\n", en(errno)); return 1; }
  unsigned long a[4] = {0};
  for (int i = 2; i < argc && i < 6; i++) { a[i - 2] = num(argv[i]); words[i - 2] = (unsigned int)a[i - 2]; }
  long b = (long)num(argv[1]), c = mux == 102 ? (long)(unsigned long)words : (long)a[0];
  long d = mux == 102 ? 0 : (long)a[1], si = mux == 102 ? 0 : (long)a[2];
  long rc;
  __asm__ volatile("int $0x80" : "=a"(rc) : "a"((long)mux), "b"(b), "c"(c), "d"(d), "S"(si) : "r8", "r9", "r10", "r11", "memory");
  if (rc < 0 && rc > -4096) { errno = (int)-rc; rc = -1; }
  printf("%s\n", res(rc));
  return 0;
#else
  (void)argc; (void)argv;
  printf("unsupported\n");
  return 0;
#endif
}

static int cmd_umount(int argc, char **argv) {
  int flags = argc > 1 && !strcmp(argv[1], "detach") ? MNT_DETACH : 0;
  printf("%s\n", res(umount2(argv[0], flags)));
  return 0;
}

/* remount-rw PATH: every way to make a read-only mount writable again. */
static int cmd_remount_rw(int argc, char **argv) {
  (void)argc;
  struct mount_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.attr_clr = MOUNT_ATTR_RDONLY;
  printf("bind-remount=%s", res(mount(NULL, argv[0], NULL, MS_REMOUNT | MS_BIND, NULL)));
  printf(" sb-remount=%s", res(mount(NULL, argv[0], NULL, MS_REMOUNT, NULL)));
  printf(" setattr=%s\n", res(syscall(SYS_mount_setattr, AT_FDCWD, argv[0], 0, &attr, sizeof attr)));
  return 0;
}

static int cmd_mount_tmpfs(int argc, char **argv) {
  (void)argc;
  printf("%s\n", res(mount("tmpfs", argv[0], "tmpfs", 0, "size=64k")));
  return 0;
}

/* exe PID: can /proc/PID/exe be read, opened, opened for writing? */
static int cmd_exe(int argc, char **argv) {
  (void)argc;
  char p[64], buf[4096];
  snprintf(p, sizeof p, "/proc/%s/exe", argv[0]);
  ssize_t n = readlink(p, buf, sizeof buf - 1);
  printf("readlink=%s", n < 0 ? en(errno) : "ok");
  int fd = open(p, O_PATH | O_CLOEXEC);
  printf(" opath=%s", res(fd));
  if (fd >= 0) close(fd);
  fd = open(p, O_RDONLY | O_CLOEXEC);
  printf(" rdonly=%s", res(fd));
  if (fd >= 0) close(fd);
  fd = open(p, O_WRONLY | O_CLOEXEC);
  printf(" wronly=%s\n", res(fd));
  if (fd >= 0) close(fd);
  return 0;
}

/* Reopen an O_PATH fd for writing the way the CVE-2019-5736 exploit does;
 * never writes a byte. "ok" is followed by the file's seals (memfd), "none"
 * for an ordinary file: F_SEAL_WRITE (0x8) means writes would fail. */
static const char *reopen_w(int fd) {
  static char out[64];
  char p[64];
  snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
  int w = open(p, O_WRONLY | O_CLOEXEC);
  if (w < 0) return en(errno);
  int seals = fcntl(w, F_GET_SEALS);
  close(w);
  if (seals < 0) snprintf(out, sizeof out, "ok seals=none");
  else snprintf(out, sizeof out, "ok seals=0x%x", seals);
  return out;
}

/* hold-exe PID: keep an O_PATH fd of /proc/PID/exe while that process goes
 * on to exec something else, then try to open the held file for writing. */
static int cmd_hold_exe(int argc, char **argv) {
  (void)argc;
  char p[64];
  snprintf(p, sizeof p, "/proc/%s/exe", argv[0]);
  int fd = open(p, O_PATH | O_CLOEXEC);
  if (fd < 0) { printf("hold=%s\n", en(errno)); return 0; }
  struct stat held, cur;
  fstat(fd, &held);
  printf("hold=ok dev=%lu ino=%lu\n", (unsigned long)held.st_dev, (unsigned long)held.st_ino);
  fflush(stdout);
  double deadline = now() + 30;
  for (;;) {
    if (stat(p, &cur) < 0 || cur.st_ino != held.st_ino || cur.st_dev != held.st_dev) break;
    if (now() > deadline) { printf("moved=timeout\n"); return 0; }
    nap();
  }
  printf("moved=ok reopen-w=%s\n", reopen_w(fd));
  return 0;
}

/* fd-escape PID HOSTPID SECRET: through each fd of PID, try to reach the file
 * SECRET (an absolute host path) as if the fd were a host directory or the
 * host's procfs. Prints one line per fd. */
static int cmd_fd_escape(int argc, char **argv) {
  (void)argc;
  char dir[64];
  snprintf(dir, sizeof dir, "/proc/%s/fd", argv[0]);
  DIR *d = opendir(dir);
  if (!d) { printf("fds=%s\n", en(errno)); return 0; }
  printf("fds=ok\n");
  struct dirent *de;
  while ((de = readdir(d))) {
    if (de->d_name[0] == '.') continue;
    char link[128], target[4096], via[8192];
    snprintf(link, sizeof link, "%s/%s", dir, de->d_name);
    ssize_t n = readlink(link, target, sizeof target - 1);
    if (n < 0) snprintf(target, sizeof target, "?%s", en(errno)); else target[n] = 0;
    const char *found = "none";
    const char *tries[] = {"%s/%s/root%s", "%s/../../../../../../../../..%s%s"};
    for (int t = 0; t < 2; t++) {
      if (t == 0) snprintf(via, sizeof via, tries[0], link, argv[1], argv[2]);
      else snprintf(via, sizeof via, tries[1], link, "", argv[2]);
      int fd = open(via, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
      if (fd >= 0) { found = t == 0 ? "procfs" : "dotdot"; close(fd); break; }
    }
    printf("fd=%s target=%s escape=%s\n", de->d_name, target, found);
  }
  closedir(d);
  return 0;
}

/* steal-exe FIFO_A FIFO_B: the container side of CVE-2019-5736. Another
 * process (started by capsa exec as /bin/evil, whose "#!/proc/self/exe" makes
 * the kernel run the runtime's own binary) opens FIFO_A, then FIFO_B. Between
 * the two, grab its /proc/PID/exe; after it exits, try to reopen it for
 * writing. */
static int find_evil(void) {
  DIR *d = opendir("/proc");
  struct dirent *de;
  int found = -1;
  while (d && (de = readdir(d))) {
    int pid = atoi(de->d_name);
    if (pid <= 0 || pid == getpid()) continue;
    char p[64], buf[256] = {0};
    snprintf(p, sizeof p, "/proc/%d/cmdline", pid);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n > 0 && !strncmp(buf, "/proc/self/exe", 14)) { found = pid; break; }
  }
  if (d) closedir(d);
  return found;
}

/* Opening blocks until the other side opens for writing; then take the one
 * byte it writes (it may keep its end open, so never wait for EOF). */
static void drain(const char *fifo) {
  int fd = open(fifo, O_RDONLY | O_CLOEXEC);
  if (fd < 0) { printf("fifo=%s\n", en(errno)); exit(0); }
  char b;
  while (read(fd, &b, 1) < 0 && errno == EINTR) {}
  close(fd);
}

static int cmd_steal_exe(int argc, char **argv) {
  (void)argc;
  drain(argv[0]);
  int pid = find_evil();
  if (pid < 0) { printf("evil=none\n"); return 0; }
  char p[64];
  snprintf(p, sizeof p, "/proc/%d/exe", pid);
  int fd = open(p, O_PATH | O_CLOEXEC);
  printf("evil=ok exe=%s", res(fd));
  if (fd >= 0) {
    struct stat st;
    fstat(fd, &st);
    printf(" dev=%lu ino=%lu", (unsigned long)st.st_dev, (unsigned long)st.st_ino);
  }
  int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
  drain(argv[1]);
  if (pidfd >= 0) {
    struct pollfd pf = {pidfd, POLLIN, 0};
    int rc = poll(&pf, 1, 20000);
    printf(" exited=%s", rc == 1 ? "ok" : "timeout");
  }
  if (fd >= 0) printf(" reopen-w=%s", reopen_w(fd));
  printf("\n");
  return 0;
}

/* covered mask|ro PATH...: what the container sees at each masked (mask) or
 * read-only (ro) path. "absent"; for a mask "masked" when it is an empty
 * read-only tmpfs or the null device, else "UNMASKED"; for ro "ro" when its
 * mount is read-only, else "RW". One "PATH=STATE" word per path. */
static int cmd_covered(int argc, char **argv) {
  int mask = !strcmp(argv[0], "mask");
  for (int i = 1; i < argc; i++) {
    struct stat st;
    const char *state;
    if (lstat(argv[i], &st) < 0) state = errno == ENOENT ? "absent" : en(errno);
    else if (!mask) {
      struct statvfs sv;
      state = statvfs(argv[i], &sv) < 0 ? en(errno) : (sv.f_flag & ST_RDONLY) ? "ro" : "RW";
    } else if (S_ISDIR(st.st_mode)) {
      struct statfs sf;
      struct statvfs sv;
      DIR *d = opendir(argv[i]);
      int entries = 0;
      struct dirent *de;
      while (d && (de = readdir(d))) if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) entries++;
      if (d) closedir(d);
      int ok = statfs(argv[i], &sf) == 0 && sf.f_type == TMPFS_MAGIC && statvfs(argv[i], &sv) == 0 && (sv.f_flag & ST_RDONLY) && entries == 0;
      state = ok ? "masked" : "UNMASKED";
    } else {
      state = S_ISCHR(st.st_mode) && major(st.st_rdev) == 1 && minor(st.st_rdev) == 3 ? "masked" : "UNMASKED";
    }
    printf("%s%s=%s", i > 1 ? " " : "", argv[i], state);
  }
  printf("\n");
  return 0;
}

/* writable PATH...: can each be opened for writing (never writes a byte)? */
static int cmd_writable(int argc, char **argv) {
  for (int i = 0; i < argc; i++) {
    int fd = open(argv[i], O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    printf("%s%s=%s", i ? " " : "", argv[i], res(fd));
    if (fd >= 0) close(fd);
  }
  printf("\n");
  return 0;
}

/* ptrace-fds HOSTPID SECRET COUNT SECONDS: the CAP_SYS_PTRACE attacker of the
 * exec helper. Watches for processes that appear in this pid namespace,
 * stops each (PTRACE_SEIZE + INTERRUPT), tries to reach the host file SECRET
 * through every fd it holds (as a host procfs: fd/HOSTPID/root/SECRET, or as
 * a host dir: fd/../../SECRET), lets it go, and prints one line per process
 * caught: "caught fds=N escape=none|procfs|dotdot". Stops after COUNT caught
 * or SECONDS. Prints "ready" once it is watching. */
static int seen[1 << 16];
static int cmd_ptrace_fds(int argc, char **argv) {
  (void)argc;
  int want = atoi(argv[2]);
  double deadline = now() + atof(argv[3]);
  DIR *d = opendir("/proc");
  struct dirent *de;
  while (d && (de = readdir(d))) { int p = atoi(de->d_name); if (p > 0 && p < (1 << 16)) seen[p] = 1; }
  if (d) closedir(d);
  printf("ready\n");
  fflush(stdout);
  int caught = 0;
  while (caught < want && now() < deadline) {
    d = opendir("/proc");
    while (d && (de = readdir(d)) && caught < want) {
      int p = atoi(de->d_name);
      if (p <= 0 || p >= (1 << 16) || seen[p]) continue;
      seen[p] = 1;
      if (ptrace(PTRACE_SEIZE, p, 0, 0) < 0) continue;
      ptrace(PTRACE_INTERRUPT, p, 0, 0);
      int st;
      if (waitpid(p, &st, __WALL) < 0) continue;
      char dir[64], link[128], via[8192];
      snprintf(dir, sizeof dir, "/proc/%d/fd", p);
      DIR *fds = opendir(dir);
      int n = 0;
      const char *found = "none";
      char via_fd[4200] = "";
      struct dirent *fe;
      while (fds && (fe = readdir(fds))) {
        if (fe->d_name[0] == '.') continue;
        n++;
        snprintf(link, sizeof link, "%s/%s", dir, fe->d_name);
        char target[4096];
        ssize_t tn = readlink(link, target, sizeof target - 1);
        target[tn < 0 ? 0 : tn] = 0;
        snprintf(via_fd, sizeof via_fd, "%s:%s", fe->d_name, target);
        snprintf(via, sizeof via, "%s/%s/root%s", link, argv[0], argv[1]);
        int fd = open(via, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
        if (fd >= 0) { found = "procfs"; close(fd); break; }
        snprintf(via, sizeof via, "%s/../../../../../../../../..%s", link, argv[1]);
        fd = open(via, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
        if (fd >= 0) { found = "dotdot"; close(fd); break; }
      }
      if (fds) closedir(fds);
      ptrace(PTRACE_DETACH, p, 0, 0);
      caught++;
      if (!strcmp(found, "none")) printf("caught fds=%d escape=none\n", n);
      else printf("caught fds=%d escape=%s via=%s\n", n, found, via_fd);
      fflush(stdout);
    }
    if (d) closedir(d);
  }
  printf("done caught=%d\n", caught);
  return 0;
}

static const struct { const char *name; int min; int (*fn)(int, char **); } cmds[] = {
  {"covered", 2, cmd_covered}, {"writable", 1, cmd_writable}, {"ptrace-fds", 4, cmd_ptrace_fds},
  {"sys", 1, cmd_sys}, {"sys32", 2, cmd_sys32}, {"umount", 1, cmd_umount}, {"remount-rw", 1, cmd_remount_rw},
  {"mount-tmpfs", 1, cmd_mount_tmpfs}, {"exe", 1, cmd_exe}, {"hold-exe", 1, cmd_hold_exe},
  {"fd-escape", 3, cmd_fd_escape}, {"steal-exe", 2, cmd_steal_exe},
};

int main(int argc, char **argv) {
  for (size_t i = 0; argc >= 2 && i < sizeof cmds / sizeof cmds[0]; i++) {
    if (strcmp(argv[1], cmds[i].name) != 0) continue;
    if (argc - 2 < cmds[i].min) break;
    int rc = cmds[i].fn(argc - 2, argv + 2);
    fflush(stdout);
    return rc;
  }
  fprintf(stderr, "usage: secprobe sys|umount|remount-rw|mount-tmpfs|exe|hold-exe|fd-escape|steal-exe|covered|writable|ptrace-fds ARGS\n");
  return 2;
}
`;

/** The compiled secprobe binary (cached by source hash under /tmp). */
export function secprobeBinary(): string {
  const hash = createHash('sha256').update(SECPROBE_SOURCE).digest('hex').slice(0, 12);
  const dir = path.join(os.tmpdir(), `capsa-test-secprobe-${process.getuid?.() ?? 0}-${hash}`);
  const bin = path.join(dir, 'secprobe');
  if (fs.existsSync(bin)) return bin;
  fs.mkdirSync(dir, { recursive: true });
  const src = path.join(dir, 'secprobe.c');
  fs.writeFileSync(src, SECPROBE_SOURCE);
  const tmp = `${bin}.${process.pid}`;
  try {
    execFileSync('gcc', ['-std=gnu11', '-O1', '-Wall', '-static', '-s', '-o', tmp, src], { stdio: 'pipe' });
  } catch (e) {
    const stderr = (e as { stderr?: Buffer }).stderr?.toString() ?? String(e);
    throw new Error(`cannot compile secprobe:\n${stderr}`);
  }
  fs.renameSync(tmp, bin); // atomic: concurrent test files never see half a binary
  return bin;
}

/** Copy the test rootfs to `dest` and add /bin/secprobe. */
export function copySecurityRootfs(dest: string): void {
  execFileSync('cp', ['-a', sharedTestRootfs(), dest]);
  fs.copyFileSync(secprobeBinary(), path.join(dest, 'bin/secprobe'));
  fs.chmodSync(path.join(dest, 'bin/secprobe'), 0o755);
}

let securityRoot: string | undefined;

/** One rootfs with secprobe per test process (never modified by tests). */
export function securityRootfs(): string {
  if (securityRoot) return securityRoot;
  const dir = path.join(os.tmpdir(), `capsa-test-secrootfs-${process.pid}`);
  removeTestDir(dir);
  fs.mkdirSync(dir, { mode: 0o755 });
  const rootfs = path.join(dir, 'rootfs');
  copySecurityRootfs(rootfs);
  ownDirs.add(dir);
  process.on('exit', () => removeTestDir(dir));
  securityRoot = rootfs;
  return rootfs;
}

export interface HostileRootfs {
  /** The temp dir holding everything: /tmp/capsa-test-hostile-*. */
  dir: string;
  rootfs: string;
  /** A directory standing in for a host path (like /etc) that must never change. */
  decoy: string;
  /** A file inside the decoy, for "was it written?" checks. */
  decoyFile: string;
  cleanup(): void;
}

export const DECOY_CONTENT = 'capsa-test decoy: a host file the container must never reach\n';

/**
 * A private copy of the security rootfs plus a decoy "host" directory next to
 * it; `plant` makes the rootfs hostile (symlinks to the decoy, fake devices).
 */
export function makeHostileRootfs(tag: string, plant?: (h: HostileRootfs) => void): HostileRootfs {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `capsa-test-hostile-${tag}-`));
  fs.chmodSync(dir, 0o755);
  const rootfs = path.join(dir, 'rootfs');
  copySecurityRootfs(rootfs);
  const decoy = path.join(dir, 'decoy');
  fs.mkdirSync(decoy, { mode: 0o755 });
  ownDirs.add(dir);
  const decoyFile = path.join(decoy, 'secret');
  fs.writeFileSync(decoyFile, DECOY_CONTENT, { mode: 0o644 });
  const h: HostileRootfs = { dir, rootfs, decoy, decoyFile, cleanup: () => removeTestDir(dir) };
  try {
    plant?.(h);
  } catch (e) {
    h.cleanup();
    throw e;
  }
  return h;
}

/** Replace `rel` inside the rootfs with a symlink to `target`. */
export function plantSymlink(rootfs: string, rel: string, target: string): void {
  const p = path.join(rootfs, rel);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.rmSync(p, { recursive: true, force: true });
  fs.symlinkSync(target, p);
}

/** Every file under dir with its content hash, mode and mtime: equal snapshots mean nothing changed. */
export function treeSnapshot(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of fs.readdirSync(d).sort()) {
      const p = path.join(d, name);
      const st = fs.lstatSync(p);
      const rel = path.relative(dir, p);
      if (st.isDirectory()) { out.push(`${rel}/ ${st.mode.toString(8)} ${st.mtimeMs}`); walk(p); continue; }
      const content = st.isFile() ? createHash('sha256').update(fs.readFileSync(p)).digest('hex') : st.isSymbolicLink() ? fs.readlinkSync(p) : '';
      out.push(`${rel} ${st.mode.toString(8)} ${st.size} ${st.mtimeMs} ${content}`);
    }
  };
  walk(dir);
  return out;
}

/**
 * The host's mount points (field 5 of mountinfo) with their options and fs
 * type — those a hostile container could aim at: everything under `mine`, and
 * every host path except other test runs' dirs (/tmp/capsa-test-*) and engine
 * runtime state (/run/*), which suites running in parallel change.
 */
export function hostMounts(mine: string): string[] {
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean).map((l) => {
    const f = l.split(' ');
    const dash = f.indexOf('-');
    return { mp: f[4]!, line: `${f[4]} ${f[5]} ${f[dash + 1]} ${f[dash + 2]}` };
  }).filter(({ mp }) => mp === mine || mp.startsWith(`${mine}/`) || !(mp.includes('capsa-test') || mp.startsWith('/run/')))
    .map((m) => m.line).sort();
}

/** sha256 of a file, for "the host binary is unchanged" checks. */
export function fileHash(p: string): string {
  return createHash('sha256').update(fs.readFileSync(p)).digest('hex');
}

// ---- running containers for security tests ----


/** Container IDs of the security tests, so their leftovers are recognisable. */
export const ID_PREFIX = `capsa-test-sec${process.pid}`;

// Every capsa process this test process starts carries this in its
// environment (and so does capsa-init), which tells our leftovers from those
// of other test runs sharing the host.
const OWNER_MARK = `CAPSA_TEST_OWNER=${process.pid}`;
process.env.CAPSA_TEST_OWNER = String(process.pid);

/** Directories this process made, under which a leftover mount is ours. */
const ownDirs = new Set<string>();

function ownedBy(line: string): boolean {
  const [kind, ...rest] = line.split(': ');
  const item = rest.join(': ');
  if (item.includes(ID_PREFIX)) return true;
  if (kind === 'fds') return !/ -> \/dev\/null$/.test(item); // libuv opens /dev/null for ignored stdio on its own schedule
  if (kind === 'stateDirs') return true;
  if (kind === 'mounts') return [...ownDirs].some((d) => item.includes(d));
  if (kind === 'processes') {
    const pid = item.split(' ')[0];
    try {
      if (fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').includes(ID_PREFIX)) return true;
      return fs.readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').includes(OWNER_MARK);
    } catch {
      return false; // gone: not left behind
    }
  }
  return false;
}

/**
 * capsaSuite with the same per-test leak check, narrowed to what this test
 * file made: on a host where other suites run at the same time, their
 * containers are not our leaks.
 */
export function securitySuite(name: string): CapsaSuite {
  const root = `/tmp/capsa-test-root-${process.pid}-${name.replace(/[^A-Za-z0-9]+/g, '-')}`;
  ownDirs.add(root);
  const test = suite(name);
  const run = (args: readonly string[], opts?: RunOptions) => runCommand(CAPSA_BIN, ['--root', root, ...args], opts);
  const runOk = async (args: readonly string[], opts?: RunOptions) => {
    const r = await run(args, opts);
    if (r.code !== 0) throw new Error(`capsa ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
    return r;
  };
  let before: HostSnapshot | undefined;
  test.before.each(() => { before = snapshot([root]); });
  test.after.each(async () => {
    if (!before) return;
    const found = () => leaksBetween(before!, snapshot([root])).filter(ownedBy);
    // a killed container's processes may still be on their way out
    let leaks = found();
    for (let i = 0; leaks.some((l) => l.startsWith('processes')) && i < 100; i++) {
      await tick(50);
      leaks = found();
    }
    before = undefined;
    for (const id of fs.existsSync(root) ? fs.readdirSync(root) : []) await run(['delete', '--force', id]);
    if (leaks.length) throw new Error(`test left resources behind:\n  ${leaks.join('\n  ')}`);
  });
  test.after(() => { fs.rmSync(root, { recursive: true, force: true }); });
  return { test, root, capsa: run, capsaOk: runOk };
}

export { all, cmd, type Config };
export const probe = (...a: string[]): Config => (s) => { s.process!.args = ['/bin/secprobe', ...a]; };

export { until };

/** Containers run detached are orphans reaped by the host's init: wait for ours to go. */
export async function waitReaped(before: ReadonlySet<string>): Promise<void> {
  // by pid: a process that was there before (an outer container) may have exec'd since
  const pids = new Set([...before].map((p) => p.split(' ')[0]));
  const ours = () => snapshot([]).processes.filter((p) => !pids.has(p.split(' ')[0]) && ownedBy(`processes: ${p}`));
  await until('container processes to be reaped', () => (ours().length === 0 ? true : undefined), 15_000);
}

export interface Started {
  b: TestBundle;
  id: string;
  /** Host pid of the container's init. */
  pid: number;
  /** What the container wrote to stdout/stderr so far. */
  output(): string;
}

export interface RunOpts {
  rootfs?: string;
  input?: string | Buffer;
  args?: string[];
}

/** The helpers a security test file needs, bound to its capsaSuite. */
export function securityHarness(suite: Pick<CapsaSuite, 'capsa' | 'capsaOk' | 'root'>) {
  const { capsa, capsaOk, root } = suite;

  /** `capsa run` in the foreground; the bundle and container are always removed. */
  async function runIn(config: Config, opts: RunOpts = {}): Promise<RunResult> {
    const b = makeBundle({ config, rootfs: opts.rootfs ?? securityRootfs(), idPrefix: ID_PREFIX });
    ownDirs.add(b.dir);
    try {
      return await capsa(['run', ...(opts.args ?? []), '-b', b.dir, b.id], { input: opts.input as string | undefined });
    } finally {
      await capsa(['delete', '--force', b.id]);
      b.cleanup();
    }
  }

  async function runOk(config: Config, opts: RunOpts = {}): Promise<string> {
    const r = await runIn(config, opts);
    if (r.code !== 0) throw new Error(`container exited ${r.code}: ${r.stderr}`);
    return r.stdout;
  }

  /** create (verb "create") or run -d (verb "run"), stdio to a file; fn gets the init's host pid. */
  async function withContainer(verb: 'create' | 'run', config: Config, fn: (c: Started) => Promise<void>, opts: RunOpts = {}): Promise<void> {
    const b = makeBundle({ config, rootfs: opts.rootfs ?? securityRootfs(), idPrefix: ID_PREFIX });
    ownDirs.add(b.dir);
    const before = new Set(snapshot([]).processes);
    const outPath = path.join(b.dir, 'output');
    try {
      const out = fs.openSync(outPath, 'w');
      const args = verb === 'run' ? ['run', '-d', ...(opts.args ?? [])] : ['create', ...(opts.args ?? [])];
      const child = spawn(CAPSA_BIN, ['--root', root, ...args, '-b', b.dir, b.id], { stdio: ['ignore', out, out] });
      fs.closeSync(out);
      const code = await new Promise<number | null>((resolve, reject) => { child.on('exit', resolve); child.on('error', reject); });
      if (code !== 0) throw new Error(`capsa ${verb} exited ${code}: ${fs.readFileSync(outPath, 'utf8')}`);
      const st = JSON.parse((await capsaOk(['state', b.id])).stdout) as { pid: number };
      await fn({ b, id: b.id, pid: st.pid, output: () => fs.readFileSync(outPath, 'utf8') });
    } finally {
      await capsa(['delete', '--force', b.id]);
      b.cleanup();
      await waitReaped(before);
    }
  }

  const withCreated = (config: Config, fn: (c: Started) => Promise<void>, opts?: RunOpts) => withContainer('create', config, fn, opts);
  const withRunning = (config: Config, fn: (c: Started) => Promise<void>, opts?: RunOpts) => withContainer('run', config, fn, opts);

  /** Wait until a detached container has stopped; returns its output. */
  async function waitStopped(c: Started, ms = 20_000): Promise<string> {
    await until(`container ${c.id} to stop`, async () => {
      const r = await capsa(['state', c.id]);
      return r.code === 0 && (JSON.parse(r.stdout) as { status: string }).status === 'stopped' ? true : undefined;
    }, ms);
    return c.output();
  }

  return { runIn, runOk, withCreated, withRunning, waitStopped };
}

/** /proc/<pid>/status fields as a map ("CapEff" -> "0000000000000000"). */
export function procStatus(pid: number | 'self'): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of fs.readFileSync(`/proc/${pid}/status`, 'utf8').split('\n')) {
    const i = line.indexOf(':');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  return out;
}

/** "Key:\tvalue" lines (testinit caps/nnp/seccomp output) as a map. */
export function statusLines(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const i = line.indexOf(':');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  return out;
}

/** A capability mask as /proc/PID/status prints it. */
export const hexMask = (mask: bigint): string => mask.toString(16).padStart(16, '0');
