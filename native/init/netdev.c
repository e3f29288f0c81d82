/*
 * OP_NETDEV_UP: a link of linux.netDevices, just moved into this process's
 * network namespace by the runtime (SYNC_NETDEV), gets back the addresses the
 * move dropped and is set up — rtnetlink on a socket of this namespace.
 * Runs in C after the clone: stack buffers only, no allocation.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "init.h"

struct nl_req {
  struct nlmsghdr h;
  union {
    struct ifinfomsg link;
    struct ifaddrmsg addr;
  } u;
  char attrs[64];
};

static void add_attr(struct nl_req *req, unsigned short type, const void *data, size_t len) {
  struct rtattr *a = (struct rtattr *)((char *)req + NLMSG_ALIGN(req->h.nlmsg_len));
  a->rta_type = type;
  a->rta_len = (unsigned short)RTA_LENGTH(len);
  memcpy(RTA_DATA(a), data, len);
  req->h.nlmsg_len = NLMSG_ALIGN(req->h.nlmsg_len) + RTA_ALIGN(a->rta_len);
}

/* Sends one request and waits for its acknowledgement; returns 0 or an errno. */
static int nl_talk(int s, struct nl_req *req) {
  static uint32_t seq;
  req->h.nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
  req->h.nlmsg_seq = ++seq;
  struct sockaddr_nl kernel;
  memset(&kernel, 0, sizeof kernel);
  kernel.nl_family = AF_NETLINK;
  if (sendto(s, req, req->h.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) return errno;
  char buf[4096];
  for (;;) {
    ssize_t n = recv(s, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return n < 0 ? errno : EPROTO;
    size_t len = (size_t)n;
    for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
      if (h->nlmsg_seq != req->h.nlmsg_seq || h->nlmsg_type != NLMSG_ERROR) continue;
      struct nlmsgerr *e = NLMSG_DATA(h);
      return e->error < 0 ? -e->error : 0;
    }
  }
}

/* The link's index here: by name, or — for a "%d" template the kernel
 * filled in — by the index it had on the host, which a move keeps unless
 * this namespace already used it. */
static int find_link(const char *name, uint32_t host_index) {
  if (!strchr(name, '%')) {
    unsigned idx = if_nametoindex(name);
    if (!idx) die(errno, "find network device %s", name);
    return (int)idx;
  }
  char got[IF_NAMESIZE];
  size_t prefix = (size_t)(strchr(name, '%') - name);
  if (!if_indextoname(host_index, got) || strncmp(got, name, prefix) != 0)
    die(ENODEV, "find network device %s (expected at index %u)", name, host_index);
  return (int)host_index;
}

/* "10.0.0.2/24" or "fd00::2/64" into family, bytes and prefix length. */
static int parse_addr(const char *text, int *family, unsigned char *bytes, unsigned *prefix) {
  char host[64];
  const char *slash = strchr(text, '/');
  if (!slash || (size_t)(slash - text) >= sizeof host) return -1;
  memcpy(host, text, (size_t)(slash - text));
  host[slash - text] = 0;
  char *end;
  unsigned long p = strtoul(slash + 1, &end, 10);
  if (*end || end == slash + 1) return -1;
  *family = strchr(host, ':') ? AF_INET6 : AF_INET;
  if (inet_pton(*family, host, bytes) != 1) return -1;
  if (p > (*family == AF_INET ? 32u : 128u)) return -1;
  *prefix = (unsigned)p;
  return 0;
}

void op_netdev_check(struct reader *r) {
  const char *name = rd_str(r);
  if (r->bad || strchr(name, '%')) return;
  if (if_nametoindex(name)) refuse(EEXIST, "a network device named \"%s\" already exists in the container", name);
}

void op_netdev_up(struct reader *r) {
  const char *name = rd_str(r);
  uint32_t host_index = rd_u32(r);
  const char *addrs[64];
  int n = rd_strs(r, addrs, 64);
  if (r->bad) return;
  int index = find_link(name, host_index);
  int s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (s < 0) die(errno, "netlink socket");
  struct nl_req req;
  for (int i = 0; i < n; i++) {
    int family;
    unsigned prefix;
    unsigned char bytes[16];
    if (parse_addr(addrs[i], &family, bytes, &prefix) < 0) die(EINVAL, "address %s of %s is not addr/prefixlen", addrs[i], name);
    memset(&req, 0, sizeof req);
    req.h.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifaddrmsg));
    req.h.nlmsg_type = RTM_NEWADDR;
    req.h.nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
    req.u.addr.ifa_family = (unsigned char)family;
    req.u.addr.ifa_prefixlen = (unsigned char)prefix;
    req.u.addr.ifa_scope = RT_SCOPE_UNIVERSE;
    req.u.addr.ifa_index = (unsigned)index;
    size_t alen = family == AF_INET ? 4 : 16;
    /* IPv4 wants both (IFA_ADDRESS is the peer on point-to-point links);
     * IPv6 reads a differing pair as a peer: give it the one. */
    if (family == AF_INET) add_attr(&req, IFA_LOCAL, bytes, alen);
    add_attr(&req, IFA_ADDRESS, bytes, alen);
    if (family == AF_INET && prefix < 31) {
      /* The broadcast address `ip addr add` would set (all host bits on). */
      uint32_t a;
      memcpy(&a, bytes, 4);
      uint32_t brd = a | htonl(prefix ? (0xffffffffu >> prefix) : 0xffffffffu);
      add_attr(&req, IFA_BROADCAST, &brd, 4);
    }
    int err = nl_talk(s, &req);
    if (err) die(err, "add address %s to %s", addrs[i], name);
  }
  memset(&req, 0, sizeof req);
  req.h.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
  req.h.nlmsg_type = RTM_NEWLINK;
  req.u.link.ifi_family = AF_UNSPEC;
  req.u.link.ifi_index = index;
  req.u.link.ifi_flags = IFF_UP;
  req.u.link.ifi_change = IFF_UP;
  int err = nl_talk(s, &req);
  if (err) die(err, "set %s up", name);
  close(s);
}
