// LD_PRELOAD shim: writes to Redis's append-only files stay in this
// process's memory until fsync/fdatasync, so SIGKILL loses exactly what an
// operating-system crash would (the data not yet synced to disk).
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAXFD 4096
static struct { int known, aof; char *buf; size_t len, cap; } fds[MAXFD];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static ssize_t (*real_write)(int, const void *, size_t);
static int (*real_fsync)(int), (*real_fdatasync)(int), (*real_close)(int);

static void init(void) {
  if (!real_write) {
    real_write = dlsym(RTLD_NEXT, "write");
    real_fsync = dlsym(RTLD_NEXT, "fsync");
    real_fdatasync = dlsym(RTLD_NEXT, "fdatasync");
    real_close = dlsym(RTLD_NEXT, "close");
  }
}

static int is_aof(int fd) {
  if (fd < 0 || fd >= MAXFD) return 0;
  // fds closed through libc internals (fclose) are not seen by close(): only a positive answer is cached
  if (!fds[fd].known || !fds[fd].aof) {
    char link[64], path[1024];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    path[n > 0 ? n : 0] = 0;
    fds[fd].aof = n > 0 && strstr(path, ".aof") != NULL && strstr(path, "manifest") == NULL && strstr(path, "temp") == NULL;
    fds[fd].known = 1;
  }
  return fds[fd].aof;
}

static void flush(int fd) {
  size_t off = 0;
  while (off < fds[fd].len) {
    ssize_t w = real_write(fd, fds[fd].buf + off, fds[fd].len - off);
    if (w <= 0) break;
    off += (size_t)w;
  }
  fds[fd].len = 0;
}

ssize_t write(int fd, const void *b, size_t n) {
  init();
  pthread_mutex_lock(&mu);
  if (is_aof(fd)) {
    if (fds[fd].len + n > fds[fd].cap) {
      fds[fd].cap = (fds[fd].len + n) * 2;
      fds[fd].buf = realloc(fds[fd].buf, fds[fd].cap);
    }
    memcpy(fds[fd].buf + fds[fd].len, b, n);
    fds[fd].len += n;
    pthread_mutex_unlock(&mu);
    return (ssize_t)n;
  }
  pthread_mutex_unlock(&mu);
  return real_write(fd, b, n);
}

static int synced(int fd, int (*real)(int)) {
  init();
  pthread_mutex_lock(&mu);
  if (fd >= 0 && fd < MAXFD && fds[fd].aof) flush(fd);
  pthread_mutex_unlock(&mu);
  return real(fd);
}
int fsync(int fd) { init(); return synced(fd, real_fsync); }
int fdatasync(int fd) { init(); return synced(fd, real_fdatasync); }

int close(int fd) {
  init();
  pthread_mutex_lock(&mu);
  if (fd >= 0 && fd < MAXFD) {
    if (fds[fd].aof) flush(fd);
    fds[fd].known = 0;
    fds[fd].aof = 0;
  }
  pthread_mutex_unlock(&mu);
  return real_close(fd);
}
