#include "netd/lab/harness.hpp"

#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>

#include "registry.hpp"

namespace netd::lab {
namespace detail {
namespace {

constexpr int kFree = 0;
constexpr int kClaimed = 1;
constexpr std::size_t kSlotCount = 512;
constexpr std::size_t kNameCapacity = 160;

struct Slot {
  std::atomic<int> state{kFree};
  pid_t process_group = 0;
  char name[kNameCapacity] = {};
};

std::array<Slot, kSlotCount> slots;
pid_t harness_pid = 0;

void SleepMilliseconds(long ms) noexcept {
  timespec delay{ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&delay, nullptr);
}

long MonotonicMilliseconds() noexcept {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return now.tv_sec * 1000L + now.tv_nsec / 1000000L;
}

// Only async-signal-safe calls from here on: it runs inside the signal handler.
void TearDownEverythingRegistered() noexcept {
  std::array<bool, kSlotCount> reaped{};
  for (auto& slot : slots) {
    if (slot.state.load(std::memory_order_acquire) == int(ResourceKind::kProcessGroup)) {
      kill(-slot.process_group, SIGTERM);
    }
  }
  const long deadline = MonotonicMilliseconds() + 2000;
  for (bool waiting = true; waiting && MonotonicMilliseconds() < deadline;) {
    waiting = false;
    for (std::size_t i = 0; i < kSlotCount; ++i) {
      if (slots[i].state.load(std::memory_order_acquire) != int(ResourceKind::kProcessGroup) ||
          reaped[i]) {
        continue;
      }
      const pid_t result = waitpid(slots[i].process_group, nullptr, WNOHANG);
      if (result == 0) {
        waiting = true;
      } else {
        reaped[i] = true;
      }
    }
    if (waiting) SleepMilliseconds(20);
  }
  for (std::size_t i = 0; i < kSlotCount; ++i) {
    if (slots[i].state.load(std::memory_order_acquire) != int(ResourceKind::kProcessGroup)) {
      continue;
    }
    kill(-slots[i].process_group, SIGKILL);
    if (!reaped[i]) waitpid(slots[i].process_group, nullptr, 0);
  }
  for (auto& slot : slots) {
    if (slot.state.load(std::memory_order_acquire) == int(ResourceKind::kNamespace)) {
      DeleteNamespaceMount(slot.name);
    }
  }
  for (auto& slot : slots) {
    if (slot.state.load(std::memory_order_acquire) != int(ResourceKind::kDirectory)) continue;
    const pid_t remover = _Fork();
    if (remover == 0) {
      char rm[] = "/bin/rm";
      char flags[] = "-rf";
      char* argv[] = {rm, flags, slot.name, nullptr};
      char* envp[] = {nullptr};
      execve(rm, argv, envp);
      _exit(127);
    }
    if (remover > 0) waitpid(remover, nullptr, 0);
  }
}

void OnTerminatingSignal(int signal_number) {
  // A forked child that has not yet exec'd inherits this handler; it owns nothing.
  if (getpid() == harness_pid) TearDownEverythingRegistered();
  // Die of the same signal, so the caller (ctest, a shell) sees how the run ended.
  struct sigaction default_action {};
  default_action.sa_handler = SIG_DFL;
  sigemptyset(&default_action.sa_mask);
  sigaction(signal_number, &default_action, nullptr);
  raise(signal_number);
}

void InstallSignalHandlers() {
  struct sigaction action {};
  action.sa_handler = OnTerminatingSignal;
  sigemptyset(&action.sa_mask);
  for (int signal_number : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&action.sa_mask, signal_number);
  for (int signal_number : {SIGINT, SIGTERM, SIGHUP}) {
    if (sigaction(signal_number, &action, nullptr) != 0) {
      throw std::system_error(errno, std::generic_category(), "sigaction");
    }
  }
}

}  // namespace

int RegisterResource(ResourceKind kind, pid_t process_group, std::string_view name) {
  StartHarness();
  if (name.size() >= kNameCapacity) {
    throw std::length_error("harness resource name too long: " + std::string(name));
  }
  for (std::size_t i = 0; i < kSlotCount; ++i) {
    int expected = kFree;
    if (!slots[i].state.compare_exchange_strong(expected, kClaimed)) continue;
    slots[i].process_group = process_group;
    std::memcpy(slots[i].name, name.data(), name.size());
    slots[i].name[name.size()] = '\0';
    slots[i].state.store(int(kind), std::memory_order_release);
    return int(i);
  }
  throw std::runtime_error("harness resource registry is full");
}

void ReleaseResource(int slot) noexcept {
  if (slot >= 0) slots[std::size_t(slot)].state.store(kFree, std::memory_order_release);
}

void DeleteNamespaceMount(const char* name) noexcept {
  char path[kNameCapacity + 16] = "/run/netns/";
  std::strncat(path, name, kNameCapacity);
  umount2(path, MNT_DETACH);
  unlink(path);
}

}  // namespace detail

namespace {

bool ProcessExists(pid_t pid) {
  return kill(pid, 0) == 0 || errno == EPERM;
}

std::optional<pid_t> ParsePid(std::string_view digits) {
  if (digits.empty() || digits.size() > 9) return std::nullopt;
  pid_t pid = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    pid = pid * 10 + (c - '0');
  }
  return pid;
}

// The creating pid encoded in a "netdt-<pid>-..." name, if the name has that form.
std::optional<pid_t> CreatorPid(std::string_view name) {
  if (!name.starts_with(kResourcePrefix)) return std::nullopt;
  name.remove_prefix(kResourcePrefix.size());
  const std::size_t end = name.find('-');
  if (end == std::string_view::npos) return std::nullopt;
  return ParsePid(name.substr(0, end));
}

bool IsLeftoverOfDeadRun(std::string_view name) {
  const auto pid = CreatorPid(name);
  return pid && *pid != getpid() && !ProcessExists(*pid);
}

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// What `ip netns pids` does: compare each process's network namespace with the named one.
void KillProcessesInNamespace(const std::filesystem::path& netns_path) {
  struct stat netns {};
  if (stat(netns_path.c_str(), &netns) != 0) return;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const auto pid = ParsePid(entry.path().filename().string());
    struct stat process_netns {};
    if (!pid || stat((entry.path() / "ns/net").c_str(), &process_netns) != 0) continue;
    if (process_netns.st_dev == netns.st_dev && process_netns.st_ino == netns.st_ino) {
      kill(*pid, SIGKILL);
    }
  }
}

// Daemons started by the harness get their private directory in their arguments, so a pidfile
// is trusted only if the process it names still mentions that directory.
void KillProcessesOfPidfiles(const std::filesystem::path& dir) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.path().extension() != ".pid") continue;
    const std::string text = ReadFile(entry.path());
    const auto pid =
        ParsePid(std::string_view(text).substr(0, text.find_first_not_of("0123456789")));
    if (!pid || *pid <= 1) continue;
    std::string cmdline = ReadFile("/proc/" + std::to_string(*pid) + "/cmdline");
    if (cmdline.find(dir.string()) != std::string::npos) kill(*pid, SIGKILL);
  }
}

}  // namespace

void SweepLeftoversOfDeadRuns() {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(kNetnsDir, ec)) {
    const std::string name = entry.path().filename().string();
    if (!IsLeftoverOfDeadRun(name)) continue;
    KillProcessesInNamespace(entry.path());
    detail::DeleteNamespaceMount(name.c_str());
  }
  for (const auto& entry : std::filesystem::directory_iterator(kTempBase, ec)) {
    if (!entry.is_directory() || !IsLeftoverOfDeadRun(entry.path().filename().string())) continue;
    KillProcessesOfPidfiles(entry.path());
    std::filesystem::remove_all(entry.path(), ec);
  }
}

void StartHarness() {
  static std::once_flag started;
  std::call_once(started, [] {
    detail::harness_pid = getpid();
    SweepLeftoversOfDeadRuns();
    detail::InstallSignalHandlers();
  });
}

std::string UniqueName(std::string_view tag) {
  if (tag.empty() || tag.size() > 12 ||
      tag.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") != std::string_view::npos) {
    throw std::invalid_argument("harness tag must be 1-12 characters of [a-z0-9-]: " +
                                std::string(tag));
  }
  static std::atomic<unsigned> counter{0};
  return std::string(kResourcePrefix) + std::to_string(getpid()) + "-" + std::to_string(counter++) +
         "-" + std::string(tag);
}

}  // namespace netd::lab
