#pragma once

#include <sys/types.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>

#include "netd/daemon/config.hpp"
#include "netd/daemon/control_api.hpp"

namespace netd {

// Group ids that grant roles, resolved from the configured group names.
struct AccessGroups {
  std::optional<gid_t> admin;
  std::optional<gid_t> service;

  static AccessGroups Resolve(const ApiConfig& api);
};

// Serves the control API: HTTP/1.1 over a unix socket with Boost.Beast. Every connection is
// identified by SO_PEERCRED (uid, gid, pid) and SO_PEERGROUPS; limits on connections, header
// and body size and request time are answered with an error response, then the connection
// is closed.
class HttpServer {
 public:
  HttpServer(boost::asio::io_context& io, const ApiConfig& limits, ControlApi& api,
             ApiMetrics& metrics);
  ~HttpServer();

  // Creates the socket (mode 0660, group = the service group when it exists) and accepts.
  void Listen(const std::filesystem::path& socket_path);
  // Stops accepting and closes idle connections; requests in progress finish.
  void Stop();
  // Applies new limits and groups (SIGHUP); connections already open keep theirs.
  void Reconfigure(const ApiConfig& limits);

  std::size_t open_connections() const;

 private:
  class Session;
  struct Shared;
  void Accept();
  void GiveSocketToServiceGroup();

  boost::asio::io_context& io_;
  boost::asio::local::stream_protocol::acceptor acceptor_;
  std::shared_ptr<Shared> shared_;
  std::filesystem::path socket_path_;
};

}  // namespace netd
