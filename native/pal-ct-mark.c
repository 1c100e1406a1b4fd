/*
 * pal-ct-mark: sets (or clears) one bit of the conntrack mark of entries given by their exact original
 * tuple, for the agent's strict mode. The nft table drops every packet of a connection carrying that bit before
 * `ct state established` can accept it, so marking cuts the connection while its entry stays: unlike a
 * deletion, nothing lets the kernel pick the stream up again as a new connection mid-flow.
 *
 * `conntrack -U -s … --sport …` dumps the whole table and filters it for every entry it updates, so
 * cutting n of N connections costs n dumps of N entries (minutes at 10k). ctnetlink finds one entry by its
 * tuple through a hash lookup; this program sends exactly that, one IPCTNL_MSG_CT_NEW per line without
 * NLM_F_CREATE (update an existing entry, never create one), in the netns it runs in (the agent wraps it
 * in `ip netns exec`). CTA_MARK_MASK makes the kernel keep the other bits: it computes
 * mark = (old & ~mask) ^ value (ctnetlink_change_mark), which with value == mask == the bit sets the bit,
 * and with value 0 clears it (`clear`: a cut connection that policy allows again).
 *
 * usage: pal-ct-mark <bit> [set|clear]   (one bit, e.g. 0x00100000; default set)
 * stdin, one entry per line: `<src-ip> <dst-ip> <protonum> <sport> <dport>` (IPv4 or IPv6; strict mode
 * only cuts TCP, UDP and SCTP, so every line has ports).
 * stdout at the end: `marked <n> gone <m>` (marked: updated, whether set or cleared; gone: the entry had
 * already ended). A line it cannot read or a
 * kernel error other than ENOENT goes to stderr as `error <line>: <why>` and makes the exit status 1;
 * every other line is still processed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct msg {
  char buf[256];
  size_t len;
};

static struct nlattr *put(struct msg *m, uint16_t type, const void *data, size_t size) {
  struct nlattr *a = (struct nlattr *)(m->buf + m->len);
  a->nla_type = type;
  a->nla_len = (uint16_t)(NLA_HDRLEN + size);
  if (size > 0) memcpy((char *)a + NLA_HDRLEN, data, size);
  m->len += NLA_ALIGN(a->nla_len);
  return a;
}

static struct nlattr *open_nest(struct msg *m, uint16_t type) { return put(m, type | NLA_F_NESTED, NULL, 0); }

static void close_nest(struct msg *m, struct nlattr *a) { a->nla_len = (uint16_t)(m->buf + m->len - (char *)a); }

/* Builds the mark update for one tuple; 0 on success, -1 when the line does not parse. */
static int build(struct msg *m, const char *line, uint32_t seq, uint32_t bit, uint32_t value) {
  char src[64], dst[64];
  unsigned proto, sport, dport;
  if (sscanf(line, "%63s %63s %u %u %u", src, dst, &proto, &sport, &dport) != 5) return -1;
  if (proto > 255 || sport > 65535 || dport > 65535) return -1;
  unsigned char s[16], d[16];
  int family;
  size_t alen;
  if (inet_pton(AF_INET, src, s) == 1 && inet_pton(AF_INET, dst, d) == 1) {
    family = AF_INET;
    alen = 4;
  } else if (inet_pton(AF_INET6, src, s) == 1 && inet_pton(AF_INET6, dst, d) == 1) {
    family = AF_INET6;
    alen = 16;
  } else {
    return -1;
  }
  memset(m->buf, 0, sizeof m->buf);
  struct nlmsghdr *h = (struct nlmsghdr *)m->buf;
  h->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW;
  h->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
  h->nlmsg_seq = seq;
  m->len = NLMSG_HDRLEN;
  struct nfgenmsg *g = (struct nfgenmsg *)(m->buf + m->len);
  g->nfgen_family = (uint8_t)family;
  g->version = NFNETLINK_V0;
  g->res_id = 0;
  m->len += NLMSG_ALIGN(sizeof *g);
  struct nlattr *orig = open_nest(m, CTA_TUPLE_ORIG);
  struct nlattr *ip = open_nest(m, CTA_TUPLE_IP);
  put(m, family == AF_INET ? CTA_IP_V4_SRC : CTA_IP_V6_SRC, s, alen);
  put(m, family == AF_INET ? CTA_IP_V4_DST : CTA_IP_V6_DST, d, alen);
  close_nest(m, ip);
  struct nlattr *l4 = open_nest(m, CTA_TUPLE_PROTO);
  uint8_t p = (uint8_t)proto;
  uint16_t sp = htons((uint16_t)sport), dp = htons((uint16_t)dport);
  put(m, CTA_PROTO_NUM, &p, 1);
  put(m, CTA_PROTO_SRC_PORT, &sp, 2);
  put(m, CTA_PROTO_DST_PORT, &dp, 2);
  close_nest(m, l4);
  close_nest(m, orig);
  uint32_t mask = htonl(bit), mark = htonl(value);
  put(m, CTA_MARK, &mark, 4);
  put(m, CTA_MARK_MASK, &mask, 4);
  h->nlmsg_len = (uint32_t)m->len;
  return 0;
}

/* Sends one request and waits for its ack: 0 marked, -ENOENT gone, another -errno on failure. */
static int request(int fd, struct msg *m, uint32_t seq) {
  if (send(fd, m->buf, m->len, 0) < 0) return -errno;
  char reply[4096];
  for (;;) {
    ssize_t n = recv(fd, reply, sizeof reply, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    for (struct nlmsghdr *h = (struct nlmsghdr *)reply; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_seq != seq || h->nlmsg_type != NLMSG_ERROR) continue;
      return ((struct nlmsgerr *)NLMSG_DATA(h))->error;
    }
  }
}

int main(int argc, char **argv) {
  char *end = NULL;
  unsigned long bit = argc == 2 || argc == 3 ? strtoul(argv[1], &end, 0) : 0;
  int clear = argc == 3 && strcmp(argv[2], "clear") == 0;
  /* One bit only: a wider value would flip other software's bits (the kernel XORs it in). */
  if ((argc != 2 && argc != 3) || end == argv[1] || *end != '\0' || bit == 0 || bit > 0xffffffffUL ||
      (bit & (bit - 1)) != 0 || (argc == 3 && !clear && strcmp(argv[2], "set") != 0)) {
    fprintf(stderr, "usage: pal-ct-mark <bit> [set|clear]   (one conntrack mark bit, e.g. 0x00100000)\n");
    return 2;
  }
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
  if (fd < 0) {
    fprintf(stderr, "error netlink socket: %s\n", strerror(errno));
    return 2;
  }
  struct sockaddr_nl local = {.nl_family = AF_NETLINK};
  if (bind(fd, (struct sockaddr *)&local, sizeof local) < 0) {
    fprintf(stderr, "error netlink bind: %s\n", strerror(errno));
    return 2;
  }
  char line[256];
  unsigned long marked = 0, gone = 0;
  int status = 0;
  uint32_t seq = 0;
  struct msg m;
  while (fgets(line, sizeof line, stdin) != NULL) {
    line[strcspn(line, "\n")] = '\0';
    if (line[0] == '\0') continue;
    seq += 1;
    if (build(&m, line, seq, (uint32_t)bit, clear ? 0 : (uint32_t)bit) < 0) {
      fprintf(stderr, "error %s: not <src> <dst> <protonum> <sport> <dport>\n", line);
      status = 1;
      continue;
    }
    int r = request(fd, &m, seq);
    if (r == 0)
      marked += 1;
    else if (r == -ENOENT)
      gone += 1;
    else {
      fprintf(stderr, "error %s: %s\n", line, strerror(-r));
      status = 1;
    }
  }
  printf("marked %lu gone %lu\n", marked, gone);
  close(fd);
  return status;
}
