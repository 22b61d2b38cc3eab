#include "scripted_server.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <stdexcept>
#include <system_error>

namespace netd::cli_testing {
namespace {

constexpr std::chrono::milliseconds kServerAcceptTimeout{5000};

[[noreturn]] void ThrowErrno(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

// A file descriptor closed when it goes out of scope.
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

sockaddr_un UnixAddress(const std::string& path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.size() >= sizeof(address.sun_path)) {
    throw std::invalid_argument("socket path too long: " + path);
  }
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  return address;
}

// Reads one HTTP request: the head, then as many body bytes as its Content-Length says.
std::string ReadHttpRequest(int fd) {
  std::string request;
  std::size_t wanted = std::string::npos;
  char buffer[4096];
  while (wanted == std::string::npos || request.size() < wanted) {
    pollfd readable{fd, POLLIN, 0};
    if (poll(&readable, 1, static_cast<int>(kServerAcceptTimeout.count())) <= 0) break;
    const ssize_t length = read(fd, buffer, sizeof(buffer));
    if (length <= 0) break;
    request.append(buffer, static_cast<std::size_t>(length));
    const auto head_end = request.find("\r\n\r\n");
    if (wanted == std::string::npos && head_end != std::string::npos) {
      std::string head = request.substr(0, head_end);
      for (auto& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      const auto header = head.find("\r\ncontent-length:");
      const std::size_t body_length =
          header == std::string::npos ? 0 : std::stoul(head.substr(header + 17));
      wanted = head_end + 4 + body_length;
    }
  }
  return request;
}

}  // namespace

ScratchDirectory::ScratchDirectory() {
  std::string pattern = "/tmp/netctl-XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr) ThrowErrno("mkdtemp " + pattern);
  path_ = pattern;
}

ScratchDirectory::~ScratchDirectory() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

ScriptedServer::ScriptedServer(std::vector<std::string> replies)
    : listen_fd_(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
  if (listen_fd_ < 0) ThrowErrno("socket");
  const sockaddr_un address = UnixAddress(socket_path());
  if (bind(listen_fd_, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0 ||
      listen(listen_fd_, 8) != 0) {
    const int error = errno;
    close(listen_fd_);
    throw std::system_error(error, std::generic_category(), "listen on " + socket_path());
  }
  if (!replies.empty()) thread_ = std::thread(&ScriptedServer::Serve, this, std::move(replies));
}

ScriptedServer::~ScriptedServer() {
  if (thread_.joinable()) thread_.join();
  close(listen_fd_);
}

std::vector<std::string> ScriptedServer::requests() {
  if (thread_.joinable()) thread_.join();
  return requests_;
}

void ScriptedServer::Serve(std::vector<std::string> replies) {
  for (const auto& reply : replies) {
    // Bounded, so that a test whose client never connects still ends.
    pollfd readable{listen_fd_, POLLIN, 0};
    if (poll(&readable, 1, static_cast<int>(kServerAcceptTimeout.count())) <= 0) return;
    FileDescriptor connection(accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC));
    if (connection.get() < 0) return;
    requests_.push_back(ReadHttpRequest(connection.get()));
    for (std::size_t written = 0; written < reply.size();) {
      // MSG_NOSIGNAL: a client that gave up must not kill the test with SIGPIPE.
      const ssize_t length =
          send(connection.get(), reply.data() + written, reply.size() - written, MSG_NOSIGNAL);
      if (length <= 0) break;
      written += static_cast<std::size_t>(length);
    }
  }
}

std::string HttpReply(int status, std::string_view reason, std::string_view content_type,
                      std::string_view body) {
  std::ostringstream reply;
  reply << "HTTP/1.1 " << status << ' ' << reason << "\r\n"
        << "Content-Type: " << content_type << "\r\n"
        << "Content-Length: " << body.size() << "\r\n"
        << "Connection: close\r\n\r\n"
        << body;
  return reply.str();
}

}  // namespace netd::cli_testing
