#include "reconnecting_stream.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <variant>

namespace netd::ovs {
namespace {

namespace ssl = boost::asio::ssl;
using UnixSocket = boost::asio::local::stream_protocol::socket;
using TcpSocket = boost::asio::ip::tcp::socket;
using TlsStream = ssl::stream<TcpSocket>;
using AnyStream = std::variant<UnixSocket, TcpSocket, TlsStream>;

// An attempt that has not connected by then is given up: a TCP peer that vanished would
// otherwise hold it for minutes of SYN retries, a stalled TLS handshake forever.
constexpr std::chrono::seconds kConnectTimeout{10};

// Read for every connection: a renewed certificate needs no restart. The server's certificate
// must be signed by the CA; its names are not checked, as Open vSwitch's own clients do not
// (certificates made with ovs-pki name no address).
std::unique_ptr<ssl::context> TlsContext(const TlsFiles& files, std::string& failure) {
  auto context = std::make_unique<ssl::context>(ssl::context::tls_client);
  boost::system::error_code error;
  auto failed = [&](std::string_view what, const std::filesystem::path& file) {
    if (!error) return false;
    // Of a file it cannot open, OpenSSL 3 tells Asio no reason ("asio.ssl error").
    auto reason = ::access(file.c_str(), R_OK) == 0 ? error.message() : std::strerror(errno);
    failure = fmt::format("cannot use the {} {}: {}", what, file.string(), reason);
    return true;
  };
  // TLS 1.2 at least; ovsdb-server speaks it by default.
  context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                       ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  context->set_verify_mode(ssl::verify_peer);
  context->load_verify_file(files.ca_certificate.string(), error);
  if (failed("CA certificate", files.ca_certificate)) return nullptr;
  context->use_certificate_chain_file(files.certificate.string(), error);
  if (failed("certificate", files.certificate)) return nullptr;
  context->use_private_key_file(files.private_key.string(), ssl::context::pem, error);
  if (failed("private key", files.private_key)) return nullptr;
  return context;
}

AnyStream MakeStream(boost::asio::io_context& io, Remote::Kind kind, ssl::context* tls) {
  if (kind == Remote::Kind::kUnix) return AnyStream(std::in_place_type<UnixSocket>, io);
  if (kind == Remote::Kind::kTcp) return AnyStream(std::in_place_type<TcpSocket>, io);
  return AnyStream(std::in_place_type<TlsStream>, io, *tls);
}

}  // namespace

// One connection attempt and, once it succeeds, the connection. Each pending operation holds
// it, so that what the operation uses (the socket, a TLS stream's state, the buffers) outlives
// a Stop, a lost connection or the ReconnectingStream until the operation completes.
struct ReconnectingStream::Connection {
  Connection(boost::asio::io_context& io, Remote::Kind kind, std::unique_ptr<ssl::context> context)
      : tls(std::move(context)), stream(MakeStream(io, kind, tls.get())) {}

  void Close() {
    boost::system::error_code ignored;
    std::visit([&](auto& socket) { socket.lowest_layer().close(ignored); }, stream);
  }

  std::unique_ptr<ssl::context> tls;  // ssl: only; before the stream that uses it
  AnyStream stream;
  std::array<char, 65536> read_buffer{};
  std::string writing;  // the write in flight
};

ReconnectingStream::ReconnectingStream(boost::asio::io_context& io, std::vector<Remote> remotes,
                                       TlsFiles tls, Options options, Handlers handlers)
    : io_(io),
      remotes_(std::move(remotes)),
      tls_(std::move(tls)),
      options_(std::move(options)),
      handlers_(std::move(handlers)),
      timer_(io),
      backoff_(options_.min_backoff),
      watchdog_(io) {
  if (remotes_.empty()) throw std::invalid_argument("no remote to connect to");
}

ReconnectingStream::~ReconnectingStream() {
  Close();
}

void ReconnectingStream::Start() {
  if (running_) return;
  running_ = true;
  Connect();
}

void ReconnectingStream::Stop() {
  running_ = false;
  timer_.cancel();
  if (connected_) {
    Lost("stopped");
  } else {
    Close();  // an attempt under way
  }
}

void ReconnectingStream::Close() {
  if (connection_) connection_->Close();
  connection_.reset();
}

bool ReconnectingStream::Current(const std::shared_ptr<Connection>& connection) const {
  return connection == connection_;
}

void ReconnectingStream::Connect() {
  Close();
  std::weak_ptr<bool> alive = alive_;
  std::unique_ptr<ssl::context> context;
  const auto& target = remote();
  if (target.kind == Remote::Kind::kSsl) {
    std::string failure;
    context = TlsContext(tls_, failure);
    if (!context) {
      // Reported from the loop, as every other failed attempt is.
      boost::asio::post(io_, [this, alive, failure] {
        if (alive.lock() && running_ && !connection_) Lost(failure);
      });
      return;
    }
  }
  auto connection = std::make_shared<Connection>(io_, target.kind, std::move(context));
  connection_ = connection;
  auto failed = [this, alive, connection](std::string_view what,
                                          const boost::system::error_code& error) {
    if (!alive.lock() || !Current(connection)) return true;
    if (!error) return false;
    Lost(fmt::format("{}: {}", what, error.message()));
    return true;
  };
  if (target.kind == Remote::Kind::kUnix) {
    std::get<UnixSocket>(connection->stream)
        .async_connect(UnixSocket::endpoint_type(target.path.string()),
                       [this, connection, failed](const boost::system::error_code& error) {
                         if (!failed("cannot connect", error)) Connected(connection);
                       });
  } else {
    auto* tls = std::get_if<TlsStream>(&connection->stream);
    auto& socket = tls ? tls->next_layer() : std::get<TcpSocket>(connection->stream);
    socket.async_connect(
        {target.address, target.port},
        [this, connection, failed, &socket, tls](const boost::system::error_code& error) {
          if (failed("cannot connect", error)) return;
          // Messages are small and wait for their answers: Nagle's algorithm would hold one
          // back until the peer acknowledged the one before (with delayed ACKs, tens of ms).
          boost::system::error_code ignored;
          socket.set_option(boost::asio::ip::tcp::no_delay(true), ignored);
          if (!tls) {
            Connected(connection);
            return;
          }
          tls->async_handshake(ssl::stream_base::client,
                               [this, connection, failed](const boost::system::error_code& error) {
                                 if (!failed("TLS handshake failed", error)) Connected(connection);
                               });
        });
  }
  timer_.expires_after(kConnectTimeout);
  timer_.async_wait([this, alive, connection](const boost::system::error_code& error) {
    if (error || !alive.lock() || !Current(connection) || connected_) return;
    Lost(fmt::format("not connected within {} s", kConnectTimeout.count()));
  });
}

void ReconnectingStream::Connected(const std::shared_ptr<Connection>& connection) {
  timer_.cancel();  // the deadline
  connected_ = true;
  overflowing_ = false;
  outbox_.clear();
  awaiting_.clear();
  probe_sent_.reset();
  last_received_ = std::chrono::steady_clock::now();
  Read(connection);
  ArmWatchdog();
  handlers_.connected();
}

// Wakes at a quarter of the shorter period: a silent peer is noticed within 2¼ probe periods,
// a late answer within 1¼ request timeouts.
void ReconnectingStream::ArmWatchdog() {
  auto periods = {options_.inactivity_probe, options_.request_timeout};
  std::chrono::milliseconds tick{0};
  for (auto period : periods) {
    if (period.count() > 0 && (tick.count() == 0 || period < tick)) tick = period;
  }
  if (tick.count() == 0) return;
  watchdog_.expires_after(std::max(tick / 4, std::chrono::milliseconds(1)));
  std::weak_ptr<bool> alive = alive_;
  watchdog_.async_wait(
      [this, alive, connection = connection_](const boost::system::error_code& error) {
        if (error || !alive.lock() || !Current(connection) || !connected_) return;
        Watch();
      });
}

void ReconnectingStream::Watch() {
  auto now = std::chrono::steady_clock::now();
  if (auto period = options_.inactivity_probe; period.count() > 0) {
    if (probe_sent_ && last_received_ >= *probe_sent_) probe_sent_.reset();
    if (!probe_sent_ && now >= last_received_ + period) {
      probe_sent_ = now;
      if (handlers_.probe) handlers_.probe();
      if (!connected_) return;
    } else if (probe_sent_ && now >= *probe_sent_ + period) {
      ++counters_.probe_timeouts;
      Lost(fmt::format(
          "nothing received for {} ms, not even an answer to an echo request",
          std::chrono::duration_cast<std::chrono::milliseconds>(now - last_received_).count()));
      return;
    }
  }
  if (auto timeout = options_.request_timeout; timeout.count() > 0 && !awaiting_.empty()) {
    auto [id, sent] = *awaiting_.begin();
    if (now >= sent + timeout) {
      ++counters_.request_timeouts;
      Lost(fmt::format("no answer to request {} within {} ms", id, timeout.count()));
      return;
    }
  }
  ArmWatchdog();
}

void ReconnectingStream::Awaiting(std::uint64_t id) {
  if (connected_) awaiting_.emplace(id, std::chrono::steady_clock::now());
}

void ReconnectingStream::Answered(std::uint64_t id) {
  awaiting_.erase(id);
}

void ReconnectingStream::Read(const std::shared_ptr<Connection>& connection) {
  std::weak_ptr<bool> alive = alive_;
  auto done = [this, alive, connection](const boost::system::error_code& error, std::size_t n) {
    if (!alive.lock() || !Current(connection)) return;
    if (error == boost::asio::error::eof || error == ssl::error::stream_truncated) {
      Lost(options_.peer + " closed the connection");
      return;
    }
    if (error) {
      Lost("reading: " + error.message());
      return;
    }
    last_received_ = std::chrono::steady_clock::now();
    handlers_.received(std::string_view(connection->read_buffer.data(), n));
    if (alive.lock() && Current(connection)) Read(connection);
  };
  std::visit(
      [&](auto& stream) {
        stream.async_read_some(boost::asio::buffer(connection->read_buffer), std::move(done));
      },
      connection->stream);
}

void ReconnectingStream::Write(std::string_view bytes) {
  if (!connected_ || overflowing_) return;
  if (outbox_.size() + connection_->writing.size() + bytes.size() > options_.max_unwritten) {
    // Given up from the loop: the caller may be halfway through queuing related messages, and
    // its lost handler must not run under it.
    overflowing_ = true;
    ++counters_.overflows;
    std::weak_ptr<bool> alive = alive_;
    boost::asio::post(io_, [this, alive, connection = connection_] {
      if (!alive.lock() || !Current(connection)) return;
      Drop(fmt::format("{} has not taken {} bytes netd queued for it", options_.peer,
                       options_.max_unwritten));
    });
    return;
  }
  outbox_.append(bytes);
  if (connection_->writing.empty()) WriteNext();
}

void ReconnectingStream::WriteNext() {
  if (outbox_.empty()) return;
  auto connection = connection_;
  connection->writing.swap(outbox_);
  outbox_.clear();
  std::weak_ptr<bool> alive = alive_;
  auto done = [this, alive, connection](const boost::system::error_code& error, std::size_t) {
    if (!alive.lock() || !Current(connection)) return;
    connection->writing.clear();
    if (error) {
      Lost("writing: " + error.message());
      return;
    }
    WriteNext();
  };
  std::visit(
      [&](auto& stream) {
        boost::asio::async_write(stream, boost::asio::buffer(connection->writing), std::move(done));
      },
      connection->stream);
}

std::chrono::milliseconds ReconnectingStream::retry_delay() const {
  if (failed_in_round_ + 1 < remotes_.size()) return std::chrono::milliseconds(0);
  return backoff_;
}

void ReconnectingStream::Drop(const std::string& why) {
  if (connected_) Lost(why);
}

void ReconnectingStream::Lost(const std::string& why) {
  bool was_connected = connected_;
  connected_ = false;
  Close();
  outbox_.clear();
  awaiting_.clear();
  probe_sent_.reset();
  watchdog_.cancel();
  std::weak_ptr<bool> alive = alive_;
  // The handler may destroy the stream, and with it handlers_.
  auto lost = handlers_.lost;
  auto delay = retry_delay();
  lost(why, was_connected);
  if (!alive.lock() || !running_) return;
  // The next remote at once while the round has some left, and the backoff once all of them
  // failed: a cluster's member that is down or refused costs no pause when another can
  // serve, and a cluster that is down altogether is not tried in a busy loop.
  current_ = (current_ + 1) % remotes_.size();
  if (++failed_in_round_ >= remotes_.size()) {
    failed_in_round_ = 0;
    backoff_ = std::min(backoff_ * 2, options_.max_backoff);
  }
  timer_.expires_after(delay);
  timer_.async_wait([this, alive](const boost::system::error_code& error) {
    if (!error && alive.lock() && running_) Connect();
  });
}

}  // namespace netd::ovs
