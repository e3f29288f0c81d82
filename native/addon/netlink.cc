// rtnetlink, which Node has no socket for: one request, its replies. The
// messages are built and read in TypeScript (src/sys/rtnetlink.ts); this only
// moves bytes. The socket belongs to the calling process's network namespace —
// nothing here enters another one (a link is moved by naming its target
// namespace in the request, IFLA_NET_NS_FD).
#include <errno.h>
#include <linux/netlink.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vector>

#include "addon.h"

namespace {

// netlinkRoute(request): the reply messages (each a Buffer, header included)
// up to the closing NLMSG_DONE or acknowledgement, which are not returned.
// A negative acknowledgement throws its errno ("netlink <op>: <strerror>").
// The request must ask for an ACK (NLM_F_ACK) or be a dump (NLM_F_DUMP).
Napi::Value NetlinkRoute(const Napi::CallbackInfo& info) {
  Args a(info, "netlinkRoute");
  Napi::Buffer<uint8_t> req = a.Buf(0, "request");
  std::string op = a.OptStr(1, "what", "request");
  if (!a.ok()) return Napi::Value();
  Napi::Env env = info.Env();
  std::string what = "netlink " + op;
  if (req.Length() < sizeof(struct nlmsghdr)) {
    ThrowErrno(env, what.c_str(), EINVAL);
    return Napi::Value();
  }
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) {
    ThrowErrno(env, (what + ": socket").c_str(), errno);
    return Napi::Value();
  }
  // Extended acks would append text we do not read; the errno is enough.
  struct sockaddr_nl kernel;
  memset(&kernel, 0, sizeof kernel);
  kernel.nl_family = AF_NETLINK;
  ssize_t sent;
  do sent = sendto(fd, req.Data(), req.Length(), 0, reinterpret_cast<struct sockaddr*>(&kernel), sizeof kernel);
  while (sent < 0 && errno == EINTR);
  if (sent < 0) {
    int err = errno;
    close(fd);
    ThrowErrno(env, (what + ": send").c_str(), err);
    return Napi::Value();
  }
  uint32_t seq = reinterpret_cast<const struct nlmsghdr*>(req.Data())->nlmsg_seq;
  std::vector<std::vector<uint8_t>> replies;
  std::vector<uint8_t> buf(65536);
  int failure = 0;
  bool done = false;
  while (!done) {
    ssize_t n = recv(fd, buf.data(), buf.size(), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      failure = errno;
      break;
    }
    if (n == 0) {
      failure = EPROTO;
      break;
    }
    size_t len = (size_t)n;
    for (struct nlmsghdr* h = reinterpret_cast<struct nlmsghdr*>(buf.data()); NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
      if (h->nlmsg_seq != seq) continue;
      if (h->nlmsg_type == NLMSG_DONE) {
        done = true;
        break;
      }
      if (h->nlmsg_type == NLMSG_ERROR) {
        const struct nlmsgerr* e = reinterpret_cast<const struct nlmsgerr*>(NLMSG_DATA(h));
        failure = e->error < 0 ? -e->error : 0;
        done = true;
        break;
      }
      const uint8_t* start = reinterpret_cast<const uint8_t*>(h);
      replies.emplace_back(start, start + h->nlmsg_len);
    }
  }
  close(fd);
  if (failure) {
    ThrowErrno(env, what.c_str(), failure);
    return Napi::Value();
  }
  Napi::Array out = Napi::Array::New(env, replies.size());
  for (size_t i = 0; i < replies.size(); i++) out.Set(i, Napi::Buffer<uint8_t>::Copy(env, replies[i].data(), replies[i].size()));
  return out;
}

}  // namespace

void RegisterNetlink(Napi::Env env, Napi::Object exports) {
  exports.Set("netlinkRoute", Napi::Function::New(env, NetlinkRoute));
}
