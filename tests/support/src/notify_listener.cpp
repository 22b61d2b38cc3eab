#include "netd/testing/notify_listener.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <sstream>
#include <stdexcept>

namespace netd::testing {

NotifyListener::NotifyListener(std::filesystem::path path)
    : path_(std::move(path)), fd_(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, path_.c_str(), sizeof(address.sun_path) - 1);
  if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    if (fd_ >= 0) close(fd_);
    throw std::runtime_error("cannot bind " + path_.string());
  }
}

NotifyListener::~NotifyListener() {
  close(fd_);
}

std::string NotifyListener::Next(std::chrono::milliseconds limit) {
  pollfd readable{fd_, POLLIN, 0};
  if (poll(&readable, 1, static_cast<int>(limit.count())) != 1) return {};
  char message[4096];
  auto length = recv(fd_, message, sizeof(message), 0);
  return length > 0 ? std::string(message, static_cast<std::size_t>(length)) : std::string();
}

bool NotifyListener::Hears(const std::string& line, std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  for (auto now = std::chrono::steady_clock::now(); now < deadline;
       now = std::chrono::steady_clock::now()) {
    std::istringstream lines(
        Next(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now)));
    for (std::string received; std::getline(lines, received);) {
      if (received == line) return true;
    }
  }
  return false;
}

}  // namespace netd::testing
