#pragma once

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

namespace netd::testing {

struct HttpAnswer {
  int status = 0;  // 0: no answer (connection closed or failed)
  std::string body;
  nlohmann::json Json() const { return nlohmann::json::parse(body, nullptr, false); }
};

// A unix-socket connection that sends bytes exactly as given, to exercise the server with
// requests no well-behaved client would send.
class RawConnection {
 public:
  explicit RawConnection(const std::filesystem::path& socket);
  ~RawConnection();
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  bool connected() const { return fd_ >= 0; }
  int connect_errno() const { return connect_errno_; }
  void Send(const std::string& bytes);
  // Reads one response (status line, headers, Content-Length body) within `timeout`.
  HttpAnswer Receive(std::chrono::milliseconds timeout = std::chrono::seconds(15));

 private:
  int fd_ = -1;
  int connect_errno_ = 0;
  std::string buffer_;
};

// One request on its own connection.
HttpAnswer Request(const std::filesystem::path& socket, const std::string& method,
                   const std::string& target, const std::string& body = "");

}  // namespace netd::testing
