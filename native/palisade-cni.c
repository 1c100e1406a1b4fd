/*
 * palisade-cni: the fast-start CNI plugin executable. A runtime starts a plugin per ADD/DEL; Node would
 * spend ~60-80 ms just starting, so this ~1 ms C program forwards the request (its CNI_* environment and
 * stdin) over a unix socket to the Palisade CNI server (src/cni/server.ts, hosted by the node's agent),
 * which runs the same code as the Node entry, and relays the reply: stdout, stderr, exit code.
 *
 * Socket: $PALISADE_CNI_SOCKET, else /run/palisade/cni.sock. When nothing listens there:
 * $PALISADE_CNI_FALLBACK, if set, else `palisade-node` beside this executable, if present, is exec'd in
 * our place (same argv, environment and stdin: the Node entry), else the CNI error 11 "try again later"
 * is printed, so a node whose agent is down fails closed and the runtime retries. VERSION is answered
 * here, in the cniVersion stdin asks for (SPEC.md "VERSION Success"), as src/cni/version.ts does.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

extern char **environ;

#define SUPPORTED "[\"0.3.0\",\"0.3.1\",\"0.4.0\",\"1.0.0\",\"1.1.0\"]"

static int write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static char *read_all(int fd, size_t *len) {
  size_t cap = 8192, n = 0;
  char *buf = malloc(cap);
  if (!buf) return NULL;
  for (;;) {
    if (n == cap) {
      char *bigger = realloc(buf, cap *= 2);
      if (!bigger) {
        free(buf);
        return NULL;
      }
      buf = bigger;
    }
    ssize_t r = read(fd, buf + n, cap - n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      free(buf);
      return NULL;
    }
    if (r == 0) break;
    n += (size_t)r;
  }
  *len = n;
  return buf;
}

/*
 * The config's cniVersion, found without a JSON parser: the string value of "cniVersion" when it is a
 * version (one to three dot-separated numbers, as version.ts `versionAnswer` accepts), else "1.1.0".
 */
static void config_version(const char *cfg, size_t len, char *out, size_t cap) {
  snprintf(out, cap, "1.1.0");
  const char *key = "\"cniVersion\"";
  const char *p = memmem(cfg, len, key, strlen(key));
  if (!p) return;
  p += strlen(key);
  const char *end = cfg + len;
  while (p < end && (*p == ' ' || *p == ':' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
  if (p >= end || *p != '"') return;
  p++;
  char v[32];
  size_t i = 0;
  int parts = 1, digits = 0;
  for (; p < end && *p != '"'; p++) {
    if (*p >= '0' && *p <= '9') {
      digits++;
    } else if (*p == '.' && digits > 0 && parts < 3) {
      parts++;
      digits = 0;
    } else {
      return;
    }
    if (i + 1 >= sizeof v || i + 1 >= cap) return;
    v[i++] = *p;
  }
  if (p >= end || digits == 0) return;
  v[i] = 0;
  snprintf(out, cap, "%s", v);
}

static int fail(const char *version, int code, const char *msg, const char *details) {
  printf("{\n    \"cniVersion\": \"%s\",\n    \"code\": %d,\n    \"msg\": \"%s\",\n    \"details\": \"%s\"\n}",
         version, code, msg, details);
  return 1;
}

/*
 * `palisade-node` next to this executable, when it is there and executable: the DaemonSet installs the
 * Node entry under that name, and runtimes do not pass plugins an environment we could set
 * PALISADE_CNI_FALLBACK in. With it a node whose agent is down can still DEL, CHECK and GC; ADD still
 * fails closed there, because registering the endpoint needs the agent.
 */
static int sibling_fallback(char *out, size_t cap) {
  ssize_t n = readlink("/proc/self/exe", out, cap - 1);
  if (n <= 0) return 0;
  out[n] = 0;
  char *slash = strrchr(out, '/');
  const char *name = "palisade-node";
  if (!slash || (size_t)(slash + 1 - out) + strlen(name) + 1 > cap) return 0;
  strcpy(slash + 1, name);
  return access(out, X_OK) == 0;
}

int main(int argc, char **argv) {
  (void)argc;
  const char *cmd = getenv("CNI_COMMAND");
  if (cmd && strcmp(cmd, "VERSION") == 0) {
    char version[32] = "1.1.0";
    size_t len = 0;
    char *req = isatty(0) ? NULL : read_all(0, &len);
    if (req) config_version(req, len, version, sizeof version);
    free(req);
    printf("{\"cniVersion\":\"%s\",\"supportedVersions\":" SUPPORTED "}\n", version);
    return 0;
  }
  const char *path = getenv("PALISADE_CNI_SOCKET");
  if (!path || !*path) path = "/run/palisade/cni.sock";

  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof addr.sun_path) return fail("1.1.0", 7, "socket path too long", path);
  strcpy(addr.sun_path, path);
  if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
    int err = errno;
    const char *fallback = getenv("PALISADE_CNI_FALLBACK");
    char sibling[4096];
    if ((!fallback || !*fallback) && sibling_fallback(sibling, sizeof sibling)) fallback = sibling;
    if (fallback && *fallback) {
      execv(fallback, argv);
      err = errno;
    }
    size_t len = 0;
    char *cfg = read_all(0, &len);
    char version[32];
    config_version(cfg ? cfg : "", cfg ? len : 0, version, sizeof version);
    char details[512];
    snprintf(details, sizeof details, "%s: %s; is the palisade agent running on this node?", path, strerror(err));
    return fail(version, 11, "palisade CNI server unreachable", details);
  }

  /* Request: magic, CNI_* variables as KEY=VALUE\0, an empty entry, then stdin. */
  if (write_all(fd, "PALCNI1\n", 8) < 0) return fail("1.1.0", 5, "write to CNI server failed", strerror(errno));
  for (char **e = environ; *e; e++) {
    if (strncmp(*e, "CNI_", 4) != 0) continue;
    if (write_all(fd, *e, strlen(*e) + 1) < 0) return fail("1.1.0", 5, "write to CNI server failed", strerror(errno));
  }
  if (write_all(fd, "", 1) < 0) return fail("1.1.0", 5, "write to CNI server failed", strerror(errno));
  size_t in_len = 0;
  char *in = read_all(0, &in_len);
  if (!in) return fail("1.1.0", 5, "error reading from stdin", strerror(errno));
  if (write_all(fd, in, in_len) < 0) return fail("1.1.0", 5, "write to CNI server failed", strerror(errno));
  shutdown(fd, SHUT_WR);

  /* Reply: "<exit> <stdoutBytes> <stderrBytes>\n", stdout, stderr. */
  size_t len = 0;
  char *reply = read_all(fd, &len);
  char *nl = reply ? memchr(reply, '\n', len) : NULL;
  int code;
  size_t out_len, err_len;
  if (!nl || sscanf(reply, "%d %zu %zu", &code, &out_len, &err_len) != 3 ||
      (size_t)(nl + 1 - reply) + out_len + err_len > len) {
    return fail("1.1.0", 5, "malformed reply from CNI server", path);
  }
  char *body = nl + 1;
  write_all(1, body, out_len);
  write_all(2, body + out_len, err_len);
  return code;
}
