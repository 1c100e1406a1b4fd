/*
 * pal-probe: probe servers and probe client for every pod of a Palisade lab, in one process.
 *
 * One process rather than one per pod keeps memory bounded at hundreds of pods: a socket keeps the netns
 * it was created in, so we enter a pod's netns only to create a socket and then return home, and a single
 * epoll loop serves every pod and runs every probe.
 *
 * Line protocol (stdin -> stdout), one command per line, fields separated by single spaces:
 *   serve <id> <netns> <ip> <port> <tcp|udp|sctp> <reply>  ->  served <id>           | error <id> <why>
 *   probe <id> <netns> <ip> <port> <tcp|udp|sctp> <ms>     ->  result <id> ok [reply] | result <id> refused
 *                                                              | result <id> timeout  | error <id> <why>
 * At start it prints `ready sctp=kernel` or `ready sctp=raw`. It exits on stdin EOF or when its parent dies.
 *
 * A TCP probe asks `GET /pal-probe HTTP/1.0` once connected, since a lab pod's TCP ports speak HTTP
 * (src/lab/echo-server.ts answers that path with the pod's name), and reads until EOF. Its reply is the
 * body of an HTTP answer (what follows the first blank line) or, from a server that does not speak HTTP
 * (this program's own `serve ... tcp`), everything it sent.
 * Arguments are ignored: the lab passes `--lab=<id>` only so that its cleanup can tell whose process it is.
 *
 * SCTP without kernel support (CONFIG_IP_SCTP off, while nftables and conntrack still handle SCTP): each
 * netns that serves or probes SCTP gets one raw IPPROTO_SCTP socket. It answers an INIT to a served port
 * with an INIT-ACK (whose state cookie carries the reply text) and to any other port with an ABORT, as a
 * kernel SCTP stack would; a probe sends an INIT and waits for INIT-ACK (ok) or ABORT/ICMP (refused), the
 * way SCTP port scanners do.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef IPPROTO_SCTP
#define IPPROTO_SCTP 132
#endif

#define REPLY_MAX 256
/* an HTTP answer's head comes before the reply */
#define PROBE_BUF 4096
#define LINE_MAX_LEN 1024

enum proto { P_TCP, P_UDP, P_SCTP };
enum kind { K_STDIN, K_LISTEN, K_UDP, K_RAW, K_PROBE };
enum pstate { S_CONNECTING, S_READING, S_RAW_WAIT };

/* Every epoll registration points at one of these; `kind` comes first so the loop can dispatch. */
struct listener {
  int kind, fd, ns;
  char reply[REPLY_MAX];
};

struct netns {
  char name[64];
  int nsfd;
  struct listener *raw; /* raw SCTP socket, kind K_RAW, created on first use */
  uint16_t next_sport;  /* source port of this netns' next UDP or raw SCTP probe */
};

struct sctp_service {
  int ns;
  uint32_t ip; /* network order */
  uint16_t port; /* host order */
  char reply[REPLY_MAX];
};

struct probe {
  int kind, fd;
  char id[64];
  enum proto proto;
  enum pstate state;
  int ns;
  uint32_t dst;
  uint16_t sport, dport;
  uint32_t tag;
  long long deadline;
  size_t len;
  char buf[PROBE_BUF];
  struct probe *prev, *next;
};

static int epfd, home_ns, kernel_sctp;
static struct netns *nss;
static int nns, cap_ns;
static struct sctp_service *services;
static int nservices, cap_services;
static struct probe *inflight;
static uint32_t crc_table[256];
static uint64_t rng_state;

#define SPORT_FIRST 32768
#define SPORT_LAST 60999

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint32_t rnd32(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (uint32_t)(rng_state >> 16);
}

/* CRC32c (Castagnoli, reflected 0x82F63B78) as SCTP requires (RFC 4960 appendix B). */
static void crc_init(void) {
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    crc_table[i] = c;
  }
}

static uint32_t crc32c(const uint8_t *p, size_t n) {
  uint32_t c = 0xFFFFFFFFu;
  while (n--) c = crc_table[(c ^ *p++) & 0xFF] ^ (c >> 8);
  return ~c;
}

/* The checksum goes on the wire least significant byte first. */
static void sctp_set_checksum(uint8_t *pkt, size_t n) {
  memset(pkt + 8, 0, 4);
  uint32_t c = crc32c(pkt, n);
  for (int i = 0; i < 4; i++) pkt[8 + i] = (uint8_t)(c >> (8 * i));
}

static int sctp_checksum_ok(uint8_t *pkt, size_t n) {
  uint8_t saved[4];
  memcpy(saved, pkt + 8, 4);
  sctp_set_checksum(pkt, n);
  int ok = memcmp(saved, pkt + 8, 4) == 0;
  memcpy(pkt + 8, saved, 4);
  return ok;
}

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8), p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)(v >> 16)), put16(p + 2, (uint16_t)v); }
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t get32(const uint8_t *p) { return (uint32_t)get16(p) << 16 | get16(p + 2); }

/* Replies travel as one token on the line protocol. */
static void print_token(const char *s, size_t n) {
  for (size_t i = 0; i < n && s[i]; i++) putchar((unsigned char)s[i] > ' ' && (unsigned char)s[i] < 127 ? s[i] : '?');
}

static void reply_error(const char *id, const char *what, int err) {
  printf("error %s %s:%s\n", id, what, err ? strerror(err) : "");
}

static int netns_index(const char *name) {
  for (int i = 0; i < nns; i++)
    if (strcmp(nss[i].name, name) == 0) return i;
  if (strlen(name) >= sizeof nss[0].name || strchr(name, '/')) {
    errno = EINVAL;
    return -1;
  }
  char path[128];
  snprintf(path, sizeof path, "/run/netns/%s", name);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  if (nns == cap_ns) {
    cap_ns = cap_ns ? cap_ns * 2 : 64;
    nss = realloc(nss, sizeof *nss * (size_t)cap_ns);
    if (!nss) abort();
  }
  struct netns *n = &nss[nns];
  snprintf(n->name, sizeof n->name, "%s", name);
  n->nsfd = fd;
  n->raw = NULL;
  n->next_sport = SPORT_FIRST;
  return nns++;
}

/* A socket belongs to the netns current when it was created; bind/connect later act inside it. */
static int socket_in(int ns, int type, int proto) {
  if (setns(nss[ns].nsfd, CLONE_NEWNET) < 0) return -1;
  int fd = socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
  int saved = errno;
  if (setns(home_ns, CLONE_NEWNET) < 0) {
    perror("pal-probe: setns home");
    exit(1);
  }
  errno = saved;
  return fd;
}

/*
 * A burst of probes answered at once (every destination replying to one source) overflows the default
 * 208 KiB receive buffer of a shared raw or UDP socket, and a dropped answer would read as a timeout.
 */
static void big_rcvbuf(int fd) {
  int size = 4 << 20;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) < 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
}

static int watch(int fd, void *obj, uint32_t events, int op) {
  struct epoll_event ev = {.events = events, .data.ptr = obj};
  return epoll_ctl(epfd, op, fd, &ev);
}

static struct listener *raw_socket(int ns) {
  if (nss[ns].raw) return nss[ns].raw;
  int fd = socket_in(ns, SOCK_RAW, IPPROTO_SCTP);
  if (fd < 0) return NULL;
  int on = 1;
  /* ICMP errors (e.g. a rejecting firewall) must reach the prober as "refused". */
  setsockopt(fd, IPPROTO_IP, IP_RECVERR, &on, sizeof on);
  big_rcvbuf(fd);
  struct listener *l = calloc(1, sizeof *l);
  if (!l) abort();
  l->kind = K_RAW;
  l->fd = fd;
  l->ns = ns;
  watch(fd, l, EPOLLIN, EPOLL_CTL_ADD);
  return nss[ns].raw = l;
}

static int parse_proto(const char *s, enum proto *p) {
  if (strcmp(s, "tcp") == 0) *p = P_TCP;
  else if (strcmp(s, "udp") == 0) *p = P_UDP;
  else if (strcmp(s, "sctp") == 0) *p = P_SCTP;
  else return -1;
  return 0;
}

static void cmd_serve(char *id, char *nsname, char *ip, char *port, char *proto_s, char *reply) {
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port))};
  enum proto proto;
  if (!reply || inet_pton(AF_INET, ip, &sa.sin_addr) != 1 || parse_proto(proto_s, &proto) < 0)
    return reply_error(id, "bad-arguments", 0);
  int ns = netns_index(nsname);
  if (ns < 0) return reply_error(id, "netns", errno);

  if (proto == P_SCTP && !kernel_sctp) {
    if (!raw_socket(ns)) return reply_error(id, "raw-socket", errno);
    for (int i = 0; i < nservices; i++)
      if (services[i].ns == ns && services[i].ip == sa.sin_addr.s_addr && services[i].port == ntohs(sa.sin_port))
        return reply_error(id, "bind", EADDRINUSE);
    if (nservices == cap_services) {
      cap_services = cap_services ? cap_services * 2 : 64;
      services = realloc(services, sizeof *services * (size_t)cap_services);
      if (!services) abort();
    }
    struct sctp_service *s = &services[nservices++];
    s->ns = ns, s->ip = sa.sin_addr.s_addr, s->port = ntohs(sa.sin_port);
    snprintf(s->reply, sizeof s->reply, "%s", reply);
    printf("served %s\n", id);
    return;
  }

  int udp = proto == P_UDP;
  int fd = socket_in(ns, udp ? SOCK_DGRAM : SOCK_STREAM, udp ? IPPROTO_UDP : proto == P_SCTP ? IPPROTO_SCTP : IPPROTO_TCP);
  if (fd < 0) return reply_error(id, "socket", errno);
  int on = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  if (udp) big_rcvbuf(fd);
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || (!udp && listen(fd, 1024) < 0)) {
    int err = errno;
    close(fd);
    return reply_error(id, "bind", err);
  }
  struct listener *l = calloc(1, sizeof *l);
  if (!l) abort();
  l->kind = udp ? K_UDP : K_LISTEN;
  l->fd = fd;
  snprintf(l->reply, sizeof l->reply, "%s", reply);
  watch(fd, l, EPOLLIN, EPOLL_CTL_ADD);
  printf("served %s\n", id);
}

static void release(struct probe *p) {
  if (p->fd >= 0) close(p->fd); /* closing also removes it from epoll */
  if (p->prev) p->prev->next = p->next;
  else inflight = p->next;
  if (p->next) p->next->prev = p->prev;
  free(p);
}

static const char PROBE_REQUEST[] = "GET /pal-probe HTTP/1.0\r\n\r\n";

static void finish(struct probe *p, const char *result) {
  printf("result %s %s", p->id, result);
  const char *reply = p->buf;
  size_t len = p->len;
  if (p->proto == P_TCP && len >= 5 && memcmp(reply, "HTTP/", 5) == 0) {
    const char *body = memmem(reply, len, "\r\n\r\n", 4);
    len = body ? len - (size_t)(body + 4 - reply) : 0;
    reply = body ? body + 4 : reply;
  }
  if (strcmp(result, "ok") == 0 && len > 0) {
    putchar(' ');
    print_token(reply, len < REPLY_MAX ? len : REPLY_MAX - 1);
  }
  putchar('\n');
  release(p);
}

/* Errors that mean the far side or a firewall said no (RST, ICMP unreachable of any code). */
static int is_refusal(int err) {
  return err == ECONNREFUSED || err == EHOSTUNREACH || err == ENETUNREACH || err == ENOPROTOOPT ||
         err == EHOSTDOWN || err == ENONET || err == EACCES || err == EPERM || err == ECONNRESET;
}

static void fail_probe(struct probe *p, const char *what, int err) {
  if (is_refusal(err)) return finish(p, "refused");
  reply_error(p->id, what, err);
  release(p);
}

/*
 * UDP and SCTP probes take their source ports in turn, per netns, rather than at random: a probe then
 * never reuses the 5-tuple of a recent one, whose conntrack entry (30 s for UDP) in a node would still say
 * "established" after the policy changed to deny, and let the new probe through.
 */
static uint16_t take_sport(int ns) {
  uint16_t port = nss[ns].next_sport;
  nss[ns].next_sport = port >= SPORT_LAST ? SPORT_FIRST : port + 1;
  return port;
}

/* Binds a UDP socket to the netns' next free source port (a few tries: another socket may hold one). */
static int bind_next_sport(int fd, int ns) {
  for (int i = 0; i < 64; i++) {
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(take_sport(ns))};
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0) return 0;
    if (errno != EADDRINUSE) return -1;
  }
  return -1;
}

static void send_init(struct probe *p, int fd) {
  uint8_t pkt[32] = {0};
  put16(pkt, p->sport);
  put16(pkt + 2, p->dport);
  /* vtag 0: an INIT carries none (RFC 4960 8.5.1) */
  pkt[12] = 1; /* INIT */
  put16(pkt + 14, 20);
  put32(pkt + 16, p->tag);
  put32(pkt + 20, 65535); /* a_rwnd */
  put16(pkt + 24, 10); /* outbound streams */
  put16(pkt + 26, 65535); /* max inbound streams */
  put32(pkt + 28, rnd32()); /* initial TSN */
  sctp_set_checksum(pkt, sizeof pkt);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = p->dst};
  if (sendto(fd, pkt, sizeof pkt, 0, (struct sockaddr *)&sa, sizeof sa) < 0) fail_probe(p, "send", errno);
}

static void cmd_probe(char *id, char *nsname, char *ip, char *port, char *proto_s, char *ms) {
  struct probe *p = calloc(1, sizeof *p);
  if (!p) abort();
  p->kind = K_PROBE;
  p->fd = -1;
  snprintf(p->id, sizeof p->id, "%s", id);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port))};
  if (!ms || inet_pton(AF_INET, ip, &sa.sin_addr) != 1 || parse_proto(proto_s, &p->proto) < 0) {
    reply_error(id, "bad-arguments", 0);
    return free(p);
  }
  p->ns = netns_index(nsname);
  if (p->ns < 0) {
    reply_error(id, "netns", errno);
    return free(p);
  }
  p->dst = sa.sin_addr.s_addr;
  p->dport = ntohs(sa.sin_port);
  p->deadline = now_ms() + atoll(ms);
  p->next = inflight;
  if (inflight) inflight->prev = p;
  inflight = p;

  if (p->proto == P_SCTP && !kernel_sctp) {
    struct listener *raw = raw_socket(p->ns);
    if (!raw) return fail_probe(p, "raw-socket", errno);
    p->state = S_RAW_WAIT;
    p->sport = take_sport(p->ns);
    do p->tag = rnd32();
    while (p->tag == 0);
    return send_init(p, raw->fd);
  }

  int udp = p->proto == P_UDP;
  p->fd = socket_in(p->ns, udp ? SOCK_DGRAM : SOCK_STREAM,
                    udp ? IPPROTO_UDP : p->proto == P_SCTP ? IPPROTO_SCTP : IPPROTO_TCP);
  if (p->fd < 0) return fail_probe(p, "socket", errno);
  if (udp && bind_next_sport(p->fd, p->ns) < 0) return fail_probe(p, "bind", errno);
  if (connect(p->fd, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS)
    return fail_probe(p, "connect", errno);
  if (udp) {
    p->state = S_READING;
    if (send(p->fd, "probe\n", 6, 0) < 0) return fail_probe(p, "send", errno);
    watch(p->fd, p, EPOLLIN, EPOLL_CTL_ADD);
  } else {
    p->state = S_CONNECTING;
    watch(p->fd, p, EPOLLOUT, EPOLL_CTL_ADD);
  }
}

static void on_probe(struct probe *p) {
  if (p->state == S_CONNECTING) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err) return fail_probe(p, "connect", err);
    /* the request is tiny: it fits in any socket buffer, so one send never blocks */
    if (p->proto == P_TCP && send(p->fd, PROBE_REQUEST, sizeof PROBE_REQUEST - 1, MSG_NOSIGNAL) < 0)
      return finish(p, "ok"); /* connected, then reset: the connection was allowed */
    p->state = S_READING;
    watch(p->fd, p, EPOLLIN | EPOLLRDHUP, EPOLL_CTL_MOD);
    return;
  }
  for (;;) {
    ssize_t n = recv(p->fd, p->buf + p->len, sizeof p->buf - 1 - p->len, 0);
    if (n > 0) {
      p->len += (size_t)n;
      /* a datagram is the whole answer; a stream ends at EOF (or when our buffer is full) */
      if (p->proto == P_UDP || p->len >= sizeof p->buf - 1) return finish(p, "ok");
      continue;
    }
    if (n == 0) return finish(p, "ok");
    if (errno == EAGAIN || errno == EINTR) return;
    if (p->proto != P_UDP) return finish(p, "ok"); /* connected, then reset: the connection was allowed */
    return fail_probe(p, "recv", errno);
  }
}

static void on_listener(struct listener *l) {
  for (int i = 0; i < 64; i++) {
    int c = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (c < 0) return;
    /* the reply fits in any socket buffer, so one write never blocks */
    ssize_t w = write(c, l->reply, strlen(l->reply));
    (void)w;
    close(c);
  }
}

static void on_udp(struct listener *l) {
  for (int i = 0; i < 64; i++) {
    char buf[512];
    struct sockaddr_in from;
    socklen_t fl = sizeof from;
    if (recvfrom(l->fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl) < 0) return;
    sendto(l->fd, l->reply, strlen(l->reply), 0, (struct sockaddr *)&from, fl);
  }
}

static struct probe *find_raw_probe(int ns, uint32_t peer, uint16_t sport, uint16_t dport) {
  for (struct probe *p = inflight; p; p = p->next)
    if (p->state == S_RAW_WAIT && p->ns == ns && p->dst == peer && p->sport == sport && p->dport == dport) return p;
  return NULL;
}

/* Answer an INIT as a kernel SCTP stack would: INIT-ACK if served, else ABORT (vtag = INIT's tag). */
static void answer_init(int ns, int fd, uint32_t src, uint32_t dst, const uint8_t *sctp, size_t n) {
  if (n < 32 || get32(sctp + 4) != 0 || get16(sctp + 14) < 20) return;
  uint16_t sport = get16(sctp), dport = get16(sctp + 2);
  uint32_t peer_tag = get32(sctp + 16);
  const struct sctp_service *svc = NULL;
  for (int i = 0; i < nservices && !svc; i++)
    if (services[i].ns == ns && services[i].port == dport && (services[i].ip == dst || services[i].ip == 0))
      svc = &services[i];

  uint8_t pkt[32 + 4 + REPLY_MAX + 4] = {0};
  size_t len;
  put16(pkt, dport);
  put16(pkt + 2, sport);
  put32(pkt + 4, peer_tag);
  if (svc) {
    /* the cookie is opaque to the peer, so it can carry the reply text, padded with NULs to 4 bytes */
    size_t cookie = (strlen(svc->reply) + 3) & ~(size_t)3;
    pkt[12] = 2; /* INIT-ACK */
    put16(pkt + 14, (uint16_t)(20 + 4 + cookie));
    uint32_t tag;
    do tag = rnd32();
    while (tag == 0);
    put32(pkt + 16, tag);
    put32(pkt + 20, 65535);
    put16(pkt + 24, 10);
    put16(pkt + 26, 10);
    put32(pkt + 28, rnd32());
    put16(pkt + 32, 7); /* State Cookie */
    put16(pkt + 34, (uint16_t)(4 + cookie));
    memcpy(pkt + 36, svc->reply, strlen(svc->reply));
    len = 36 + cookie;
  } else {
    pkt[12] = 6; /* ABORT */
    put16(pkt + 14, 4);
    len = 16;
  }
  sctp_set_checksum(pkt, len);
  /* answer from the address the INIT went to, which matters on a node with several addresses */
  struct sockaddr_in to = {.sin_family = AF_INET, .sin_addr.s_addr = src};
  char cbuf[CMSG_SPACE(sizeof(struct in_pktinfo))] = {0};
  struct iovec iov = {.iov_base = pkt, .iov_len = len};
  struct msghdr msg = {
      .msg_name = &to, .msg_namelen = sizeof to, .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
  struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
  cm->cmsg_level = IPPROTO_IP;
  cm->cmsg_type = IP_PKTINFO;
  cm->cmsg_len = CMSG_LEN(sizeof(struct in_pktinfo));
  ((struct in_pktinfo *)CMSG_DATA(cm))->ipi_spec_dst.s_addr = dst;
  sendmsg(fd, &msg, 0);
}

static void on_raw_packet(int ns, int fd, uint8_t *buf, size_t n) {
  if (n < sizeof(struct iphdr)) return;
  struct iphdr *ip = (struct iphdr *)buf;
  size_t hl = (size_t)ip->ihl * 4;
  if (n < hl + 16) return;
  uint8_t *sctp = buf + hl;
  size_t sn = n - hl;
  if (!sctp_checksum_ok(sctp, sn)) return;
  uint8_t type = sctp[12];
  if (type == 1) return answer_init(ns, fd, ip->saddr, ip->daddr, sctp, sn);
  if (type != 2 && type != 6) return;
  struct probe *p = find_raw_probe(ns, ip->saddr, get16(sctp + 2), get16(sctp));
  if (!p) return;
  uint32_t vtag = get32(sctp + 4);
  int reflected = type == 6 && (sctp[13] & 1) && vtag == 0;
  if (vtag != p->tag && !reflected) return;
  if (type == 6) return finish(p, "refused");
  /* INIT-ACK: the reply text is the state cookie */
  size_t clen = get16(sctp + 14);
  for (size_t off = 32; off + 4 <= sn && off + 4 <= 12 + clen;) {
    size_t plen = get16(sctp + off + 2);
    if (plen < 4 || off + plen > sn) break;
    if (get16(sctp + off) == 7) {
      size_t m = plen - 4 < sizeof p->buf - 1 ? plen - 4 : sizeof p->buf - 1;
      memcpy(p->buf, sctp + off + 4, m);
      p->len = strnlen(p->buf, m);
      break;
    }
    off += (plen + 3) & ~(size_t)3;
  }
  finish(p, "ok");
}

static void on_raw(struct listener *l) {
  int ns = l->ns;
  for (int i = 0; i < 64; i++) {
    uint8_t buf[2048];
    ssize_t n = recv(l->fd, buf, sizeof buf, 0);
    if (n >= 0) {
      on_raw_packet(ns, l->fd, buf, (size_t)n);
      continue;
    }
    if (errno == EAGAIN) break;
    /* a pending ICMP error is reported once by recv; the details are in the error queue below */
  }
  for (int i = 0; i < 64; i++) {
    uint8_t data[64];
    char cbuf[512];
    struct sockaddr_in off;
    struct iovec iov = {.iov_base = data, .iov_len = sizeof data};
    struct msghdr msg = {.msg_name = &off, .msg_namelen = sizeof off, .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
    ssize_t n = recvmsg(l->fd, &msg, MSG_ERRQUEUE);
    if (n < 0) break;
    if (n < 4) continue;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
      if (cm->cmsg_level != IPPROTO_IP || cm->cmsg_type != IP_RECVERR) continue;
      struct sock_extended_err *ee = (struct sock_extended_err *)CMSG_DATA(cm);
      if (ee->ee_origin != SO_EE_ORIGIN_ICMP || ee->ee_type != 3) continue;
      /* data holds the head of our INIT: source port, destination port */
      struct probe *p = find_raw_probe(ns, off.sin_addr.s_addr, get16(data), get16(data + 2));
      if (p) finish(p, "refused");
    }
  }
}

static void handle_line(char *line) {
  char *save = NULL, *f[8] = {0};
  int n = 0;
  for (char *t = strtok_r(line, " \r", &save); t && n < 8; t = strtok_r(NULL, " \r", &save)) f[n++] = t;
  if (n == 0) return;
  if (n == 7 && strcmp(f[0], "serve") == 0) return cmd_serve(f[1], f[2], f[3], f[4], f[5], f[6]);
  if (n == 7 && strcmp(f[0], "probe") == 0) return cmd_probe(f[1], f[2], f[3], f[4], f[5], f[6]);
  reply_error(n > 1 ? f[1] : "-", "bad-command", 0);
}

static int on_stdin(void) {
  static char buf[64 * 1024];
  static size_t len;
  ssize_t n = read(0, buf + len, sizeof buf - len);
  if (n == 0) return 0;
  if (n < 0) return errno == EAGAIN || errno == EINTR;
  len += (size_t)n;
  char *start = buf, *nl;
  while ((nl = memchr(start, '\n', len - (size_t)(start - buf)))) {
    *nl = 0;
    if (nl - start < LINE_MAX_LEN) handle_line(start);
    start = nl + 1;
  }
  len -= (size_t)(start - buf);
  memmove(buf, start, len);
  if (len == sizeof buf) len = 0; /* a line longer than the buffer is garbage; drop it */
  return 1;
}

int main(void) {
  /* if the controlling node process is killed, the prober must not outlive it */
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  signal(SIGPIPE, SIG_IGN);
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  crc_init();
  rng_state = (uint64_t)now_ms() ^ ((uint64_t)getpid() << 32) ^ 0x9E3779B97F4A7C15ull;
  home_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  epfd = epoll_create1(EPOLL_CLOEXEC);
  if (home_ns < 0 || epfd < 0) {
    perror("pal-probe");
    return 1;
  }
  const char *force = getenv("PAL_PROBE_SCTP");
  int s = socket(AF_INET, SOCK_STREAM, IPPROTO_SCTP);
  kernel_sctp = s >= 0 && !(force && strcmp(force, "raw") == 0);
  if (s >= 0) close(s);
  fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
  static int stdin_kind = K_STDIN;
  watch(0, &stdin_kind, EPOLLIN, EPOLL_CTL_ADD);
  printf("ready sctp=%s\n", kernel_sctp ? "kernel" : "raw");
  fflush(stdout);

  for (;;) {
    long long now = now_ms(), wait = 1000;
    for (struct probe *p = inflight; p; p = p->next)
      if (p->deadline - now < wait) wait = p->deadline - now;
    struct epoll_event evs[256];
    int n = epoll_wait(epfd, evs, 256, wait < 0 ? 0 : (int)wait);
    if (n < 0 && errno != EINTR) {
      perror("pal-probe: epoll_wait");
      return 1;
    }
    for (int i = 0; i < n; i++) {
      int *kind = evs[i].data.ptr;
      switch (*kind) {
        case K_STDIN:
          if (!on_stdin()) {
            fflush(stdout);
            return 0;
          }
          break;
        case K_LISTEN: on_listener((struct listener *)kind); break;
        case K_UDP: on_udp((struct listener *)kind); break;
        case K_RAW: on_raw((struct listener *)kind); break;
        case K_PROBE: on_probe((struct probe *)kind); break;
      }
    }
    now = now_ms();
    for (struct probe *p = inflight, *next; p; p = next) {
      next = p->next;
      if (p->deadline <= now) finish(p, "timeout");
    }
    fflush(stdout);
  }
}
