#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

// Helpers of the netctl and netd_client tests: running a program with its output streams apart
// and a controlled environment, and a scripted stand-in for netd's socket. (Running a real netd
// is tests/support's NetdProcess.)
namespace netd::cli_testing {

// A private directory under the system's temporary directory, removed with all its contents
// when the owner goes away (also when a test fails half-way).
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// The environment the tests give netctl: nothing inherited, so that a NETD_SOCKET or locale of
// the machine running the tests cannot change what they see.
std::vector<std::string> MinimalEnvironment(std::vector<std::string> extra = {});

struct ProgramRun {
  int exit_code = -1;  // -1 when the program was killed by a signal (or for the timeout)
  std::string out;
  std::string err;
};

// Runs `argv` to completion with exactly `environment`, capturing stdout and stderr apart; a
// program still running after `timeout` is killed.
ProgramRun RunProgram(const std::vector<std::string>& argv,
                      const std::vector<std::string>& environment,
                      std::chrono::milliseconds timeout = std::chrono::seconds(30));

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

  TempDir directory_;
  int listen_fd_ = -1;
  std::vector<std::string> requests_;
  std::thread thread_;
};

// An HTTP/1.1 response with a Content-Length.
std::string HttpReply(int status, std::string_view reason, std::string_view content_type,
                      std::string_view body);

}  // namespace netd::cli_testing
