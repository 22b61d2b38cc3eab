#include "netd/daemon/http_server.hpp"

#include <fmt/format.h>
#include <grp.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <set>
#include <vector>

namespace netd {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using local = asio::local::stream_protocol;

AccessGroups AccessGroups::Resolve(const ApiConfig& api) {
  auto lookup = [](const std::string& name, std::string_view role) -> std::optional<gid_t> {
    std::vector<char> buffer(16384);
    group entry{};
    group* result = nullptr;
    if (getgrnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &result) == 0 && result) {
      return result->gr_gid;
    }
    spdlog::warn("api: group \"{}\" does not exist; only root has the {} role", name, role);
    return std::nullopt;
  };
  return {lookup(api.admin_group, "admin"), lookup(api.service_group, "service")};
}

struct HttpServer::Shared {
  ApiConfig limits;
  AccessGroups groups;
  ControlApi& api;
  ApiMetrics& metrics;
  bool stopping = false;
  std::set<Session*> sessions;
};

class HttpServer::Session : public std::enable_shared_from_this<Session> {
 public:
  Session(local::socket socket, std::shared_ptr<Shared> shared)
      : socket_(std::move(socket)),
        shared_(std::move(shared)),
        limits_(shared_->limits),
        timer_(socket_.get_executor()) {}

  ~Session() { shared_->sessions.erase(this); }

  void Start() {
    shared_->sessions.insert(this);
    Identify();
    spdlog::debug("api: connection from uid={} gid={} pid={} exe={} access={}", caller_.uid,
                  caller_.gid, caller_.pid, caller_.exe, ToString(access_));
    ReadRequest();
  }

  // Answers a connection that cannot be served at all, then closes it.
  void Refuse(const ApiError& error) {
    shared_->metrics.CountRejectedConnection(error.code);
    Respond(ErrorResponse(error), false);
  }

  // On shutdown: a connection waiting for a request is closed; one being answered finishes.
  void CloseIfIdle() {
    if (reading_) {
      boost::system::error_code ignored;
      socket_.close(ignored);
    }
  }

 private:
  void Identify() {
    int fd = socket_.native_handle();
    ucred credentials{};
    socklen_t length = sizeof(credentials);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) != 0) return;
    caller_.uid = credentials.uid;
    caller_.gid = credentials.gid;
    caller_.pid = credentials.pid;
    std::vector<gid_t> groups(32);
    length = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
    if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &length) != 0) {
      bool retried = false;
      if (errno == ERANGE) {
        groups.resize(length / sizeof(gid_t));
        retried = getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &length) == 0;
      }
      if (!retried) length = 0;  // only the primary group counts
    }
    groups.resize(length / sizeof(gid_t));
    groups.push_back(credentials.gid);
    char exe[4096];
    auto exe_length =
        readlink(fmt::format("/proc/{}/exe", credentials.pid).c_str(), exe, sizeof(exe) - 1);
    if (exe_length > 0) caller_.exe.assign(exe, static_cast<std::size_t>(exe_length));

    auto member = [&](const std::optional<gid_t>& gid) {
      return gid && std::find(groups.begin(), groups.end(), *gid) != groups.end();
    };
    if (credentials.uid == 0 || member(shared_->groups.admin)) {
      access_ = AccessLevel::kAdmin;
    } else if (member(shared_->groups.service)) {
      access_ = AccessLevel::kService;
    }
  }

  void ReadRequest() {
    parser_.emplace();
    parser_->body_limit(limits_.max_body_bytes);
    parser_->header_limit(static_cast<std::uint32_t>(limits_.max_header_bytes));
    timed_out_ = false;
    reading_ = true;
    timer_.expires_after(limits_.request_timeout);
    timer_.async_wait([self = shared_from_this()](boost::system::error_code error) {
      if (error) return;
      self->timed_out_ = true;
      boost::system::error_code ignored;
      self->socket_.cancel(ignored);
    });
    http::async_read(socket_, buffer_, *parser_,
                     [self = shared_from_this()](boost::system::error_code error, std::size_t) {
                       self->OnRead(error);
                     });
  }

  void OnRead(boost::system::error_code error) {
    reading_ = false;
    timer_.cancel();
    if (timed_out_) {
      if (parser_->got_some()) {
        Fail({408, "request_timeout",
              fmt::format("the request was not received completely within {} ms",
                          limits_.request_timeout.count()),
              ""});
      }
      return;
    }
    if (error == http::error::end_of_stream || error == asio::error::eof ||
        error == asio::error::connection_reset || error == asio::error::operation_aborted ||
        error == asio::error::bad_descriptor) {
      return;
    }
    if (error == http::error::body_limit) {
      Fail({413, "body_too_large",
            fmt::format("the request body exceeds the limit of {} bytes", limits_.max_body_bytes),
            ""});
      return;
    }
    if (error == http::error::header_limit) {
      Fail({431, "headers_too_large",
            fmt::format("the request headers exceed the limit of {} bytes",
                        limits_.max_header_bytes),
            ""});
      return;
    }
    if (error) {
      Fail({400, "malformed_request", fmt::format("malformed HTTP request: {}", error.message()),
            ""});
      return;
    }
    auto request = parser_->release();
    ApiRequest api_request{std::string(request.method_string()), std::string(request.target()),
                           std::move(request.body()), caller_, access_};
    Respond(shared_->api.Handle(api_request), request.keep_alive() && !shared_->stopping);
  }

  void Fail(const ApiError& error) {
    shared_->metrics.CountRequest("unmatched", "-", error.status);
    spdlog::info("api: uid={} pid={} refused {} {}: {}", caller_.uid, caller_.pid, error.status,
                 error.code, error.message);
    Respond(ErrorResponse(error), false);
  }

  void Respond(const ApiResponse& answer, bool keep_alive) {
    response_.emplace(static_cast<http::status>(answer.status), 11);
    response_->set(http::field::server, "netd");
    response_->set(http::field::content_type, answer.content_type);
    response_->keep_alive(keep_alive);
    response_->body() = answer.body;
    response_->prepare_payload();
    http::async_write(
        socket_, *response_,
        [self = shared_from_this(), keep_alive](boost::system::error_code error, std::size_t) {
          if (!error && keep_alive && !self->shared_->stopping) {
            self->ReadRequest();
            return;
          }
          boost::system::error_code ignored;
          self->socket_.shutdown(local::socket::shutdown_send, ignored);
          self->socket_.close(ignored);
        });
  }

  local::socket socket_;
  std::shared_ptr<Shared> shared_;
  ApiConfig limits_;
  asio::steady_timer timer_;
  boost::beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<http::response<http::string_body>> response_;
  Caller caller_;
  AccessLevel access_ = AccessLevel::kNone;
  bool timed_out_ = false;
  bool reading_ = false;
};

HttpServer::HttpServer(asio::io_context& io, const ApiConfig& limits, ControlApi& api,
                       ApiMetrics& metrics)
    : io_(io),
      acceptor_(io),
      shared_(std::make_shared<Shared>(
          Shared{limits, AccessGroups::Resolve(limits), api, metrics, false, {}})) {}

HttpServer::~HttpServer() {
  Stop();
}

void HttpServer::Listen(const std::filesystem::path& socket_path) {
  std::filesystem::create_directories(socket_path.parent_path());
  auto existing = std::filesystem::symlink_status(socket_path);
  if (std::filesystem::exists(existing)) {
    if (!std::filesystem::is_socket(existing)) {
      throw std::runtime_error(fmt::format(
          "{} exists and is not a socket; refusing to replace it (check --socket / netd.socket)",
          socket_path.string()));
    }
    // A socket someone still answers on belongs to another server: never steal it.
    local::socket probe(io_);
    boost::system::error_code error;
    probe.connect(local::endpoint(socket_path.string()), error);
    if (!error) {
      throw std::runtime_error(
          fmt::format("another process is serving on {}; stop it or choose another --socket",
                      socket_path.string()));
    }
    std::filesystem::remove(socket_path);
  }
  acceptor_.open();
  auto old_mask = umask(0117);
  boost::system::error_code error;
  acceptor_.bind(local::endpoint(socket_path.string()), error);
  umask(old_mask);
  if (error) {
    throw std::runtime_error(
        fmt::format("cannot bind control socket {}: {}", socket_path.string(), error.message()));
  }
  socket_path_ = socket_path;
  chmod(socket_path.c_str(), 0660);
  GiveSocketToServiceGroup();
  acceptor_.listen();
  spdlog::info("api: listening on {} (mode 0660, group {})", socket_path.string(),
               shared_->groups.service ? shared_->limits.service_group : "root");
  Accept();
}

void HttpServer::Accept() {
  acceptor_.async_accept([this, shared = shared_](boost::system::error_code error,
                                                  local::socket socket) {
    if (error || shared->stopping) return;
    auto session = std::make_shared<Session>(std::move(socket), shared);
    if (shared->sessions.size() >= shared->limits.max_connections) {
      spdlog::warn("api: refusing a connection: {} connections are open (limit {})",
                   shared->sessions.size(), shared->limits.max_connections);
      session->Refuse({503, "too_many_connections",
                       fmt::format("netd already serves {} connections (the limit); retry later",
                                   shared->limits.max_connections),
                       ""});
    } else {
      session->Start();
    }
    Accept();
  });
}

void HttpServer::Stop() {
  if (shared_->stopping) return;
  shared_->stopping = true;
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  std::error_code not_removed;
  if (!socket_path_.empty()) std::filesystem::remove(socket_path_, not_removed);
  for (auto* session : std::set<Session*>(shared_->sessions)) session->CloseIfIdle();
}

void HttpServer::Reconfigure(const ApiConfig& limits) {
  shared_->limits = limits;
  shared_->groups = AccessGroups::Resolve(limits);
  GiveSocketToServiceGroup();
}

void HttpServer::GiveSocketToServiceGroup() {
  if (socket_path_.empty() || !shared_->groups.service) return;
  if (chown(socket_path_.c_str(), static_cast<uid_t>(-1), *shared_->groups.service) != 0) {
    spdlog::warn("api: cannot give {} to group {}: {}", socket_path_.string(),
                 shared_->limits.service_group, std::strerror(errno));
  }
}

std::size_t HttpServer::open_connections() const {
  return shared_->sessions.size();
}

}  // namespace netd
