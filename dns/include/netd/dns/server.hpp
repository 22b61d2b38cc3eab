#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <vector>

#include "netd/common/address.hpp"
#include "netd/dns/message.hpp"

namespace netd::dns {

// Sends the answer to one query back the way it came. Over UDP an answer longer than the
// requester accepts (512 bytes, or its EDNS size) goes out as an empty answer with TC set,
// so that the requester asks again over TCP.
class Responder {
 public:
  using Send = std::function<void(std::vector<std::uint8_t>)>;
  explicit Responder(Send send) : send_(std::move(send)) {}
  void operator()(std::vector<std::uint8_t> answer) const { send_(std::move(answer)); }

 private:
  Send send_;
};

struct ServerLimits {
  std::chrono::milliseconds tcp_idle_timeout{10'000};
  std::size_t tcp_max_connections = 256;
};

// DNS over UDP and TCP on chosen addresses: reads and frames messages, answers damaged or
// unsupported ones itself (FORMERR, NOTIMP), and hands every standard query to the handler.
class DnsServer {
 public:
  using Handler = std::function<void(const Query& query, Ipv4Address source, Responder reply)>;
  DnsServer(boost::asio::io_context& io, Handler handler, ServerLimits limits);
  ~DnsServer();
  DnsServer(const DnsServer&) = delete;
  DnsServer& operator=(const DnsServer&) = delete;

  // UDP and TCP on address:port. The address need not exist yet (IP_FREEBIND): a bridge
  // that gets its address later is served from then on. Throws naming the address.
  void Listen(Ipv4Address address, std::uint16_t port);
  void Stop();

  struct Counters {
    std::uint64_t udp_queries = 0;
    std::uint64_t tcp_queries = 0;
    std::uint64_t tcp_connections = 0;
    std::uint64_t tcp_refused = 0;  // over tcp_max_connections
    std::uint64_t truncated = 0;    // UDP answers sent with TC instead
    std::uint64_t malformed = 0;    // FORMERR, NOTIMP or dropped
  };
  const Counters& counters() const { return counters_; }
  std::size_t tcp_open() const;

 private:
  struct UdpListener;
  struct TcpListener;
  struct TcpConnection;
  void ReceiveUdp(const std::shared_ptr<UdpListener>& listener);
  void HandleUdp(const std::shared_ptr<UdpListener>& listener, std::size_t slot,
                 std::size_t length);
  void Accept(const std::shared_ptr<TcpListener>& listener);
  void ReadTcp(const std::shared_ptr<TcpConnection>& connection);
  void WriteTcp(const std::shared_ptr<TcpConnection>& connection, std::vector<std::uint8_t> answer);
  void WriteNext(const std::shared_ptr<TcpConnection>& connection);
  void ArmIdle(const std::shared_ptr<TcpConnection>& connection);

  boost::asio::io_context& io_;
  Handler handler_;
  ServerLimits limits_;
  Counters counters_;
  std::vector<std::shared_ptr<UdpListener>> udp_;
  std::vector<std::shared_ptr<TcpListener>> tcp_;
  std::list<std::weak_ptr<TcpConnection>> connections_;
  std::shared_ptr<bool> alive_;
};

}  // namespace netd::dns
