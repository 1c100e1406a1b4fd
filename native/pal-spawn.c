/*
 * pal-spawn: starts the CNI server's commands (`ip -batch`, `nsenter … ip -batch`) so the server does not
 * have to. Node's child_process.spawn forks the whole Node process on the event loop's thread: the cost
 * grows with its memory (1.6 ms at 50 MB, 17 ms at 450 MB measured here), and 200 parallel ADDs spent
 * 40% of the server's time inside it. This helper is a few hundred kB, stays running beside the server,
 * and starts each command with posix_spawnp (vfork+exec in glibc), so a command costs the server one
 * write and one read on a pipe.
 *
 * Protocol on stdin/stdout, any number of requests in flight, replies in completion order:
 *   request: "<id> <argc> <stdinBytes>\n", argc NUL-terminated arguments, then the stdin bytes;
 *   reply:   "<id> <status> <stdoutBytes> <stderrBytes>\n", stdout, stderr. status is the exit code,
 *            128+N for a child killed by signal N, or -1 when the command could not be started (stderr
 *            then says why).
 * At most MAX_CHILDREN run at once; further requests wait in the pipe. EOF on stdin: finish the running
 * commands, then exit.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define MAX_CHILDREN 128
#define MAX_ARGS 256
#define MAX_INPUT (16u << 20)

struct buf {
  char *p;
  size_t n, cap;
};

struct child {
  int used;
  unsigned long id;
  pid_t pid;
  int in, out, err;
  char *input;
  size_t in_len, in_off;
  struct buf o, e;
};

static struct child children[MAX_CHILDREN];
static int running;

static void die(const char *what) {
  fprintf(stderr, "pal-spawn: %s: %s\n", what, strerror(errno));
  exit(2);
}

static void append(struct buf *b, const char *p, size_t n) {
  if (b->n + n > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->n + n) cap *= 2;
    char *q = realloc(b->p, cap);
    if (!q) die("out of memory");
    b->p = q;
    b->cap = cap;
  }
  memcpy(b->p + b->n, p, n);
  b->n += n;
}

static void write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      die("write to server");
    }
    p += w;
    n -= (size_t)w;
  }
}

static void reply(unsigned long id, int status, const char *out, size_t out_len, const char *err,
                  size_t err_len) {
  char head[96];
  int h = snprintf(head, sizeof head, "%lu %d %zu %zu\n", id, status, out_len, err_len);
  write_all(1, head, (size_t)h);
  write_all(1, out, out_len);
  write_all(1, err, err_len);
}

static void close_fd(int *fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

/* Starts argv with `input` on its stdin; on failure replies at once with status -1. */
static void start(unsigned long id, char **argv, const char *input, size_t in_len) {
  struct child *c = NULL;
  for (int i = 0; i < MAX_CHILDREN && !c; i++)
    if (!children[i].used) c = &children[i];
  if (!c) {
    fprintf(stderr, "pal-spawn: no free slot\n"); /* parse_requests starts only below MAX_CHILDREN */
    exit(2);
  }
  int pin[2] = {-1, -1}, pout[2] = {-1, -1}, perr[2] = {-1, -1};
  if (pipe2(pin, O_CLOEXEC) < 0 || pipe2(pout, O_CLOEXEC) < 0 || pipe2(perr, O_CLOEXEC) < 0) {
    const char *msg = strerror(errno);
    for (int i = 0; i < 2; i++) {
      close_fd(&pin[i]);
      close_fd(&pout[i]);
      close_fd(&perr[i]);
    }
    reply(id, -1, "", 0, msg, strlen(msg));
    return;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, pin[0], 0);
  posix_spawn_file_actions_adddup2(&fa, pout[1], 1);
  posix_spawn_file_actions_adddup2(&fa, perr[1], 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, def;
  sigemptyset(&none);
  sigemptyset(&def);
  sigaddset(&def, SIGPIPE); /* ignored here, but the commands expect the default */
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &def);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid;
  int rc = posix_spawnp(&pid, argv[0], &fa, &attr, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  close(pin[0]);
  close(pout[1]);
  close(perr[1]);
  if (rc != 0) {
    char msg[512];
    int n = snprintf(msg, sizeof msg, "spawn %s: %s\n", argv[0], strerror(rc));
    close(pin[1]);
    close(pout[0]);
    close(perr[0]);
    reply(id, -1, "", 0, msg, (size_t)n);
    return;
  }
  memset(c, 0, sizeof *c);
  c->used = 1;
  c->id = id;
  c->pid = pid;
  c->in = pin[1];
  c->out = pout[0];
  c->err = perr[0];
  fcntl(c->in, F_SETFL, O_NONBLOCK);
  if (in_len > 0) {
    c->input = malloc(in_len);
    if (!c->input) die("out of memory");
    memcpy(c->input, input, in_len);
    c->in_len = in_len;
  } else {
    close_fd(&c->in);
  }
  running++;
}

/* Once both output pipes hit EOF the command has exited (or closed them): reap it and reply. */
static void finish_if_done(struct child *c) {
  if (c->out >= 0 || c->err >= 0) return;
  close_fd(&c->in);
  int st = 0;
  while (waitpid(c->pid, &st, 0) < 0 && errno == EINTR) {
  }
  int status = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : 1;
  reply(c->id, status, c->o.p ? c->o.p : "", c->o.n, c->e.p ? c->e.p : "", c->e.n);
  free(c->input);
  free(c->o.p);
  free(c->e.p);
  memset(c, 0, sizeof *c);
  running--;
}

static void drain(int *fd, struct buf *b) {
  char chunk[16384];
  ssize_t r = read(*fd, chunk, sizeof chunk);
  if (r > 0) {
    append(b, chunk, (size_t)r);
  } else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
    close_fd(fd);
  }
}

/* Starts every complete request at the front of `req` while a slot is free; returns bytes consumed. */
static size_t parse_requests(const char *p, size_t n) {
  size_t used = 0;
  while (running < MAX_CHILDREN) {
    const char *s = p + used;
    size_t left = n - used;
    const char *nl = memchr(s, '\n', left);
    if (!nl) break;
    unsigned long id;
    unsigned argc;
    size_t in_len;
    if (sscanf(s, "%lu %u %zu", &id, &argc, &in_len) != 3 || argc == 0 || argc >= MAX_ARGS ||
        in_len > MAX_INPUT) {
      fprintf(stderr, "pal-spawn: malformed request header\n");
      exit(2);
    }
    const char *q = nl + 1;
    const char *end = s + left;
    char *argv[MAX_ARGS];
    unsigned i = 0;
    for (; i < argc; i++) {
      const char *z = memchr(q, 0, (size_t)(end - q));
      if (!z) break;
      argv[i] = (char *)q;
      q = z + 1;
    }
    if (i < argc || (size_t)(end - q) < in_len) break;
    argv[argc] = NULL;
    start(id, argv, q, in_len);
    used = (size_t)(q + in_len - p);
  }
  return used;
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  struct buf req = {0};
  int stdin_open = 1;
  struct pollfd fds[1 + 3 * MAX_CHILDREN];
  struct child *owner[1 + 3 * MAX_CHILDREN];
  for (;;) {
    size_t used = parse_requests(req.p ? req.p : "", req.n);
    if (used > 0) {
      memmove(req.p, req.p + used, req.n - used);
      req.n -= used;
    }
    if (!stdin_open && running == 0) return 0;
    int nfds = 0;
    if (stdin_open && running < MAX_CHILDREN) {
      fds[nfds] = (struct pollfd){.fd = 0, .events = POLLIN};
      owner[nfds++] = NULL;
    }
    for (int i = 0; i < MAX_CHILDREN; i++) {
      struct child *c = &children[i];
      if (!c->used) continue;
      if (c->in >= 0) {
        fds[nfds] = (struct pollfd){.fd = c->in, .events = POLLOUT};
        owner[nfds++] = c;
      }
      if (c->out >= 0) {
        fds[nfds] = (struct pollfd){.fd = c->out, .events = POLLIN};
        owner[nfds++] = c;
      }
      if (c->err >= 0) {
        fds[nfds] = (struct pollfd){.fd = c->err, .events = POLLIN};
        owner[nfds++] = c;
      }
    }
    if (nfds == 0) continue; /* slots full of nothing cannot happen; parse again */
    if (poll(fds, (nfds_t)nfds, -1) < 0) {
      if (errno == EINTR) continue;
      die("poll");
    }
    for (int k = 0; k < nfds; k++) {
      if (fds[k].revents == 0) continue;
      struct child *c = owner[k];
      if (!c) {
        char chunk[65536];
        ssize_t r = read(0, chunk, sizeof chunk);
        if (r > 0)
          append(&req, chunk, (size_t)r);
        else if (r == 0 || errno != EINTR)
          stdin_open = 0;
        continue;
      }
      if (fds[k].fd == c->in) {
        ssize_t w = write(c->in, c->input + c->in_off, c->in_len - c->in_off);
        if (w > 0) c->in_off += (size_t)w;
        /* EPIPE: the command exited without reading its input; its status says the rest. */
        if (c->in_off == c->in_len || (w < 0 && errno != EAGAIN && errno != EINTR)) close_fd(&c->in);
      } else if (fds[k].fd == c->out) {
        drain(&c->out, &c->o);
      } else if (fds[k].fd == c->err) {
        drain(&c->err, &c->e);
      }
    }
    for (int i = 0; i < MAX_CHILDREN; i++)
      if (children[i].used) finish_if_done(&children[i]);
  }
}
