#include "netd/testing/scripted_peer.hpp"

#include <linux/sockios.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <stdexcept>
#include <string>

namespace netd::testing {
namespace {

constexpr int kWaitMs = 10000;

// Waits for `fd` to be readable (a connection to accept, bytes or the end of the stream).
void WaitReadable(int fd, const char* what) {
  pollfd readable{.fd = fd, .events = POLLIN, .revents = 0};
  if (poll(&readable, 1, kWaitMs) != 1) {
    throw std::runtime_error(std::string(what) + " within " + std::to_string(kWaitMs / 1000) +
                             " s");
  }
}

}  // namespace

ScriptedPeer::ScriptedPeer(const std::filesystem::path& path) {
  listener_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::snprintf(address.sun_path, sizeof(address.sun_path), "%s", path.c_str());
  if (bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      listen(listener_, 1) != 0) {
    close(listener_);
    throw std::runtime_error("cannot listen on " + path.string());
  }
}

ScriptedPeer::~ScriptedPeer() {
  if (connection_ >= 0) close(connection_);
  close(listener_);
}

bool ScriptedPeer::ConnectionWaiting() const {
  pollfd listening{.fd = listener_, .events = POLLIN, .revents = 0};
  return poll(&listening, 1, 0) == 1;
}

void ScriptedPeer::Accept() {
  if (connection_ >= 0) Drop();
  WaitReadable(listener_, "no client connected");
  connection_ = accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
}

std::size_t ScriptedPeer::BytesWaiting() const {
  int waiting = 0;
  if (ioctl(connection_, FIONREAD, &waiting) != 0) throw std::runtime_error("FIONREAD");
  return static_cast<std::size_t>(waiting);
}

std::vector<char> ScriptedPeer::ReadSome(std::size_t limit) {
  std::vector<char> bytes(limit);
  WaitReadable(connection_, "the client sent nothing");
  auto n = read(connection_, bytes.data(), bytes.size());
  if (n <= 0) throw std::runtime_error("the client closed the connection");
  bytes.resize(static_cast<std::size_t>(n));
  return bytes;
}

void ScriptedPeer::ReadExactly(std::size_t count, std::vector<char>& bytes) {
  auto wanted = bytes.size() + count;
  while (bytes.size() < wanted) {
    auto more = ReadSome(wanted - bytes.size());
    bytes.insert(bytes.end(), more.begin(), more.end());
  }
}

void ScriptedPeer::Write(std::string_view bytes) {
  if (write(connection_, bytes.data(), bytes.size()) != static_cast<ssize_t>(bytes.size())) {
    throw std::runtime_error("write");
  }
}

std::size_t ScriptedPeer::BytesUnread() const {
  int unread = 0;
  if (ioctl(connection_, SIOCOUTQ, &unread) != 0) throw std::runtime_error("SIOCOUTQ");
  return static_cast<std::size_t>(unread);
}

void ScriptedPeer::Drop() {
  close(connection_);
  connection_ = -1;
}

void ScriptedPeer::WaitUntilClosed() {
  char discarded[4096];
  for (;;) {
    WaitReadable(connection_, "the client kept the connection open");
    // An error is a close too: with bytes of ours unread, the client's close resets.
    if (read(connection_, discarded, sizeof(discarded)) <= 0) return;
  }
}

}  // namespace netd::testing
