#include "netd/testing/raw_http.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>

namespace netd::testing {

RawConnection::RawConnection(const std::filesystem::path& socket) {
  fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::snprintf(address.sun_path, sizeof(address.sun_path), "%s", socket.c_str());
  if (connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    connect_errno_ = errno;
    close(fd_);
    fd_ = -1;
  }
}

RawConnection::~RawConnection() {
  if (fd_ >= 0) close(fd_);
}

void RawConnection::Send(const std::string& bytes) {
  std::size_t sent = 0;
  while (fd_ >= 0 && sent < bytes.size()) {
    auto n = send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return;  // the server closed: what it answered is still readable
    sent += static_cast<std::size_t>(n);
  }
}

HttpAnswer RawConnection::Receive(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  HttpAnswer answer;
  while (fd_ >= 0) {
    auto header_end = buffer_.find("\r\n\r\n");
    if (header_end != std::string::npos) {
      auto headers = buffer_.substr(0, header_end);
      std::size_t length = 0;
      for (std::size_t at = 0; (at = headers.find("\r\n", at)) != std::string::npos;) {
        at += 2;
        if (headers.compare(at, 15, "Content-Length:") == 0) {
          length = std::strtoul(headers.c_str() + at + 15, nullptr, 10);
        }
      }
      if (buffer_.size() >= header_end + 4 + length) {
        answer.status = std::atoi(buffer_.c_str() + 9);
        answer.body = buffer_.substr(header_end + 4, length);
        buffer_.erase(0, header_end + 4 + length);
        return answer;
      }
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return answer;
    pollfd ready{fd_, POLLIN, 0};
    if (poll(&ready, 1, static_cast<int>(left.count())) <= 0) continue;
    char chunk[65536];
    auto n = recv(fd_, chunk, sizeof(chunk), 0);
    if (n <= 0) return answer;
    buffer_.append(chunk, static_cast<std::size_t>(n));
  }
  return answer;
}

HttpAnswer Request(const std::filesystem::path& socket, const std::string& method,
                   const std::string& target, const std::string& body) {
  RawConnection connection(socket);
  connection.Send(method + " " + target + " HTTP/1.1\r\nHost: netd\r\nContent-Length: " +
                  std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body);
  return connection.Receive();
}

}  // namespace netd::testing
