#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "netd/lab/temp_dir.hpp"

// Helpers of the netctl and netd_client tests: a controlled environment for netctl and a
// scripted stand-in for netd's socket. (Running programs and temporary directories come from
// tests/lab; running a real netd is tests/support's NetdProcess.)
namespace netd::cli_testing {

// The environment the tests give netctl (run with inherit_environment = false): nothing of the
// machine's, so that a NETD_SOCKET or locale there cannot change what the tests see.
std::vector<std::string> MinimalEnvironment(std::vector<std::string> extra = {});

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

  lab::TempDir directory_{"scripted"};
  int listen_fd_ = -1;
  std::vector<std::string> requests_;
  std::thread thread_;
};

// An HTTP/1.1 response with a Content-Length.
std::string HttpReply(int status, std::string_view reason, std::string_view content_type,
                      std::string_view body);

}  // namespace netd::cli_testing
