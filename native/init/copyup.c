/*
 * tmpcopyup: fill a fresh tmpfs with what the image had at its mount point
 * (runc's extension, used by podman for --tmpfs and --read-only). Copies a
 * tree between two directory fds without following symlinks and without
 * allocating: getdents64 into a stack buffer, file data through a static one.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "init.h"

struct linux_dirent64 {
  uint64_t d_ino;
  int64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[];
};

static char data[65536];

static void copy_file(int src_dir, int dst_dir, const char *name, const struct stat *st) {
  int in = openat(src_dir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (in < 0) die(errno, "tmpcopyup: open %s", name);
  int out = openat(dst_dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, st->st_mode & 07777);
  if (out < 0) die(errno, "tmpcopyup: create %s", name);
  ssize_t n;
  while ((n = read(in, data, sizeof data)) > 0) {
    char *p = data;
    while (n > 0) {
      ssize_t w = write(out, p, (size_t)n);
      if (w < 0) die(errno, "tmpcopyup: write %s", name);
      p += w;
      n -= w;
    }
  }
  if (n < 0) die(errno, "tmpcopyup: read %s", name);
  if (fchown(out, st->st_uid, st->st_gid) < 0 || fchmod(out, st->st_mode & 07777) < 0) die(errno, "tmpcopyup: owner of %s", name);
  close(in);
  close(out);
}

void copy_tree(int src_dir, int dst_dir, int depth) {
  char buf[4096];
  if (depth > 64) die(ELOOP, "tmpcopyup: tree deeper than 64 levels");
  for (;;) {
    long n = syscall(SYS_getdents64, src_dir, buf, sizeof buf);
    if (n < 0) die(errno, "tmpcopyup: read directory");
    if (n == 0) return;
    for (long off = 0; off < n;) {
      struct linux_dirent64 *d = (struct linux_dirent64 *)(buf + off);
      off += d->d_reclen;
      const char *name = d->d_name;
      if (!strcmp(name, ".") || !strcmp(name, "..")) continue;
      struct stat st;
      if (fstatat(src_dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0) die(errno, "tmpcopyup: stat %s", name);
      if (S_ISDIR(st.st_mode)) {
        if (mkdirat(dst_dir, name, st.st_mode & 07777) < 0 && errno != EEXIST) die(errno, "tmpcopyup: mkdir %s", name);
        int s = openat(src_dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        int t = openat(dst_dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (s < 0 || t < 0) die(errno, "tmpcopyup: open directory %s", name);
        copy_tree(s, t, depth + 1);
        if (fchown(t, st.st_uid, st.st_gid) < 0 || fchmod(t, st.st_mode & 07777) < 0) die(errno, "tmpcopyup: owner of %s", name);
        close(s);
        close(t);
      } else if (S_ISREG(st.st_mode)) {
        copy_file(src_dir, dst_dir, name, &st);
      } else if (S_ISLNK(st.st_mode)) {
        char target[4096];
        ssize_t len = readlinkat(src_dir, name, target, sizeof target - 1);
        if (len < 0) die(errno, "tmpcopyup: readlink %s", name);
        target[len] = '\0';
        if (symlinkat(target, dst_dir, name) < 0) die(errno, "tmpcopyup: symlink %s", name);
        if (fchownat(dst_dir, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0) die(errno, "tmpcopyup: owner of %s", name);
      } else {
        if (mknodat(dst_dir, name, st.st_mode, st.st_rdev) < 0) die(errno, "tmpcopyup: mknod %s", name);
        if (fchownat(dst_dir, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0) die(errno, "tmpcopyup: owner of %s", name);
      }
    }
  }
}
