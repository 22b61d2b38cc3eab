#pragma once

#include <ares.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "netd/common/address.hpp"

namespace netd::dns {

// Upstream resolvers through c-ares, on the caller's Asio loop: c-ares's sockets are watched
// by the loop (its socket-state callback adds and removes them) and its timeouts run on a
// timer, as Envoy drives c-ares. Queries go out as they came (ares_send); c-ares retries
// another server on failure and over TCP when a UDP answer is truncated.
class AresUpstream {
 public:
  struct Server {
    Ipv4Address address;
    std::uint16_t port = 53;
  };
  // `attempt_timeout`: what each server gets per try.
  AresUpstream(boost::asio::io_context& io, const std::vector<Server>& servers,
               std::chrono::milliseconds attempt_timeout, int tries);
  ~AresUpstream();
  AresUpstream(const AresUpstream&) = delete;
  AresUpstream& operator=(const AresUpstream&) = delete;

  // `answer` is the response with c-ares's message id, or empty with `error` set (and
  // `timed_out` when no server answered in time). Called on the loop, never from within Send.
  using Callback =
      std::function<void(std::span<const std::uint8_t> answer, const char* error, bool timed_out)>;
  void Send(std::span<const std::uint8_t> query, Callback callback);

 private:
  struct Watch;
  static void OnSocketState(void* data, ares_socket_t fd, int readable, int writable);
  void SocketState(int fd, bool readable, bool writable);
  void ArmRead(const std::shared_ptr<Watch>& watch);
  void ArmWrite(const std::shared_ptr<Watch>& watch);
  void ArmTimer();

  boost::asio::io_context& io_;
  ares_channel channel_ = nullptr;
  std::map<int, std::shared_ptr<Watch>> watches_;
  boost::asio::steady_timer timer_;
  bool in_send_ = false;
};

}  // namespace netd::dns
