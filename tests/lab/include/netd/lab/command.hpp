#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace netd::lab {

// What a finished command left behind. exit_code is 128 + signal number when it was killed.
struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;

  bool ok() const { return exit_code == 0; }
};

struct RunOptions {
  // "NAME=value" entries that override or extend the inherited environment.
  std::vector<std::string> env;
  // false: the child sees only `env` (and PATH), nothing of the test's own environment.
  bool inherit_environment = true;
  // A command still running then is killed and Run throws: a hung tool must not hang a test.
  std::chrono::milliseconds timeout = std::chrono::seconds(30);
};

struct StartOptions {
  std::vector<std::string> env;
  // Receives stdout and stderr (appended), so daemons never write into the test's output.
  std::filesystem::path output = "/dev/null";
};

// A child process in its own process group. Destruction stops the whole group (SIGTERM, then
// SIGKILL after a grace period) and reaps it. The child also gets SIGKILL if the test process
// dies, so a crashed test leaves no daemons behind.
class Process {
 public:
  Process() = default;
  Process(Process&& other) noexcept;
  Process& operator=(Process&& other) noexcept;
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  ~Process();

  // -1 once the process has been reaped (or for an empty handle).
  pid_t pid() const { return pid_; }
  bool Running() const;
  // Waits up to `timeout` for the process to exit by itself; on exit reaps it and returns its
  // status (exit code, or 128 + signal).
  std::optional<int> WaitForExit(std::chrono::milliseconds timeout);
  // Stops the process group and reaps it; returns its status. No-op on an empty handle.
  std::optional<int> Stop(std::chrono::milliseconds grace = std::chrono::seconds(3));

 private:
  friend CommandResult RunCommand(const std::vector<std::string>& argv, const RunOptions& options);
  friend Process StartProcess(const std::vector<std::string>& argv, const StartOptions& options);
  Process(pid_t pid, int registration_slot);
  int Reap();

  pid_t pid_ = -1;
  int registration_slot_ = -1;
};

// Runs argv to completion, capturing stdout and stderr. argv[0] is looked up in PATH and in the
// sbin directories (where iproute2 and the OVS daemons live).
CommandResult RunCommand(const std::vector<std::string>& argv, const RunOptions& options = {});
// Like RunCommand, but throws std::runtime_error (with the command and its stderr) on a non-zero
// exit.
CommandResult RunCommandChecked(const std::vector<std::string>& argv,
                                const RunOptions& options = {});
// Starts a long-running process.
Process StartProcess(const std::vector<std::string>& argv, const StartOptions& options = {});

// The full path of an executable, searching PATH and the sbin directories; nullopt if absent.
std::optional<std::filesystem::path> FindExecutable(const std::string& name);

}  // namespace netd::lab
