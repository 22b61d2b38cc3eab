#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

// What the netctl and netd_client tests need instead of netd: a scripted stand-in for its
// socket, and a private directory to put sockets in.
namespace netd::cli_testing {

// A private directory under /tmp, removed with its contents on destruction. Its path is short:
// it holds unix sockets.
class ScratchDirectory {
 public:
  ScratchDirectory();
  ~ScratchDirectory();
  ScratchDirectory(const ScratchDirectory&) = delete;
  ScratchDirectory& operator=(const ScratchDirectory&) = delete;

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// A stand-in for netd's socket that answers each connection with one scripted reply (an empty
// reply: close without answering) and remembers the requests it read. With no replies it listens
// but never accepts, like a hung netd.
class ScriptedServer {
 public:
  explicit ScriptedServer(std::vector<std::string> replies);
  ~ScriptedServer();
  ScriptedServer(const ScriptedServer&) = delete;
  ScriptedServer& operator=(const ScriptedServer&) = delete;

  std::string socket_path() const { return (directory_.path() / "s.sock").string(); }
  // The raw requests received; waits until every scripted reply is served (or its bounded wait
  // for a connection has passed).
  std::vector<std::string> requests();

 private:
  void Serve(std::vector<std::string> replies);

  ScratchDirectory directory_;
  int listen_fd_ = -1;
  std::vector<std::string> requests_;
  std::thread thread_;
};

// An HTTP/1.1 response with a Content-Length.
std::string HttpReply(int status, std::string_view reason, std::string_view content_type,
                      std::string_view body);

}  // namespace netd::cli_testing
