#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "netd/ovs/remote.hpp"

namespace netd::ovs {

// A byte stream to one of a list of remotes that reconnects with backoff until stopped: the
// connection lifecycle that OvsdbClient and OpenFlowClient share, on the caller's Asio loop.
// After a failed attempt or a lost connection it moves to the next remote of the list. For an
// ssl: remote, connecting includes the TLS handshake, and the TLS files are read again for every
// connection, so that certificates renewed on disk take effect at the next one.
class ReconnectingStream {
 public:
  struct Options {
    std::string peer;  // who listens there, for messages ("ovsdb-server")
    std::chrono::milliseconds min_backoff;
    std::chrono::milliseconds max_backoff;
    // Nothing received for this long: Handlers::probe is called (the client sends its
    // protocol's echo request); nothing for as long again: the connection is given up, since a
    // peer that died without closing it (a host gone, a process stopped) looks exactly like a
    // quiet one. 0: never.
    std::chrono::milliseconds inactivity_probe{0};
    // A request the client awaits (Awaiting) with no answer (Answered) for this long: the
    // connection is given up, and the client's callbacks hear it as lost. 0: never.
    std::chrono::milliseconds request_timeout{0};
    // Bytes queued that the peer has not taken beyond this: the connection is given up rather
    // than netd's memory growing behind a peer that does not read.
    std::size_t max_unwritten = std::size_t{64} << 20;
  };
  struct Handlers {
    // The connection stands and is being read (an ssl: remote: the handshake is done).
    std::function<void()> connected;
    // Bytes as they were read, in order.
    std::function<void(std::string_view bytes)> received;
    // A connection attempt failed (`was_connected` false) or the connection was lost, also
    // through Drop or Stop. Unless stopped, the next attempt (at the next remote) follows after
    // retry_delay(). The handler may destroy the stream.
    std::function<void(const std::string& why, bool was_connected)> lost;
    // Send an echo request (Options::inactivity_probe); whatever comes back counts.
    std::function<void()> probe;
  };
  // Connections given up by the watchdog, since the stream was made.
  struct Counters {
    std::uint64_t probe_timeouts = 0;
    std::uint64_t request_timeouts = 0;
    std::uint64_t overflows = 0;
  };

  // `remotes` must not be empty (std::invalid_argument).
  ReconnectingStream(boost::asio::io_context& io, std::vector<Remote> remotes, TlsFiles tls,
                     Options options, Handlers handlers);
  ~ReconnectingStream();
  ReconnectingStream(const ReconnectingStream&) = delete;
  ReconnectingStream& operator=(const ReconnectingStream&) = delete;

  // Connects (and keeps reconnecting) until Stop.
  void Start();
  void Stop();

  // The remote connected, being tried, or tried next.
  const Remote& remote() const { return remotes_[current_]; }
  bool running() const { return running_; }
  bool connected() const { return connected_; }
  // Queued behind what is not yet written; without a connection, dropped. Beyond
  // Options::max_unwritten the connection is given up (from the loop, not within this call).
  void Write(std::string_view bytes);
  // Request `id` was sent and awaits its answer (Options::request_timeout); ids must grow in
  // the order requests are sent. Forgotten with the connection.
  void Awaiting(std::uint64_t id);
  void Answered(std::uint64_t id);
  const Counters& counters() const { return counters_; }
  // Gives up the current connection (the peer broke the protocol); reconnects after the pause.
  void Drop(const std::string& why);
  // The peer proved healthy (it answered, not only accepted): the next pause is the shortest,
  // and a new round of the remotes starts.
  void ResetBackoff() {
    backoff_ = options_.min_backoff;
    failed_in_round_ = 0;
  }
  // The pause before the next attempt once the current connection is lost: none while
  // remotes of the round are left to try.
  std::chrono::milliseconds retry_delay() const;

 private:
  struct Connection;

  void Connect();
  void Connected(const std::shared_ptr<Connection>& connection);
  bool Current(const std::shared_ptr<Connection>& connection) const;
  void Read(const std::shared_ptr<Connection>& connection);
  void WriteNext();
  void Lost(const std::string& why);
  void Close();
  void ArmWatchdog();
  void Watch();

  boost::asio::io_context& io_;
  std::vector<Remote> remotes_;
  std::size_t current_ = 0;
  // Attempts and connections lost since the last healthy connection or pause.
  std::size_t failed_in_round_ = 0;
  TlsFiles tls_;
  Options options_;
  Handlers handlers_;
  boost::asio::steady_timer timer_;  // the pause before reconnecting, or a connect's deadline
  std::chrono::milliseconds backoff_;
  std::shared_ptr<Connection> connection_;  // the current attempt or connection
  std::string outbox_;                      // queued while a write is in flight
  bool running_ = false;
  bool connected_ = false;
  bool overflowing_ = false;  // over max_unwritten; the connection is being given up
  // The inactivity probe and the requests' deadlines, on the current connection.
  boost::asio::steady_timer watchdog_;
  std::chrono::steady_clock::time_point last_received_;
  std::optional<std::chrono::steady_clock::time_point> probe_sent_;
  std::map<std::uint64_t, std::chrono::steady_clock::time_point> awaiting_;
  Counters counters_;
  // Handlers check it: the stream may be gone when a cancelled operation completes.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace netd::ovs
