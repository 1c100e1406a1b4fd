/*
 * pal-listen: creates listening TCP sockets inside network namespaces, then execs a command that inherits
 * them, so that one process (the lab's HTTP echo server, a Node program) can serve every pod.
 *
 * Node cannot enter a netns, but a socket keeps the netns it was created in: we enter each pod's netns
 * only to create its socket, return home, and hand the bound, listening socket over across exec.
 *
 *   pal-listen [--lab=<id>] NETNS:IPV4:PORT... -- COMMAND [ARG...]
 *
 * The i-th listener (from 0) is file descriptor 3+i in COMMAND, without close-on-exec; nothing else is
 * inherited besides stdin, stdout and stderr. `--lab=<id>` is ignored: it lets the lab's cleanup tell
 * whose process this is. COMMAND also gets PR_SET_PDEATHSIG(SIGKILL), which survives exec: it dies with
 * the process that started us. Any failure is one line on stderr and exit status 1, before the exec.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

struct ns {
  char name[64];
  int fd;
};

static void fail(const char *spec, const char *what, int err) {
  fprintf(stderr, "pal-listen: %s: %s%s%s\n", spec, what, err ? ": " : "", err ? strerror(err) : "");
  exit(1);
}

int main(int argc, char **argv) {
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0) fail("prctl", "PR_SET_PDEATHSIG", errno);
  /* the parent may already be gone, in which case the signal above never comes */
  if (getppid() == 1) return 1;
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  int first = 1;
  if (first < argc && strncmp(argv[first], "--lab=", 6) == 0) first++;
  int sep = first;
  while (sep < argc && strcmp(argv[sep], "--") != 0) sep++;
  if (sep >= argc - 1) {
    fprintf(stderr, "usage: pal-listen [--lab=<id>] NETNS:IPV4:PORT... -- COMMAND [ARG...]\n");
    return 1;
  }
  int n = sep - first;
  int home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  if (home < 0) fail("/proc/self/ns/net", "open", errno);
  struct ns *nss = calloc((size_t)n + 1, sizeof *nss);
  int *fds = calloc((size_t)n + 1, sizeof *fds);
  if (!nss || !fds) fail("memory", "calloc", errno);
  int nns = 0;

  for (int i = 0; i < n; i++) {
    const char *spec = argv[first + i];
    char buf[160];
    if (strlen(spec) >= sizeof buf) fail(spec, "too long", 0);
    strcpy(buf, spec);
    char *ip = strchr(buf, ':');
    char *port = ip ? strchr(ip + 1, ':') : NULL;
    if (!ip || !port) fail(spec, "expected NETNS:IPV4:PORT", 0);
    *ip++ = 0;
    *port++ = 0;
    char *end;
    long p = strtol(port, &end, 10);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)p)};
    if (*end || p < 1 || p > 65535 || inet_pton(AF_INET, ip, &sa.sin_addr) != 1)
      fail(spec, "expected NETNS:IPV4:PORT", 0);
    if (strlen(buf) >= sizeof nss[0].name || strchr(buf, '/') || !*buf) fail(spec, "bad netns name", 0);

    int k = 0;
    while (k < nns && strcmp(nss[k].name, buf) != 0) k++;
    if (k == nns) {
      char path[128];
      snprintf(path, sizeof path, "/run/netns/%s", buf);
      nss[k].fd = open(path, O_RDONLY | O_CLOEXEC);
      if (nss[k].fd < 0) fail(spec, "netns", errno);
      strcpy(nss[k].name, buf);
      nns++;
    }
    if (setns(nss[k].fd, CLONE_NEWNET) < 0) fail(spec, "setns", errno);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
    int err = errno;
    if (setns(home, CLONE_NEWNET) < 0) fail("home", "setns", errno);
    if (fd < 0) fail(spec, "socket", err);
    int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) fail(spec, "bind", errno);
    if (listen(fd, 1024) < 0) fail(spec, "listen", errno);
    fds[i] = fd;
  }

  /*
   * Move listener i to 3+i. First every one above the whole target range, so that no dup2 below
   * overwrites a listener (or a netns fd) not yet moved; those copies are close-on-exec.
   */
  for (int i = 0; i < n; i++) {
    int high = fcntl(fds[i], F_DUPFD_CLOEXEC, 3 + n + nns + 3);
    if (high < 0) fail("fcntl", "F_DUPFD_CLOEXEC", errno);
    close(fds[i]);
    fds[i] = high;
  }
  for (int i = 0; i < n; i++) {
    if (dup2(fds[i], 3 + i) < 0) fail("dup2", "", errno);
    close(fds[i]);
  }
  execvp(argv[sep + 1], argv + sep + 1);
  fail(argv[sep + 1], "exec", errno);
}
