#include "netd/dns/upstream.hpp"

#include <arpa/inet.h>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <mutex>
#include <stdexcept>

namespace netd::dns {

struct AresUpstream::Watch {
  Watch(boost::asio::io_context& io, int fd) : fd(fd), descriptor(io, fd) {}
  int fd;
  boost::asio::posix::stream_descriptor descriptor;
  bool readable = false;
  bool writable = false;
  bool read_armed = false;
  bool write_armed = false;
  bool closed = false;  // c-ares is done with the fd (it may be reused for another socket)
};

AresUpstream::AresUpstream(boost::asio::io_context& io, const std::vector<Server>& servers,
                           std::chrono::milliseconds attempt_timeout, int tries)
    : io_(io), timer_(io) {
  static std::once_flag library;
  std::call_once(library, [] { ares_library_init(ARES_LIB_INIT_ALL); });
  ares_options options{};
  options.sock_state_cb = &AresUpstream::OnSocketState;
  options.sock_state_cb_data = this;
  options.timeout = static_cast<int>(attempt_timeout.count());
  options.tries = tries;
  // No search domains, no /etc/resolv.conf or hosts file lookups: raw queries only.
  options.flags = ARES_FLAG_NOSEARCH;
  options.ndots = 1;
  int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_FLAGS |
             ARES_OPT_NDOTS;
  if (int status = ares_init_options(&channel_, &options, mask); status != ARES_SUCCESS) {
    throw std::runtime_error(std::string("c-ares: cannot start: ") + ares_strerror(status));
  }
  std::vector<ares_addr_port_node> nodes(servers.size());
  for (std::size_t i = 0; i < servers.size(); ++i) {
    nodes[i].next = i + 1 < servers.size() ? &nodes[i + 1] : nullptr;
    nodes[i].family = AF_INET;
    nodes[i].addr.addr4.s_addr = htonl(servers[i].address.value());
    nodes[i].udp_port = servers[i].port;
    nodes[i].tcp_port = servers[i].port;
  }
  int status = ares_set_servers_ports(channel_, servers.empty() ? nullptr : nodes.data());
  if (status != ARES_SUCCESS) {
    ares_destroy(channel_);
    throw std::runtime_error(std::string("c-ares: cannot set the upstream servers: ") +
                             ares_strerror(status));
  }
}

AresUpstream::~AresUpstream() {
  timer_.cancel();
  // Pending queries end with ARES_EDESTRUCTION through their callbacks.
  ares_destroy(channel_);
  for (auto& [fd, watch] : watches_) {
    watch->closed = true;
    watch->descriptor.release();
  }
}

namespace {

struct PendingQuery {
  AresUpstream::Callback callback;
  boost::asio::io_context* io;
  const bool* in_send;
};

}  // namespace

void AresUpstream::Send(std::span<const std::uint8_t> query, Callback callback) {
  auto* pending = new PendingQuery{std::move(callback), &io_, &in_send_};
  in_send_ = true;
  ares_send(
      channel_, query.data(), static_cast<int>(query.size()),
      [](void* arg, int status, int, unsigned char* answer, int length) {
        std::unique_ptr<PendingQuery> done(static_cast<PendingQuery*>(arg));
        std::span<const std::uint8_t> bytes;
        if (status == ARES_SUCCESS && answer && length > 0) {
          bytes = std::span<const std::uint8_t>(answer, static_cast<std::size_t>(length));
        }
        const char* error = bytes.empty() ? ares_strerror(status) : nullptr;
        bool timed_out = status == ARES_ETIMEOUT;
        if (status != ARES_EDESTRUCTION && *done->in_send) {
          // Finished inside ares_send (no server to try): the caller hears it from the loop,
          // after Send has returned.
          boost::asio::post(*done->io,
                            [callback = std::move(done->callback),
                             copy = std::vector<std::uint8_t>(bytes.begin(), bytes.end()), error,
                             timed_out] { callback(copy, error, timed_out); });
          return;
        }
        done->callback(bytes, error, timed_out);
      },
      pending);
  in_send_ = false;
  ArmTimer();
}

void AresUpstream::OnSocketState(void* data, ares_socket_t fd, int readable, int writable) {
  static_cast<AresUpstream*>(data)->SocketState(fd, readable != 0, writable != 0);
}

void AresUpstream::SocketState(int fd, bool readable, bool writable) {
  auto it = watches_.find(fd);
  if (!readable && !writable) {
    if (it == watches_.end()) return;
    // c-ares closes the fd after this returns: the loop lets go of it first.
    it->second->closed = true;
    it->second->descriptor.cancel();
    it->second->descriptor.release();
    watches_.erase(it);
    return;
  }
  if (it == watches_.end()) it = watches_.emplace(fd, std::make_shared<Watch>(io_, fd)).first;
  auto watch = it->second;
  watch->readable = readable;
  watch->writable = writable;
  if (readable) ArmRead(watch);
  if (writable) ArmWrite(watch);
}

void AresUpstream::ArmRead(const std::shared_ptr<Watch>& watch) {
  if (watch->read_armed) return;
  watch->read_armed = true;
  watch->descriptor.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                               [this, watch](boost::system::error_code error) {
                                 watch->read_armed = false;
                                 if (error || watch->closed) return;
                                 ares_process_fd(channel_, watch->fd, ARES_SOCKET_BAD);
                                 if (!watch->closed && watch->readable) ArmRead(watch);
                                 ArmTimer();
                               });
}

void AresUpstream::ArmWrite(const std::shared_ptr<Watch>& watch) {
  if (watch->write_armed) return;
  watch->write_armed = true;
  watch->descriptor.async_wait(boost::asio::posix::stream_descriptor::wait_write,
                               [this, watch](boost::system::error_code error) {
                                 watch->write_armed = false;
                                 if (error || watch->closed) return;
                                 ares_process_fd(channel_, ARES_SOCKET_BAD, watch->fd);
                                 if (!watch->closed && watch->writable) ArmWrite(watch);
                                 ArmTimer();
                               });
}

void AresUpstream::ArmTimer() {
  timeval wait{};
  if (!ares_timeout(channel_, nullptr, &wait)) {
    timer_.cancel();
    return;
  }
  timer_.expires_after(std::chrono::seconds(wait.tv_sec) + std::chrono::microseconds(wait.tv_usec));
  timer_.async_wait([this](boost::system::error_code error) {
    if (error) return;
    ares_process_fd(channel_, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    ArmTimer();
  });
}

}  // namespace netd::dns
