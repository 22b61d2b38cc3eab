#include "netd/dns/server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <array>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <deque>
#include <stdexcept>

namespace netd::dns {
namespace {

using boost::asio::ip::tcp;
using boost::asio::ip::udp;

// A query longer than this is no query netd answers (it arrives cut, and is dropped).
constexpr std::size_t kUdpBuffer = 4096;
constexpr std::size_t kClassicUdpLimit = 512;
constexpr std::size_t kMaxOwedAnswers = 64;
// DNS-over-TCP connections one source may hold, so that one VM cannot take every slot.
constexpr std::size_t kTcpConnectionsPerSource = 16;

// Datagrams read per wake-up (one recvmmsg) before the loop serves anything else; answers
// ready before the batch ends leave together (one sendmmsg).
constexpr unsigned kUdpBatch = 64;

Ipv4Address FromAsio(const boost::asio::ip::address& address) {
  return address.is_v4() ? Ipv4Address(address.to_v4().to_uint()) : Ipv4Address();
}

template <typename Socket>
void SetFreebind(Socket& socket, Ipv4Address address) {
  int on = 1;
  if (setsockopt(socket.native_handle(), IPPROTO_IP, IP_FREEBIND, &on, sizeof(on)) != 0) {
    throw std::runtime_error("dns: cannot set IP_FREEBIND for " + address.ToString());
  }
}

// A problem answer for a message that is not a usable query; empty when it gets none.
std::vector<std::uint8_t> ProblemAnswer(const ParsedQuery& parsed) {
  switch (parsed.problem) {
    case QueryProblem::kFormErr:
      return BuildHeaderOnly(parsed.id, Rcode::kFormErr);
    case QueryProblem::kNotImp:
      return BuildHeaderOnly(parsed.id, Rcode::kNotImp);
    case QueryProblem::kIgnore:
      break;
  }
  return {};
}

}  // namespace

struct DnsServer::UdpListener {
  explicit UdpListener(boost::asio::io_context& io) : socket(io) {}
  udp::socket socket;
  std::array<std::array<std::uint8_t, kUdpBuffer>, kUdpBatch> buffers{};
  std::array<sockaddr_in, kUdpBatch> peers{};
  // Answers waiting for the end of the batch, with their destinations.
  bool batching = false;
  std::vector<std::vector<std::uint8_t>> answers;
  std::vector<sockaddr_in> answer_peers;

  void Send(std::vector<std::uint8_t> answer, const sockaddr_in& peer) {
    if (batching) {
      answers.push_back(std::move(answer));
      answer_peers.push_back(peer);
      return;
    }
    // Best effort, as UDP is: an answer the socket cannot take now is dropped.
    sendto(socket.native_handle(), answer.data(), answer.size(), MSG_DONTWAIT,
           reinterpret_cast<const sockaddr*>(&peer), sizeof(peer));
  }

  void Flush() {
    batching = false;
    if (answers.empty()) return;
    std::vector<mmsghdr> messages(answers.size());
    std::vector<iovec> vectors(answers.size());
    for (std::size_t i = 0; i < answers.size(); ++i) {
      vectors[i] = {answers[i].data(), answers[i].size()};
      messages[i].msg_hdr.msg_name = &answer_peers[i];
      messages[i].msg_hdr.msg_namelen = sizeof(sockaddr_in);
      messages[i].msg_hdr.msg_iov = &vectors[i];
      messages[i].msg_hdr.msg_iovlen = 1;
    }
    for (std::size_t sent = 0; sent < messages.size();) {
      int n = sendmmsg(socket.native_handle(), messages.data() + sent,
                       static_cast<unsigned>(messages.size() - sent), MSG_DONTWAIT);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      // An answer the kernel refuses (n < 0: the first one) is skipped, not the rest.
      sent += n > 0 ? static_cast<std::size_t>(n) : 1;
    }
    answers.clear();
    answer_peers.clear();
  }
};

struct DnsServer::TcpListener {
  explicit TcpListener(boost::asio::io_context& io) : acceptor(io), retry(io) {}
  tcp::acceptor acceptor;
  boost::asio::steady_timer retry;  // after a failed accept (out of descriptors)
};

struct DnsServer::TcpConnection {
  explicit TcpConnection(boost::asio::io_context& io) : socket(io), idle(io) {}
  tcp::socket socket;
  boost::asio::steady_timer idle;
  Ipv4Address peer;
  std::array<std::uint8_t, 2> length{};
  std::vector<std::uint8_t> body;
  std::deque<std::vector<std::uint8_t>> writes;
  // Queries read whose answers are not written yet; reading pauses at kMaxOwedAnswers, so a
  // client that sends without reading cannot grow netd's memory.
  std::size_t owed = 0;
  bool paused = false;
  bool closed = false;
  void Close() {
    if (closed) return;
    closed = true;
    boost::system::error_code ignored;
    socket.close(ignored);
    idle.cancel();
  }
};

DnsServer::DnsServer(boost::asio::io_context& io, Handler handler, ServerLimits limits)
    : io_(io),
      handler_(std::move(handler)),
      limits_(limits),
      alive_(std::make_shared<bool>(true)) {}

DnsServer::~DnsServer() {
  Stop();
}

void DnsServer::Listen(Ipv4Address address, std::uint16_t port) {
  auto where = address.ToString() + ":" + std::to_string(port);
  auto endpoint_address = boost::asio::ip::address_v4(address.value());
  try {
    auto udp_listener = std::make_shared<UdpListener>(io_);
    udp_listener->socket.open(udp::v4());
    SetFreebind(udp_listener->socket, address);
    udp_listener->socket.bind({endpoint_address, port});
    udp_listener->socket.non_blocking(true);
    auto tcp_listener = std::make_shared<TcpListener>(io_);
    tcp_listener->acceptor.open(tcp::v4());
    tcp_listener->acceptor.set_option(tcp::acceptor::reuse_address(true));
    SetFreebind(tcp_listener->acceptor, address);
    tcp_listener->acceptor.bind({endpoint_address, port});
    tcp_listener->acceptor.listen();
    udp_.push_back(udp_listener);
    tcp_.push_back(tcp_listener);
    ReceiveUdp(udp_listener);
    Accept(tcp_listener);
  } catch (const boost::system::system_error& failure) {
    throw std::runtime_error("dns: cannot listen on " + where + ": " + failure.code().message());
  }
  spdlog::info("dns: listening on {} (udp, tcp)", where);
}

void DnsServer::Stop() {
  for (auto& listener : udp_) {
    boost::system::error_code ignored;
    listener->socket.close(ignored);
  }
  for (auto& listener : tcp_) {
    boost::system::error_code ignored;
    listener->acceptor.close(ignored);
  }
  for (auto& weak : connections_) {
    if (auto connection = weak.lock()) connection->Close();
  }
  udp_.clear();
  tcp_.clear();
  connections_.clear();
}

std::size_t DnsServer::tcp_open() const {
  std::size_t open = 0;
  for (const auto& weak : connections_) {
    if (auto connection = weak.lock(); connection && !connection->closed) ++open;
  }
  return open;
}

void DnsServer::ReceiveUdp(const std::shared_ptr<UdpListener>& listener) {
  listener->socket.async_wait(udp::socket::wait_read, [this, listener](auto error) {
    if (error) return;
    std::array<mmsghdr, kUdpBatch> messages{};
    std::array<iovec, kUdpBatch> vectors{};
    for (unsigned i = 0; i < kUdpBatch; ++i) {
      vectors[i] = {listener->buffers[i].data(), kUdpBuffer};
      messages[i].msg_hdr.msg_name = &listener->peers[i];
      messages[i].msg_hdr.msg_namelen = sizeof(sockaddr_in);
      messages[i].msg_hdr.msg_iov = &vectors[i];
      messages[i].msg_hdr.msg_iovlen = 1;
    }
    int received = recvmmsg(listener->socket.native_handle(), messages.data(), kUdpBatch,
                            MSG_DONTWAIT, nullptr);
    if (received < 0 && errno == EBADF) return;  // closed by Stop
    // Otherwise nothing to read (EAGAIN), or an ICMP error of an earlier send reported here.
    listener->batching = true;
    for (int i = 0; i < received; ++i) {
      const auto& header = messages[static_cast<std::size_t>(i)].msg_hdr;
      if (header.msg_flags & MSG_TRUNC) {
        ++counters_.malformed;
        continue;
      }
      HandleUdp(listener, static_cast<std::size_t>(i),
                messages[static_cast<std::size_t>(i)].msg_len);
    }
    listener->Flush();
    ReceiveUdp(listener);
  });
}

void DnsServer::HandleUdp(const std::shared_ptr<UdpListener>& listener, std::size_t slot,
                          std::size_t length) {
  auto parsed = ParseQuery(std::span<const std::uint8_t>(listener->buffers[slot].data(), length));
  auto peer = listener->peers[slot];
  if (!parsed.query) {
    ++counters_.malformed;
    auto answer = ProblemAnswer(parsed);
    if (!answer.empty()) listener->Send(std::move(answer), peer);
    return;
  }
  ++counters_.udp_queries;
  const auto& query = *parsed.query;
  std::size_t limit = query.edns_udp_size.value_or(kClassicUdpLimit);
  std::weak_ptr<bool> alive = alive_;
  Responder reply([this, alive, listener, peer, limit](std::vector<std::uint8_t> answer) {
    if (answer.size() > limit) {
      answer = Truncated(answer);
      if (alive.lock()) ++counters_.truncated;
    }
    listener->Send(std::move(answer), peer);
  });
  handler_(query, Ipv4Address(ntohl(peer.sin_addr.s_addr)), std::move(reply));
}

void DnsServer::Accept(const std::shared_ptr<TcpListener>& listener) {
  auto connection = std::make_shared<TcpConnection>(io_);
  listener->acceptor.async_accept(connection->socket, [this, listener, connection](auto error) {
    if (error == boost::asio::error::operation_aborted ||
        error == boost::asio::error::bad_descriptor) {
      return;
    }
    if (error) {
      // Out of descriptors or memory: try again shortly rather than spin.
      listener->retry.expires_after(std::chrono::milliseconds(100));
      listener->retry.async_wait([this, listener](auto retry_error) {
        if (!retry_error) Accept(listener);
      });
      return;
    }
    std::erase_if(connections_, [](const auto& weak) {
      auto open = weak.lock();
      return !open || open->closed;
    });
    boost::system::error_code ignored;
    connection->peer = FromAsio(connection->socket.remote_endpoint(ignored).address());
    auto from_peer = std::count_if(connections_.begin(), connections_.end(), [&](const auto& weak) {
      auto open = weak.lock();
      return open && open->peer == connection->peer;
    });
    if (connections_.size() >= limits_.tcp_max_connections ||
        static_cast<std::size_t>(from_peer) >= kTcpConnectionsPerSource) {
      ++counters_.tcp_refused;
      connection->Close();
    } else {
      ++counters_.tcp_connections;
      connections_.push_back(connection);
      ArmIdle(connection);
      ReadTcp(connection);
    }
    Accept(listener);
  });
}

void DnsServer::ArmIdle(const std::shared_ptr<TcpConnection>& connection) {
  connection->idle.expires_after(limits_.tcp_idle_timeout);
  connection->idle.async_wait([connection](auto error) {
    if (!error) connection->Close();
  });
}

void DnsServer::ReadTcp(const std::shared_ptr<TcpConnection>& connection) {
  boost::asio::async_read(
      connection->socket, boost::asio::buffer(connection->length),
      [this, connection](auto error, std::size_t) {
        if (error || connection->closed) return connection->Close();
        std::size_t length = connection->length[0] << 8 | connection->length[1];
        connection->body.resize(length);
        boost::asio::async_read(
            connection->socket, boost::asio::buffer(connection->body),
            [this, connection](auto body_error, std::size_t) {
              if (body_error || connection->closed) return connection->Close();
              ArmIdle(connection);
              auto parsed = ParseQuery(connection->body);
              if (!parsed.query) {
                ++counters_.malformed;
                auto answer = ProblemAnswer(parsed);
                if (answer.empty()) return connection->Close();
                ++connection->owed;
                WriteTcp(connection, std::move(answer));
              } else {
                ++counters_.tcp_queries;
                std::weak_ptr<bool> alive = alive_;
                Responder reply([this, alive, connection](std::vector<std::uint8_t> answer) {
                  if (alive.lock()) WriteTcp(connection, std::move(answer));
                });
                ++connection->owed;
                handler_(*parsed.query, connection->peer, std::move(reply));
              }
              if (connection->owed >= kMaxOwedAnswers) {
                connection->paused = true;
              } else {
                ReadTcp(connection);
              }
            });
      });
}

void DnsServer::WriteTcp(const std::shared_ptr<TcpConnection>& connection,
                         std::vector<std::uint8_t> answer) {
  if (connection->closed) return;
  if (answer.size() > 65535) {
    // Longer than a TCP message can be (names written out whole can make it so).
    answer = BuildHeaderOnly(
        answer.size() >= 2 ? static_cast<std::uint16_t>(answer[0] << 8 | answer[1]) : 0,
        Rcode::kServFail);
  }
  std::vector<std::uint8_t> framed;
  framed.reserve(answer.size() + 2);
  framed.push_back(static_cast<std::uint8_t>(answer.size() >> 8));
  framed.push_back(static_cast<std::uint8_t>(answer.size()));
  framed.insert(framed.end(), answer.begin(), answer.end());
  connection->writes.push_back(std::move(framed));
  if (connection->writes.size() == 1) WriteNext(connection);  // one write at a time, in order
}

void DnsServer::WriteNext(const std::shared_ptr<TcpConnection>& connection) {
  boost::asio::async_write(connection->socket, boost::asio::buffer(connection->writes.front()),
                           [this, connection](auto error, std::size_t) {
                             if (error || connection->closed) return connection->Close();
                             ArmIdle(connection);
                             connection->writes.pop_front();
                             if (connection->owed > 0) --connection->owed;
                             if (connection->paused && connection->owed < kMaxOwedAnswers / 2) {
                               connection->paused = false;
                               ReadTcp(connection);
                             }
                             if (!connection->writes.empty()) WriteNext(connection);
                           });
}

}  // namespace netd::dns
