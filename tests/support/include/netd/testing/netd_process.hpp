#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace netd::testing {

// The path of the netd binary under test.
std::string NetdBinary();

// A real netd on a private socket and state directory inside `dir`, started from the demo
// configuration edited by `edit` (text replacements on the TOML; its host role's OVSDB remote
// is set to unix:`dir`/ovs/db.sock and its Open vSwitch run directory to `dir`/ovs, where no
// ovsdb-server or ovs-vswitchd is unless the test starts one), in a network namespace of its
// own (root is needed: the gateway role programs nftables there). Stopped (SIGTERM, then
// SIGKILL) when destroyed.
class NetdProcess {
 public:
  using ConfigEdit = std::function<std::string(std::string)>;

  explicit NetdProcess(const std::filesystem::path& dir, const ConfigEdit& edit = {});
  ~NetdProcess();
  NetdProcess(const NetdProcess&) = delete;
  NetdProcess& operator=(const NetdProcess&) = delete;

  // netd runs in this named network namespace (`ip netns`) instead of a private, empty one
  // of its own. Call before Start.
  void RunInNamespace(std::string name) { network_namespace_ = std::move(name); }
  // netd runs with only these capabilities (CAP_NET_ADMIN, ...: the names of a unit's
  // CapabilityBoundingSet=), as systemd would start it: the others leave its bounding set
  // before it runs, so neither it nor what it starts (dnsmasq) has them. Call before Start.
  void LimitCapabilities(std::vector<std::string> names) { capabilities_ = std::move(names); }
  // netd tells this datagram socket what it would tell systemd (NOTIFY_SOCKET). Before Start.
  void NotifySocket(std::filesystem::path path) { notify_socket_ = std::move(path); }

  // Starts and waits until the socket accepts connections; throws with the log on failure.
  void Start();
  // SIGTERM and wait; returns the exit status.
  int Stop();
  // SIGKILL and reap: a crash at an arbitrary moment.
  void Kill();
  void Signal(int signal);
  pid_t pid() const { return pid_; }

  std::filesystem::path socket() const { return dir_ / "netd.sock"; }
  std::filesystem::path state_dir() const { return dir_ / "state"; }
  std::filesystem::path config_path() const { return dir_ / "netd.toml"; }
  std::filesystem::path log_path() const { return dir_ / "netd.log"; }
  std::string Log() const;
  std::vector<std::string> Argv() const;

 private:
  std::filesystem::path dir_;
  std::string network_namespace_;
  std::optional<std::vector<std::string>> capabilities_;
  std::filesystem::path notify_socket_;
  pid_t pid_ = -1;
};

// Replaces the first occurrence of `from` in `text`; throws if it is absent.
std::string Replace(std::string text, const std::string& from, const std::string& to);

}  // namespace netd::testing
