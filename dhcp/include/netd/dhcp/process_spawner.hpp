#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace netd::dhcp {

// What a child runs: argv[0] is looked up in PATH; stdout and stderr are appended to `output`.
// The child inherits netd's environment.
struct ProcessCommand {
  std::vector<std::string> argv;
  std::filesystem::path output;
};

// How a child ended.
struct ProcessExit {
  std::optional<int> exit_status;  // it exited
  int signal = 0;                  // a signal ended it

  bool succeeded() const { return exit_status == 0; }
  // "exit status 1", "signal 9": as netd logs it.
  std::string Describe() const;
};

// A running child. Destroying the handle ends a child still running (SIGTERM, SIGKILL after
// 1 s) and reaps it, so no child outlives its owner unwaited.
class ChildProcess {
 public:
  virtual ~ChildProcess() = default;
  virtual int pid() const = 0;
  // Whether the signal was delivered.
  virtual bool Signal(int signal) = 0;
};

// The process-spawning seam: the supervisor's logic is tested with a fake, without processes.
class ProcessSpawner {
 public:
  using ExitHandler = std::function<void(ProcessExit)>;

  virtual ~ProcessSpawner() = default;
  // Runs `command` to its end, blocking.
  virtual ProcessExit Run(const ProcessCommand& command) = 0;
  // Starts `command`; `on_exit` runs on the loop once the child has ended by itself (never
  // after its handle is destroyed), and may destroy the handle.
  virtual std::unique_ptr<ChildProcess> Spawn(const ProcessCommand& command,
                                              ExitHandler on_exit) = 0;
};

}  // namespace netd::dhcp
