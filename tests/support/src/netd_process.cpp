#include "netd/testing/netd_process.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "netd/daemon/config.hpp"
#include "netd/testing/raw_http.hpp"

namespace netd::testing {

std::string NetdBinary() {
  return NETD_BINARY;
}

namespace {

// Drops every capability but `kept` from the bounding set; false (with the reason on stderr)
// on a name it does not know or a refusal.
bool DropCapabilitiesBut(const std::vector<std::string>& kept) {
  static const std::map<std::string, int> kNumbers = {
      {"CAP_CHOWN", CAP_CHOWN},
      {"CAP_KILL", CAP_KILL},
      {"CAP_SETGID", CAP_SETGID},
      {"CAP_SETUID", CAP_SETUID},
      {"CAP_NET_BIND_SERVICE", CAP_NET_BIND_SERVICE},
      {"CAP_NET_RAW", CAP_NET_RAW},
      {"CAP_NET_ADMIN", CAP_NET_ADMIN},
  };
  std::set<int> keep;
  for (const auto& name : kept) {
    auto it = kNumbers.find(name);
    if (it == kNumbers.end()) {
      dprintf(2, "test harness: unknown capability %s\n", name.c_str());
      return false;
    }
    keep.insert(it->second);
  }
  for (int capability = 0; capability <= CAP_LAST_CAP; ++capability) {
    if (!keep.contains(capability) && prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0) {
      dprintf(2, "test harness: cannot drop capability %d: %s\n", capability, strerror(errno));
      return false;
    }
  }
  return true;
}

}  // namespace

std::string Replace(std::string text, const std::string& from, const std::string& to) {
  auto at = text.find(from);
  if (at == std::string::npos) throw std::runtime_error("not in the configuration: " + from);
  return text.replace(at, from.size(), to);
}

NetdProcess::NetdProcess(const std::filesystem::path& dir, const ConfigEdit& edit) : dir_(dir) {
  // The host role talks to an ovsdb-server and ovs-vswitchd of the test's own, if any, never to
  // the machine's; and to libvirt's test driver, which lives inside netd, never to the
  // machine's libvirt.
  auto text = Replace(DemoConfigText(), "unix:/run/openvswitch/db.sock",
                      "unix:" + (dir / "ovs" / "db.sock").string());
  text = Replace(text, "openvswitch_rundir = \"/run/openvswitch\"",
                 "openvswitch_rundir = \"" + (dir / "ovs").string() + "\"");
  text = Replace(text, "libvirt_uri = \"qemu:///system\"", "libvirt_uri = \"test:///default\"");
  if (edit) text = edit(text);
  std::ofstream(config_path()) << text;
}

NetdProcess::~NetdProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    for (int i = 0; i < 100; ++i) {
      if (waitpid(pid_, nullptr, WNOHANG) != 0) return;  // reaped: its pid may be reused
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

std::vector<std::string> NetdProcess::Argv() const {
  return {NetdBinary(),         "--config",        config_path().string(),
          "--socket",           socket().string(), "--state-dir",
          state_dir().string(), "--run-dir",       (dir_ / "run").string()};
}

void NetdProcess::Start() {
  auto parent = getpid();
  pid_ = fork();
  if (pid_ == 0) {
    // netd goes with the test process, also when that is killed.
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) _exit(126);
    int log = open(log_path().c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    dup2(log, 1);
    dup2(log, 2);
    // The gateway role programs nftables: never in the machine's own network namespace.
    if (network_namespace_.empty()) {
      if (unshare(CLONE_NEWNET) != 0) {
        dprintf(2, "test harness: cannot create a network namespace for netd: %s\n",
                strerror(errno));
        _exit(126);
      }
    } else {
      auto path = "/run/netns/" + network_namespace_;
      int target = open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (target < 0 || setns(target, CLONE_NEWNET) != 0) {
        dprintf(2, "test harness: cannot enter %s: %s\n", path.c_str(), strerror(errno));
        _exit(126);
      }
    }
    if (capabilities_ && !DropCapabilitiesBut(*capabilities_)) _exit(126);
    if (!notify_socket_.empty()) setenv("NOTIFY_SOCKET", notify_socket_.c_str(), 1);
    auto argv = Argv();
    std::vector<char*> args;
    for (auto& arg : argv) args.push_back(arg.data());
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("netd exited during start-up:\n" + Log());
    }
    if (RawConnection(socket()).connected()) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  throw std::runtime_error("netd did not open its socket within 10 s:\n" + Log());
}

int NetdProcess::Stop() {
  if (pid_ <= 0) return -1;
  kill(pid_, SIGTERM);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void NetdProcess::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

void NetdProcess::Signal(int signal) {
  if (pid_ > 0) kill(pid_, signal);
}

std::string NetdProcess::Log() const {
  std::ifstream file(log_path());
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

}  // namespace netd::testing
