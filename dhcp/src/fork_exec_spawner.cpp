#include "netd/dhcp/fork_exec_spawner.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <cerrno>
#include <csignal>
#include <system_error>
#include <utility>

#include "pidfd.hpp"
#include "unique_fd.hpp"

namespace netd::dhcp {
namespace {

ProcessExit FromWaitStatus(int status) {
  if (WIFEXITED(status)) return {WEXITSTATUS(status), 0};
  return {std::nullopt, WTERMSIG(status)};
}

int WaitFor(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

// Forks and execs `command`, its output appended to the command's output file; returns the
// child's pid.
pid_t ForkExec(const ProcessCommand& command) {
  UniqueFd output(open(command.output.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640));
  if (output.get() < 0) {
    throw std::system_error(errno, std::generic_category(), "opening " + command.output.string());
  }
  // Built before fork: netd has other threads, so the child may only make system calls.
  std::vector<std::string> arguments = command.argv;
  std::vector<char*> argv;
  for (auto& argument : arguments) argv.push_back(argument.data());
  argv.push_back(nullptr);
  const std::string failure = "netd: cannot run " + arguments.front() + "\n";
  pid_t pid = fork();
  if (pid < 0) {
    throw std::system_error(errno, std::generic_category(), "fork for " + arguments.front());
  }
  if (pid == 0) {
    dup2(output.get(), STDOUT_FILENO);
    dup2(output.get(), STDERR_FILENO);
    int null = open("/dev/null", O_RDONLY);
    if (null >= 0) dup2(null, STDIN_FILENO);
    execvp(argv[0], argv.data());
    [[maybe_unused]] auto ignored = write(STDERR_FILENO, failure.data(), failure.size());
    _exit(127);
  }
  return pid;
}

// A child watched through its pidfd on the loop.
class PidfdChild final : public ChildProcess {
 public:
  PidfdChild(boost::asio::io_context& io, pid_t pid, int pidfd, ProcessSpawner::ExitHandler on_exit)
      : pid_(pid), watch_(io, pidfd), on_exit_(std::move(on_exit)) {
    Watch();
  }

  ~PidfdChild() override {
    if (pid_ <= 0) return;
    EndThroughPidfd(pid_, watch_.native_handle());
    WaitFor(pid_);
  }

  int pid() const override { return pid_; }
  bool Signal(int signal) override { return pid_ > 0 && kill(pid_, signal) == 0; }

 private:
  void Watch() {
    watch_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                      [this](boost::system::error_code error) {
                        if (!error) OnReadable();
                      });
  }

  void OnReadable() {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) <= 0) {
      Watch();
      return;
    }
    pid_ = -1;
    // The handler may destroy this handle: nothing of it is touched after the call.
    auto on_exit = std::move(on_exit_);
    on_exit(FromWaitStatus(status));
  }

  pid_t pid_;
  boost::asio::posix::stream_descriptor watch_;  // owns the pidfd
  ProcessSpawner::ExitHandler on_exit_;
};

}  // namespace

ProcessExit ForkExecSpawner::Run(const ProcessCommand& command) {
  return FromWaitStatus(WaitFor(ForkExec(command)));
}

std::unique_ptr<ChildProcess> ForkExecSpawner::Spawn(const ProcessCommand& command,
                                                     ExitHandler on_exit) {
  pid_t pid = ForkExec(command);
  int pidfd = OpenPidfd(pid);
  if (pidfd < 0) {
    int error = errno;
    kill(pid, SIGKILL);
    WaitFor(pid);
    throw std::system_error(error, std::generic_category(),
                            "pidfd_open for " + command.argv.front());
  }
  return std::make_unique<PidfdChild>(io_, pid, pidfd, std::move(on_exit));
}

}  // namespace netd::dhcp
