#include "table_monitor.hpp"

#include <libmnl/libmnl.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <sys/socket.h>

#include <cerrno>
#include <system_error>
#include <vector>

#include "netlink_replies.hpp"

namespace netd::firewall {
namespace {

// Another process's transaction is one burst of coalesced events (about 80 bytes per element);
// the buffer holds a million elements' worth before the kernel reports an overflow. Memory is
// only used while events wait to be read.
constexpr int kReceiveBufferBytes = 128 * 1024 * 1024;

}  // namespace

TableMonitor::TableMonitor(std::uint8_t family, std::string table)
    : family_(family), table_(std::move(table)) {
  socket_.reset(mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC | SOCK_NONBLOCK));
  if (!socket_) throw std::system_error(errno, std::generic_category(), "nftables event socket");
  if (mnl_socket_bind(socket_.get(), 0, MNL_SOCKET_AUTOPID) < 0) {
    throw std::system_error(errno, std::generic_category(), "nftables event socket bind");
  }
  int size = kReceiveBufferBytes;
  setsockopt(fd(), SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size));
  Resume();
}

int TableMonitor::fd() const {
  return mnl_socket_get_fd(socket_.get());
}

void TableMonitor::SetMembership(int option) {
  int group = NFNLGRP_NFTABLES;
  if (mnl_socket_setsockopt(socket_.get(), option, &group, sizeof(group)) < 0) {
    throw std::system_error(errno, std::generic_category(),
                            "subscribing to nftables events (NFNLGRP_NFTABLES)");
  }
}

void TableMonitor::Pause() {
  SetMembership(NETLINK_DROP_MEMBERSHIP);
}

void TableMonitor::Resume() {
  SetMembership(NETLINK_ADD_MEMBERSHIP);
}

bool TableMonitor::Drain() {
  bool touched = false;
  std::vector<char> buffer(1 << 16);
  for (;;) {
    auto length = recv(fd(), buffer.data(), buffer.size(), MSG_DONTWAIT);
    if (length < 0) {
      if (errno == EINTR) continue;
      if (errno == ENOBUFS) {
        touched = true;
        continue;
      }
      if (errno == EAGAIN) return touched;
      throw std::system_error(errno, std::generic_category(), "reading nftables events");
    }
    if (netlink::EventsTouchTable({buffer.data(), static_cast<std::size_t>(length)}, family_,
                                  table_)) {
      touched = true;
    }
  }
}

}  // namespace netd::firewall
