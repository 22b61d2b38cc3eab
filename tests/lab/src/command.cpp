#include "netd/lab/command.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <utility>

#include "netd/lab/harness.hpp"
#include "registry.hpp"

extern char** environ;

namespace netd::lab {
namespace {

using namespace std::chrono_literals;

// Root's usual PATH may lack these when tests run from a minimal environment.
constexpr const char* kSbinDirs = "/usr/local/sbin:/usr/sbin:/sbin";

class UniqueFd {
 public:
  explicit UniqueFd(int fd = -1) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    Reset(std::exchange(other.fd_, -1));
    return *this;
  }
  ~UniqueFd() { Reset(); }
  int get() const { return fd_; }
  void Reset(int fd = -1) {
    if (fd_ >= 0) close(fd_);
    fd_ = fd;
  }

 private:
  int fd_;
};

std::system_error SystemError(const std::string& what) {
  return std::system_error(errno, std::generic_category(), what);
}

int StatusToExitCode(int status) {
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string SearchPath() {
  const char* path = std::getenv("PATH");
  return (path && *path ? std::string(path) + ":" : std::string()) + kSbinDirs;
}

// The child's environment: ours (unless not inherited), with PATH extended by the sbin
// directories (so that `ip netns exec` finds the daemons) and the caller's overrides applied.
std::vector<std::string> ChildEnvironment(const std::vector<std::string>& overrides,
                                          bool inherit = true) {
  std::map<std::string, std::string> variables;
  for (char** entry = environ; inherit && *entry; ++entry) {
    const std::string text(*entry);
    variables[text.substr(0, text.find('='))] = text;
  }
  variables["PATH"] = "PATH=" + SearchPath();
  for (const auto& entry : overrides) variables[entry.substr(0, entry.find('='))] = entry;
  std::vector<std::string> result;
  for (auto& [name, entry] : variables) result.push_back(std::move(entry));
  return result;
}

std::string FormatCommand(const std::vector<std::string>& argv) {
  std::string text;
  for (const auto& arg : argv) text += (text.empty() ? "" : " ") + arg;
  return text;
}

std::vector<char*> PointerArray(std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  for (auto& s : strings) pointers.push_back(s.data());
  pointers.push_back(nullptr);
  return pointers;
}

struct ChildFds {
  int in;
  int out;
  int err;
};

// Forks and execs argv in a new process group with the given standard fds. Everything the child
// needs is prepared before fork, so the child only makes async-signal-safe calls. The pid is
// registered for the signal handlers before this returns.
std::pair<pid_t, int> ForkExec(const std::vector<std::string>& argv,
                               std::vector<std::string> environment, ChildFds fds) {
  if (argv.empty()) throw std::invalid_argument("empty command");
  StartHarness();  // sweeps and installs the handlers before the first child exists
  const auto executable = FindExecutable(argv[0]);
  if (!executable) throw std::runtime_error("executable not found: " + argv[0]);
  std::vector<std::string> args = argv;
  std::vector<char*> arg_pointers = PointerArray(args);
  std::vector<char*> env_pointers = PointerArray(environment);
  const pid_t parent = getpid();

  // Blocked across fork so that a Ctrl-C cannot run the harness handler in the child.
  sigset_t all_signals;
  sigset_t previous;
  sigfillset(&all_signals);
  pthread_sigmask(SIG_SETMASK, &all_signals, &previous);
  const pid_t pid = fork();
  if (pid == 0) {
    for (int signal_number : {SIGINT, SIGTERM, SIGHUP, SIGPIPE}) signal(signal_number, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    dup2(fds.in, STDIN_FILENO);
    dup2(fds.out, STDOUT_FILENO);
    dup2(fds.err, STDERR_FILENO);
    execve(executable->c_str(), arg_pointers.data(), env_pointers.data());
    const char message[] = "exec failed: ";
    (void)!write(STDERR_FILENO, message, sizeof message - 1);
    (void)!write(STDERR_FILENO, executable->c_str(), std::strlen(executable->c_str()));
    _exit(127);
  }
  if (pid < 0) {
    const int fork_errno = errno;
    pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    errno = fork_errno;
    throw SystemError("fork");
  }
  setpgid(pid, pid);  // also here, so the group exists before anyone signals it
  int slot = -1;
  try {
    slot = detail::RegisterResource(detail::ResourceKind::kProcessGroup, pid, "");
  } catch (...) {
    kill(-pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    throw;
  }
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  return {pid, slot};
}

UniqueFd OpenOrThrow(const std::filesystem::path& path, int flags) {
  UniqueFd fd(open(path.c_str(), flags | O_CLOEXEC, 0644));
  if (fd.get() < 0) throw SystemError("open " + path.string());
  return fd;
}

bool ExitedWithoutReaping(pid_t pid) {
  siginfo_t info{};
  return waitid(P_PID, id_t(pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0 || info.si_pid != 0;
}

}  // namespace

std::optional<std::filesystem::path> FindExecutable(const std::string& name) {
  if (name.find('/') != std::string::npos) return std::filesystem::path(name);
  const std::string path = SearchPath();
  for (std::size_t begin = 0; begin <= path.size();) {
    std::size_t end = path.find(':', begin);
    if (end == std::string::npos) end = path.size();
    const std::filesystem::path candidate =
        std::filesystem::path(path.substr(begin, end - begin)) / name;
    if (end > begin && access(candidate.c_str(), X_OK) == 0) return candidate;
    begin = end + 1;
  }
  return std::nullopt;
}

CommandResult RunCommand(const std::vector<std::string>& argv, const RunOptions& options) {
  int out_pipe[2];
  int err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) throw SystemError("pipe");
  UniqueFd out_read(out_pipe[0]), out_write(out_pipe[1]);
  if (pipe2(err_pipe, O_CLOEXEC) != 0) throw SystemError("pipe");
  UniqueFd err_read(err_pipe[0]), err_write(err_pipe[1]);
  UniqueFd null_in = OpenOrThrow("/dev/null", O_RDONLY);

  const auto [pid, slot] =
      ForkExec(argv, ChildEnvironment(options.env, options.inherit_environment),
               {null_in.get(), out_write.get(), err_write.get()});
  Process child(pid, slot);
  out_write.Reset();
  err_write.Reset();

  CommandResult result;
  const auto deadline = std::chrono::steady_clock::now() + options.timeout;
  pollfd fds[2] = {{out_read.get(), POLLIN, 0}, {err_read.get(), POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  bool timed_out = false;
  while (fds[0].fd >= 0 || fds[1].fd >= 0) {
    const auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (remaining.count() <= 0) {
      timed_out = true;
      break;
    }
    if (poll(fds, 2, int(remaining.count())) < 0 && errno != EINTR) {
      throw SystemError("poll");
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buffer[4096];
      const ssize_t n = read(fds[i].fd, buffer, sizeof buffer);
      if (n > 0) {
        sinks[i]->append(buffer, std::size_t(n));
      } else if (n == 0 || errno != EINTR) {
        fds[i].fd = -1;
      }
    }
  }
  // A command closes its output a moment before it exits (procps and coreutils close stdout in
  // an atexit handler): wait for the exit itself, or Reap's group kill would turn a success
  // into a SIGKILL.
  std::optional<int> status;
  if (!timed_out) {
    status = child.WaitForExit(std::max(0ms, std::chrono::duration_cast<std::chrono::milliseconds>(
                                                 deadline - std::chrono::steady_clock::now())));
  }
  if (!status) {
    child.Stop(0ms);
    throw std::runtime_error("command timed out after " + std::to_string(options.timeout.count()) +
                             " ms: " + FormatCommand(argv) + "\nstderr: " + result.err);
  }
  result.exit_code = *status;
  return result;
}

CommandResult RunCommandChecked(const std::vector<std::string>& argv, const RunOptions& options) {
  CommandResult result = RunCommand(argv, options);
  if (!result.ok()) {
    throw std::runtime_error("command failed with exit code " + std::to_string(result.exit_code) +
                             ": " + FormatCommand(argv) + "\nstderr: " + result.err +
                             "stdout: " + result.out);
  }
  return result;
}

Process StartProcess(const std::vector<std::string>& argv, const StartOptions& options) {
  UniqueFd null_in = OpenOrThrow("/dev/null", O_RDONLY);
  UniqueFd output = OpenOrThrow(options.output, O_WRONLY | O_CREAT | O_APPEND);
  const auto [pid, slot] =
      ForkExec(argv, ChildEnvironment(options.env), {null_in.get(), output.get(), output.get()});
  return Process(pid, slot);
}

Process::Process(pid_t pid, int registration_slot)
    : pid_(pid), registration_slot_(registration_slot) {}

Process::Process(Process&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      registration_slot_(std::exchange(other.registration_slot_, -1)) {}

Process& Process::operator=(Process&& other) noexcept {
  if (this != &other) {
    Stop();
    pid_ = std::exchange(other.pid_, -1);
    registration_slot_ = std::exchange(other.registration_slot_, -1);
  }
  return *this;
}

Process::~Process() {
  Stop();
}

bool Process::Running() const {
  return pid_ > 0 && !ExitedWithoutReaping(pid_);
}

std::optional<int> Process::WaitForExit(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return std::nullopt;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!ExitedWithoutReaping(pid_)) {
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(1ms);
  }
  return Reap();
}

std::optional<int> Process::Stop(std::chrono::milliseconds grace) {
  if (pid_ <= 0) return std::nullopt;
  kill(-pid_, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + grace;
  while (!ExitedWithoutReaping(pid_) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  return Reap();
}

// The group is killed before the leader is reaped: while the leader is a zombie its pid (the
// group id) cannot be reused, so the signal only reaches our stragglers.
int Process::Reap() {
  kill(-pid_, SIGKILL);
  int status = 0;
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  detail::ReleaseResource(registration_slot_);
  pid_ = -1;
  registration_slot_ = -1;
  return StatusToExitCode(status);
}

}  // namespace netd::lab
