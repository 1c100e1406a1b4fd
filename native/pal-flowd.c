/*
 * pal-flowd: the kernel side of Palisade's flow log. Runs inside the node's network namespace and turns
 * two netlink multicast streams into one compact JSON object per line on stdout:
 *
 *   nflog (NETLINK_NETFILTER, subsystem ULOG): every packet a Deny/Reject/isolation rule dropped (group
 *     101) or a Log rule copied (group 100), with the rule's prefix and the first bytes of the packet;
 *     {"source":"nflog","group":101,"prefix":"pal deny I ...","family":4,"src":"10.0.1.2",
 *      "dst":"10.0.2.3","proto":6,"sport":40000,"dport":81,"ts":1700000000123,"in":"veth1","out":"veth2"}
 *   conntrack NEW events (subsystem CTNETLINK, group NFNLGRP_CONNTRACK_NEW): conntrack confirms an entry
 *     only after the first packet passed every hook, so a NEW event is exactly "this connection was
 *     allowed", at no per-packet cost in the rule set;
 *     {"source":"ct-new","family":4,"src":...,"dst":...,"proto":6,"sport":...,"dport":80,"ts":...,"id":N}
 *     plus "fromHost":true when the source is an address of this netns (the node opened it);
 *
 * Other lines: {"ready":true,...} once both sockets are set up, {"error":"..."} for a socket that could not
 * be set up (the other one keeps running), {"lost":N,"source":"nflog|ct-new"} after the kernel reported
 * that N socket overruns (ENOBUFS) lost events: a flood makes us lose events, never crash or grow.
 * Backpressure: when the reader is slow, stdout blocks, the socket buffers fill and the kernel drops (and
 * tells us), so memory on both sides stays bounded.
 *
 * Usage: pal-flowd [--nflog GROUP]... [--no-ct] [--copy BYTES]   (default: --nflog 100 --nflog 101)
 * Exits when stdin closes or the parent dies. Needs CAP_NET_ADMIN. Only libc and the kernel headers.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netfilter/nfnetlink_log.h>
#include <linux/netlink.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_GROUPS 8
#define RCVBUF (8 * 1024 * 1024)
#define RECV_SIZE (256 * 1024)

static char out[1 << 16];
static size_t outlen;

static void flush_out(void) {
  size_t off = 0;
  while (off < outlen) {
    ssize_t n = write(STDOUT_FILENO, out + off, outlen - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      exit(0); /* the reader is gone */
    }
    off += (size_t)n;
  }
  outlen = 0;
}

static void emit(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void emit(const char *fmt, ...) {
  if (outlen > sizeof(out) - 1024) flush_out();
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(out + outlen, sizeof(out) - outlen, fmt, ap);
  va_end(ap);
  if (n > 0 && (size_t)n < sizeof(out) - outlen) outlen += (size_t)n;
}

/* A JSON string body: printable ASCII as is, everything else escaped; at most `max` input bytes. */
static void emit_str(const char *s, size_t max) {
  if (outlen > sizeof(out) - 1024) flush_out();
  for (size_t i = 0; i < max && s[i] != '\0'; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') {
      out[outlen++] = '\\';
      out[outlen++] = (char)c;
    } else if (c < 0x20 || c >= 0x7f) {
      outlen += (size_t)snprintf(out + outlen, 8, "\\u%04x", c);
    } else {
      out[outlen++] = (char)c;
    }
  }
}

static long long realtime_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- netlink plumbing ---- */

static int nl_open(void) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
  if (fd < 0) return -1;
  int size = RCVBUF;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
  struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
  if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

struct req {
  struct nlmsghdr nh;
  struct nfgenmsg nf;
  char attrs[64];
};

static void req_init(struct req *r, uint16_t type, uint8_t family, uint16_t res_id) {
  memset(r, 0, sizeof(*r));
  r->nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct nfgenmsg));
  r->nh.nlmsg_type = type;
  r->nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
  r->nf.nfgen_family = family;
  r->nf.version = NFNETLINK_V0;
  r->nf.res_id = htons(res_id);
}

static void req_attr(struct req *r, uint16_t type, const void *data, size_t len) {
  struct nlattr *a = (struct nlattr *)((char *)r + NLMSG_ALIGN(r->nh.nlmsg_len));
  a->nla_type = type;
  a->nla_len = (uint16_t)(NLA_HDRLEN + len);
  memcpy((char *)a + NLA_HDRLEN, data, len);
  r->nh.nlmsg_len = NLMSG_ALIGN(r->nh.nlmsg_len) + NLA_ALIGN(a->nla_len);
}

/* Sends one request and waits for its ACK; returns 0 or a positive errno. */
static int nl_talk(int fd, struct req *r) {
  static uint32_t seq;
  r->nh.nlmsg_seq = ++seq;
  if (send(fd, r, r->nh.nlmsg_len, 0) < 0) return errno;
  char buf[4096];
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    int len = (int)n;
    for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
      if (h->nlmsg_type == NLMSG_ERROR && h->nlmsg_seq == seq) {
        struct nlmsgerr *e = NLMSG_DATA(h);
        return -e->error;
      }
    }
  }
}

static int nflog_open(const int *groups, int ngroups, unsigned copy) {
  int fd = nl_open();
  if (fd < 0) {
    int err = errno;
    emit("{\"error\":\"nflog: socket: %s\"}\n", strerror(err));
    return -err;
  }
  struct req r;
  /* PF_(UN)BIND is a no-op on kernels >= 3.17 but older ones need it; errors are ignored. */
  int families[] = {AF_INET, AF_INET6};
  for (int i = 0; i < 2; i++) {
    struct nfulnl_msg_config_cmd cmd = {.command = NFULNL_CFG_CMD_PF_BIND};
    req_init(&r, (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_CONFIG, (uint8_t)families[i], 0);
    req_attr(&r, NFULA_CFG_CMD, &cmd, sizeof(cmd));
    nl_talk(fd, &r);
  }
  for (int i = 0; i < ngroups; i++) {
    struct nfulnl_msg_config_cmd cmd = {.command = NFULNL_CFG_CMD_BIND};
    req_init(&r, (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_CONFIG, AF_UNSPEC, (uint16_t)groups[i]);
    req_attr(&r, NFULA_CFG_CMD, &cmd, sizeof(cmd));
    int err = nl_talk(fd, &r);
    if (err != 0) {
      emit("{\"error\":\"nflog group %d: bind: %s\"}\n", groups[i], strerror(err));
      close(fd);
      return -err;
    }
    struct nfulnl_msg_config_mode mode = {.copy_range = htonl(copy), .copy_mode = NFULNL_COPY_PACKET};
    /* Deliver within 100ms or 32 packets, whichever first: batching keeps a flood cheap. */
    uint32_t timeout = htonl(10), qthresh = htonl(32);
    req_init(&r, (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_CONFIG, AF_UNSPEC, (uint16_t)groups[i]);
    req_attr(&r, NFULA_CFG_MODE, &mode, sizeof(mode));
    req_attr(&r, NFULA_CFG_TIMEOUT, &timeout, sizeof(timeout));
    req_attr(&r, NFULA_CFG_QTHRESH, &qthresh, sizeof(qthresh));
    err = nl_talk(fd, &r);
    if (err != 0) {
      emit("{\"error\":\"nflog group %d: config: %s\"}\n", groups[i], strerror(err));
      close(fd);
      return -err;
    }
  }
  return fd;
}

static int ct_open(void) {
  int fd = nl_open();
  if (fd < 0) return -errno;
  int group = NFNLGRP_CONNTRACK_NEW;
  if (setsockopt(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &group, sizeof(group)) < 0) {
    int err = errno;
    close(fd);
    return -err;
  }
  return fd;
}

/* ---- parsing ---- */

struct flow {
  int family;
  char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];
  int proto, sport, dport, icmp_type, icmp_code; /* -1: absent */
};

static void flow_init(struct flow *f) {
  memset(f, 0, sizeof(*f));
  f->proto = f->sport = f->dport = f->icmp_type = f->icmp_code = -1;
}

static int has_ports(int proto) { return proto == 6 || proto == 17 || proto == 132 || proto == 136; }

static void l4(struct flow *f, const uint8_t *p, size_t len) {
  if (has_ports(f->proto) && len >= 4) {
    f->sport = (p[0] << 8) | p[1];
    f->dport = (p[2] << 8) | p[3];
  } else if ((f->proto == 1 || f->proto == 58) && len >= 2) {
    f->icmp_type = p[0];
    f->icmp_code = p[1];
  }
}

/* IPv4/IPv6 header + the first bytes of TCP/UDP/SCTP/ICMP; 0 when it is not an IP packet we can read. */
static int parse_packet(struct flow *f, const uint8_t *p, size_t len) {
  if (len < 1) return 0;
  int version = p[0] >> 4;
  if (version == 4) {
    if (len < 20) return 0;
    size_t ihl = (size_t)(p[0] & 0x0f) * 4;
    if (ihl < 20 || ihl > len) return 0;
    f->family = 4;
    f->proto = p[9];
    inet_ntop(AF_INET, p + 12, f->src, sizeof(f->src));
    inet_ntop(AF_INET, p + 16, f->dst, sizeof(f->dst));
    int fragoff = ((p[6] & 0x1f) << 8) | p[7];
    if (fragoff == 0) l4(f, p + ihl, len - ihl);
    return 1;
  }
  if (version == 6) {
    if (len < 40) return 0;
    f->family = 6;
    inet_ntop(AF_INET6, p + 8, f->src, sizeof(f->src));
    inet_ntop(AF_INET6, p + 24, f->dst, sizeof(f->dst));
    int next = p[6];
    size_t off = 40;
    /* Hop-by-hop, routing, destination options, fragment: skip to the transport header. */
    for (int hops = 0; hops < 8 && (next == 0 || next == 43 || next == 60 || next == 44); hops++) {
      if (off + 8 > len) {
        f->proto = next;
        return 1;
      }
      int following = p[off];
      if (next == 44) {
        int fragoff = ((p[off + 2] << 8) | p[off + 3]) >> 3;
        off += 8;
        next = following;
        if (fragoff != 0) {
          f->proto = next;
          return 1;
        }
      } else {
        off += ((size_t)p[off + 1] + 1) * 8;
        next = following;
      }
    }
    f->proto = next;
    if (off <= len) l4(f, p + off, len - off);
    return 1;
  }
  return 0;
}

static void emit_flow(const struct flow *f) {
  emit("\"family\":%d,\"src\":\"%s\",\"dst\":\"%s\",\"proto\":%d", f->family, f->src, f->dst, f->proto);
  if (f->sport >= 0) emit(",\"sport\":%d,\"dport\":%d", f->sport, f->dport);
  if (f->icmp_type >= 0) emit(",\"icmpType\":%d,\"icmpCode\":%d", f->icmp_type, f->icmp_code);
}

static void emit_ifname(const char *key, const struct nlattr *a) {
  if (a == NULL || a->nla_len < NLA_HDRLEN + 4) return;
  uint32_t index = ntohl(*(const uint32_t *)((const char *)a + NLA_HDRLEN));
  char name[IF_NAMESIZE];
  if (if_indextoname(index, name) != NULL) {
    emit(",\"%s\":\"", key);
    emit_str(name, sizeof(name));
    emit("\"");
  } else {
    emit(",\"%s\":\"if%u\"", key, index);
  }
}

#define ATTR_MAX 32

/* Attributes of one level, indexed by type (nested flag masked); later duplicates win. */
static void parse_attrs(const struct nlattr **tb, const char *p, int len) {
  memset(tb, 0, sizeof(*tb) * ATTR_MAX);
  while (len >= NLA_HDRLEN) {
    const struct nlattr *a = (const struct nlattr *)p;
    if (a->nla_len < NLA_HDRLEN || a->nla_len > len) return;
    int type = a->nla_type & NLA_TYPE_MASK;
    if (type < ATTR_MAX) tb[type] = a;
    int step = NLA_ALIGN(a->nla_len);
    p += step;
    len -= step;
  }
}

static const void *payload(const struct nlattr *a) { return (const char *)a + NLA_HDRLEN; }
static int plen(const struct nlattr *a) { return a->nla_len - NLA_HDRLEN; }

static void on_nflog(const struct nlmsghdr *h) {
  if ((h->nlmsg_type & 0xff) != NFULNL_MSG_PACKET) return;
  if (h->nlmsg_len < NLMSG_LENGTH(sizeof(struct nfgenmsg))) return;
  const struct nfgenmsg *nf = NLMSG_DATA(h);
  const struct nlattr *tb[ATTR_MAX];
  parse_attrs(tb, (const char *)nf + NLA_ALIGN(sizeof(*nf)), (int)h->nlmsg_len - NLMSG_LENGTH(sizeof(*nf)));
  struct flow f;
  flow_init(&f);
  if (tb[NFULA_PAYLOAD] == NULL || !parse_packet(&f, payload(tb[NFULA_PAYLOAD]), (size_t)plen(tb[NFULA_PAYLOAD])))
    return;
  long long ts = realtime_ms();
  if (tb[NFULA_TIMESTAMP] != NULL && plen(tb[NFULA_TIMESTAMP]) >= 16) {
    const struct nfulnl_msg_packet_timestamp *t = payload(tb[NFULA_TIMESTAMP]);
    long long sec = (long long)be64toh(t->sec), usec = (long long)be64toh(t->usec);
    if (sec > 0) ts = sec * 1000 + usec / 1000;
  }
  emit("{\"source\":\"nflog\",\"group\":%u,", ntohs(nf->res_id));
  if (tb[NFULA_PREFIX] != NULL) {
    emit("\"prefix\":\"");
    emit_str(payload(tb[NFULA_PREFIX]), (size_t)plen(tb[NFULA_PREFIX]));
    emit("\",");
  }
  emit_flow(&f);
  emit(",\"ts\":%lld", ts);
  emit_ifname("in", tb[NFULA_IFINDEX_INDEV]);
  emit_ifname("out", tb[NFULA_IFINDEX_OUTDEV]);
  emit("}\n");
}

/*
 * Addresses of this netns, refreshed at most every 2s: a connection from one of them was opened by the
 * node itself, which the table never filters (no output hook), so the agent labels it rather than
 * judging it.
 */
#define MAX_ADDRS 256
static char addrs[MAX_ADDRS][INET6_ADDRSTRLEN];
static int naddrs;
static long long addrs_at = -1000000;

static int is_local_address(const char *ip) {
  long long now = realtime_ms();
  if (now - addrs_at > 2000) {
    addrs_at = now;
    naddrs = 0;
    struct ifaddrs *list;
    if (getifaddrs(&list) == 0) {
      for (struct ifaddrs *i = list; i != NULL && naddrs < MAX_ADDRS; i = i->ifa_next) {
        if (i->ifa_addr == NULL) continue;
        int af = i->ifa_addr->sa_family;
        const void *a = af == AF_INET    ? (const void *)&((struct sockaddr_in *)i->ifa_addr)->sin_addr
                        : af == AF_INET6 ? (const void *)&((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr
                                         : NULL;
        if (a != NULL && inet_ntop(af, a, addrs[naddrs], INET6_ADDRSTRLEN) != NULL) naddrs++;
      }
      freeifaddrs(list);
    }
  }
  for (int i = 0; i < naddrs; i++)
    if (strcmp(addrs[i], ip) == 0) return 1;
  return 0;
}

static void on_ct(const struct nlmsghdr *h) {
  if ((h->nlmsg_type >> 8) != NFNL_SUBSYS_CTNETLINK || (h->nlmsg_type & 0xff) != IPCTNL_MSG_CT_NEW) return;
  if (h->nlmsg_len < NLMSG_LENGTH(sizeof(struct nfgenmsg))) return;
  const struct nfgenmsg *nf = NLMSG_DATA(h);
  const struct nlattr *tb[ATTR_MAX], *tuple[ATTR_MAX], *ip[ATTR_MAX], *proto[ATTR_MAX];
  parse_attrs(tb, (const char *)nf + NLA_ALIGN(sizeof(*nf)), (int)h->nlmsg_len - NLMSG_LENGTH(sizeof(*nf)));
  if (tb[CTA_TUPLE_ORIG] == NULL) return;
  parse_attrs(tuple, payload(tb[CTA_TUPLE_ORIG]), plen(tb[CTA_TUPLE_ORIG]));
  if (tuple[CTA_TUPLE_IP] == NULL || tuple[CTA_TUPLE_PROTO] == NULL) return;
  parse_attrs(ip, payload(tuple[CTA_TUPLE_IP]), plen(tuple[CTA_TUPLE_IP]));
  parse_attrs(proto, payload(tuple[CTA_TUPLE_PROTO]), plen(tuple[CTA_TUPLE_PROTO]));
  struct flow f;
  flow_init(&f);
  if (ip[CTA_IP_V4_SRC] != NULL && ip[CTA_IP_V4_DST] != NULL && plen(ip[CTA_IP_V4_SRC]) >= 4 &&
      plen(ip[CTA_IP_V4_DST]) >= 4) {
    f.family = 4;
    inet_ntop(AF_INET, payload(ip[CTA_IP_V4_SRC]), f.src, sizeof(f.src));
    inet_ntop(AF_INET, payload(ip[CTA_IP_V4_DST]), f.dst, sizeof(f.dst));
  } else if (ip[CTA_IP_V6_SRC] != NULL && ip[CTA_IP_V6_DST] != NULL && plen(ip[CTA_IP_V6_SRC]) >= 16 &&
             plen(ip[CTA_IP_V6_DST]) >= 16) {
    f.family = 6;
    inet_ntop(AF_INET6, payload(ip[CTA_IP_V6_SRC]), f.src, sizeof(f.src));
    inet_ntop(AF_INET6, payload(ip[CTA_IP_V6_DST]), f.dst, sizeof(f.dst));
  } else {
    return;
  }
  if (proto[CTA_PROTO_NUM] == NULL) return;
  f.proto = *(const uint8_t *)payload(proto[CTA_PROTO_NUM]);
  if (proto[CTA_PROTO_SRC_PORT] != NULL && proto[CTA_PROTO_DST_PORT] != NULL) {
    f.sport = ntohs(*(const uint16_t *)payload(proto[CTA_PROTO_SRC_PORT]));
    f.dport = ntohs(*(const uint16_t *)payload(proto[CTA_PROTO_DST_PORT]));
  }
  int type = f.family == 4 ? CTA_PROTO_ICMP_TYPE : CTA_PROTO_ICMPV6_TYPE;
  int code = f.family == 4 ? CTA_PROTO_ICMP_CODE : CTA_PROTO_ICMPV6_CODE;
  if (proto[type] != NULL && proto[code] != NULL) {
    f.icmp_type = *(const uint8_t *)payload(proto[type]);
    f.icmp_code = *(const uint8_t *)payload(proto[code]);
  }
  emit("{\"source\":\"ct-new\",");
  emit_flow(&f);
  emit(",\"ts\":%lld", realtime_ms());
  if (is_local_address(f.src)) emit(",\"fromHost\":true");
  if (tb[CTA_ID] != NULL && plen(tb[CTA_ID]) >= 4) emit(",\"id\":%u", ntohl(*(const uint32_t *)payload(tb[CTA_ID])));
  emit("}\n");
}

/* Reads what the socket holds; on overrun reports a loss and goes on. */
static void drain(int fd, const char *source, void (*on)(const struct nlmsghdr *)) {
  static char buf[RECV_SIZE];
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == ENOBUFS) {
        emit("{\"lost\":1,\"source\":\"%s\"}\n", source);
        continue;
      }
      return; /* EAGAIN: empty */
    }
    int len = (int)n;
    for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
      if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR || h->nlmsg_type == NLMSG_NOOP) continue;
      on(h);
    }
    if (outlen > sizeof(out) / 2) flush_out();
  }
}

static void usage(void) {
  fprintf(stderr, "usage: pal-flowd [--nflog GROUP]... [--no-ct] [--copy BYTES]\n");
  exit(2);
}

int main(int argc, char **argv) {
  int groups[MAX_GROUPS], ngroups = 0, want_ct = 1;
  unsigned copy = 128;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--nflog") == 0 && i + 1 < argc && ngroups < MAX_GROUPS) {
      char *end;
      long g = strtol(argv[++i], &end, 10);
      if (*end != '\0' || g < 0 || g > 65535) usage();
      groups[ngroups++] = (int)g;
    } else if (strcmp(argv[i], "--no-ct") == 0) {
      want_ct = 0;
    } else if (strcmp(argv[i], "--copy") == 0 && i + 1 < argc) {
      char *end;
      long c = strtol(argv[++i], &end, 10);
      if (*end != '\0' || c < 40 || c > 65535) usage();
      copy = (unsigned)c;
    } else {
      usage();
    }
  }
  if (ngroups == 0) {
    groups[ngroups++] = 100;
    groups[ngroups++] = 101;
  }
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (getppid() == 1) return 0; /* the parent died before prctl */
  signal(SIGPIPE, SIG_DFL);

  int nflog = nflog_open(groups, ngroups, copy);
  int ct = want_ct ? ct_open() : -1;
  if (want_ct && ct < 0) emit("{\"error\":\"conntrack events: %s\"}\n", strerror(-ct));
  emit("{\"ready\":true,\"nflog\":%s,\"ct\":%s,\"groups\":[", nflog >= 0 ? "true" : "false",
       ct >= 0 ? "true" : "false");
  for (int i = 0; i < ngroups; i++) emit("%s%d", i == 0 ? "" : ",", groups[i]);
  emit("]}\n");
  flush_out();
  if (nflog < 0 && ct < 0) return 1;

  struct pollfd fds[3] = {
      {.fd = STDIN_FILENO, .events = POLLIN},
      {.fd = nflog, .events = POLLIN},
      {.fd = ct, .events = POLLIN},
  };
  for (;;) {
    int n = poll(fds, 3, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      return 1;
    }
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      char b[256];
      ssize_t r = read(STDIN_FILENO, b, sizeof(b));
      if (r <= 0) break; /* stdin closed: the agent is done with us */
    }
    if (nflog >= 0 && (fds[1].revents & (POLLIN | POLLERR))) drain(nflog, "nflog", on_nflog);
    if (ct >= 0 && (fds[2].revents & (POLLIN | POLLERR))) drain(ct, "ct-new", on_ct);
    flush_out();
  }
  flush_out();
  return 0;
}
