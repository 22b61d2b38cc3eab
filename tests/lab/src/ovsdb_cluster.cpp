#include "netd/lab/ovsdb_cluster.hpp"

#include <algorithm>
#include <csignal>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "log_tail.hpp"

namespace netd::lab {

using namespace std::chrono_literals;

namespace {

constexpr const char* kToolTimeoutSeconds = "5";

// The value of "<name>: <value>" in cluster/status's text ("" when absent).
std::string Field(const std::string& status, const std::string& name) {
  std::istringstream lines(status);
  std::string line;
  auto prefix = name + ": ";
  while (std::getline(lines, line)) {
    if (line.starts_with(prefix)) return line.substr(prefix.size());
  }
  return "";
}

// The short server id cluster/status names members by ("Server ID: cd16 (cd16a795-…)").
std::string ShortServerId(const std::string& status) {
  auto id = Field(status, "Server ID");
  return id.substr(0, id.find(' '));
}

}  // namespace

OvsdbCluster::OvsdbCluster(const Namespace& hub, const std::filesystem::path& schema,
                           Options options)
    : options_(std::move(options)), dir_("ovsdbcluster") {
  if (options_.members < 1) throw std::invalid_argument("a cluster needs a member");
  auto name = RunCommandChecked({"ovsdb-tool", "schema-name", schema.string()}).out;
  database_ = name.substr(0, name.find('\n'));
  hub.RunChecked({"sysctl", "-qw", "net.ipv4.ip_forward=1"});
  for (int member = 0; member < options_.members; ++member) {
    namespaces_.push_back(std::make_unique<Namespace>("pdb" + std::to_string(member)));
    auto& ns = *namespaces_.back();
    auto link = "pdb" + std::to_string(member);
    CreateVethPair(hub, link, ns, "eth0");
    hub.AddAddress(link, "10.199." + std::to_string(member + 1) + ".1/24");
    ns.AddAddress("eth0", address(member) + "/24");
    ns.AddRoute("default", "10.199." + std::to_string(member + 1) + ".1");
  }
  auto raft = [&](int member) {
    return "tcp:" + address(member) + ":" + std::to_string(options_.first_port + 20);
  };
  RunCommandChecked(
      {"ovsdb-tool", "create-cluster", File(0, ".db").string(), schema.string(), raft(0)},
      {.env = Environment()});
  for (int member = 1; member < options_.members; ++member) {
    std::vector<std::string> argv = {"ovsdb-tool", "join-cluster", File(member, ".db").string(),
                                     database_, raft(member)};
    for (int other = 0; other < options_.members; ++other) {
      if (other != member) argv.push_back(raft(other));
    }
    RunCommandChecked(argv, {.env = Environment()});
  }
  members_.resize(static_cast<std::size_t>(options_.members));
  for (int member = 0; member < options_.members; ++member) Start(member);
  auto deadline = std::chrono::steady_clock::now() + options_.ready_timeout;
  for (int member = 0; member < options_.members; ++member) WaitUntilMember(member, deadline);
  WaitForLeader(std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now()));
}

std::filesystem::path OvsdbCluster::File(int member, const std::string& suffix) const {
  return dir_.path() / ("m" + std::to_string(member) + suffix);
}

// The OVS tools derive their default paths from these: nothing falls back to the system's
// /run/openvswitch.
std::vector<std::string> OvsdbCluster::Environment() const {
  const std::string d = dir_.path().string();
  return {"OVS_RUNDIR=" + d, "OVS_DBDIR=" + d, "OVS_LOGDIR=" + d, "OVS_SYSCONFDIR=" + d};
}

std::string OvsdbCluster::address(int member) const {
  return "10.199." + std::to_string(member + 1) + ".2";
}

std::string OvsdbCluster::tcp_remote(int member) const {
  return "tcp:" + address(member) + ":" + std::to_string(options_.first_port);
}

std::string OvsdbCluster::ssl_remote(int member) const {
  return "ssl:" + address(member) + ":" + std::to_string(options_.first_port + 10);
}

std::vector<std::string> OvsdbCluster::ssl_remotes() const {
  std::vector<std::string> remotes;
  for (int member = 0; member < size(); ++member) remotes.push_back(ssl_remote(member));
  return remotes;
}

std::string OvsdbCluster::unix_remote(int member) const {
  return "unix:" + File(member, ".sock").string();
}

std::vector<std::string> OvsdbCluster::unix_remotes() const {
  std::vector<std::string> remotes;
  for (int member = 0; member < size(); ++member) remotes.push_back(unix_remote(member));
  return remotes;
}

std::vector<std::string> OvsdbCluster::tcp_remotes() const {
  std::vector<std::string> remotes;
  for (int member = 0; member < size(); ++member) remotes.push_back(tcp_remote(member));
  return remotes;
}

std::filesystem::path OvsdbCluster::control_socket(int member) const {
  return File(member, ".ctl");
}

void OvsdbCluster::Start(int member) {
  std::vector<std::string> argv = {
      "ovsdb-server",
      File(member, ".db").string(),
      "--remote=ptcp:" + std::to_string(options_.first_port) + ":" + address(member),
      "--remote=punix:" + File(member, ".sock").string(),
      "--unixctl=" + control_socket(member).string(),
      "--pidfile=" + File(member, ".pid").string(),
      "--log-file=" + File(member, ".log").string(),
      "--no-chdir",
      "-vconsole:off"};
  if (options_.tls) {
    argv.insert(argv.end(), {"--remote=pssl:" + std::to_string(options_.first_port + 10) + ":" +
                                 address(member),
                             "--private-key=" + options_.tls->private_key.string(),
                             "--certificate=" + options_.tls->certificate.string(),
                             "--ca-cert=" + options_.tls->ca_certificate.string()});
  }
  for (const auto& remote : options_.remotes) argv.push_back("--remote=" + remote);
  members_.at(static_cast<std::size_t>(member)) =
      namespaces_.at(static_cast<std::size_t>(member))
          ->Start(argv, {.env = Environment(), .output = File(member, ".out")});
}

CommandResult OvsdbCluster::Appctl(int member, const std::vector<std::string>& args) const {
  std::vector<std::string> argv = {"ovs-appctl", std::string("--timeout=") + kToolTimeoutSeconds,
                                   "-t", control_socket(member).string()};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv, {.env = Environment()});
}

std::string OvsdbCluster::Status(int member) const {
  if (!running(member)) return "";
  auto result = Appctl(member, {"cluster/status", database_});
  return result.ok() ? result.out : "";
}

void OvsdbCluster::WaitUntilMember(int member,
                                   std::chrono::steady_clock::time_point deadline) const {
  while (Field(Status(member), "Status") != "cluster member") {
    if (!running(member)) {
      throw std::runtime_error("ovsdb-server member " + std::to_string(member) + " exited\n" +
                               Diagnostics());
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      throw std::runtime_error("ovsdb-server member " + std::to_string(member) +
                               " did not join the cluster\n" + Diagnostics());
    }
    std::this_thread::sleep_for(20ms);
  }
}

std::optional<int> OvsdbCluster::Leader() const {
  for (int member = 0; member < size(); ++member) {
    if (Field(Status(member), "Role") == "leader") return member;
  }
  return std::nullopt;
}

int OvsdbCluster::WaitForLeader(std::chrono::milliseconds timeout) const {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (auto leader = Leader()) {
      auto id = ShortServerId(Status(*leader));
      bool known = !id.empty();
      for (int member = 0; member < size() && known; ++member) {
        if (member == *leader || !running(member)) continue;
        known = Field(Status(member), "Leader") == id;
      }
      if (known) return *leader;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      throw std::runtime_error("no leader that every running member knows\n" + Diagnostics());
    }
    std::this_thread::sleep_for(20ms);
  }
}

void OvsdbCluster::Kill(int member) {
  auto& process = members_.at(static_cast<std::size_t>(member));
  if (process.pid() > 0) ::kill(process.pid(), SIGKILL);
  process.WaitForExit(5s);
  process = Process();
}

void OvsdbCluster::Restart(int member) {
  Start(member);
  WaitUntilMember(member, std::chrono::steady_clock::now() + options_.ready_timeout);
}

void OvsdbCluster::SetElectionTimer(std::chrono::milliseconds timer) {
  auto deadline = std::chrono::steady_clock::now() + options_.ready_timeout;
  auto target = static_cast<long long>(timer.count());
  for (;;) {
    auto leader = WaitForLeader(std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now()));
    auto current = std::stoll(Field(Status(leader), "Election timer"));
    if (current == target) {
      bool everywhere = true;
      for (int member = 0; member < size(); ++member) {
        if (running(member))
          everywhere &= Field(Status(member), "Election timer") == std::to_string(target);
      }
      if (everywhere) return;
    } else {
      // ovsdb-server refuses more than twice the current timer, and a second change while one
      // is under way; a refusal is simply tried again once the first is through.
      auto next = target > current ? std::min(target, 2 * current) : target;
      Appctl(leader, {"cluster/change-election-timer", database_, std::to_string(next)});
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      throw std::runtime_error("the election timer did not become " + std::to_string(target) +
                               " ms\n" + Diagnostics());
    }
    std::this_thread::sleep_for(20ms);
  }
}

std::string OvsdbCluster::Diagnostics() const {
  std::string text;
  for (int member = 0; member < size(); ++member) {
    text += "--- member " + std::to_string(member) + (running(member) ? "" : " (not running)") +
            " ---\n" + Status(member) + detail::LogTail(File(member, ".log"));
  }
  return text;
}

}  // namespace netd::lab
