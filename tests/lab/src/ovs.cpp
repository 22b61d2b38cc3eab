#include "netd/lab/ovs.hpp"

#include <csignal>
#include <stdexcept>
#include <thread>

#include "log_tail.hpp"

namespace netd::lab {

using namespace std::chrono_literals;

namespace {

constexpr const char* kVswitchSchema = "/usr/share/openvswitch/vswitch.ovsschema";
constexpr const char* kToolTimeoutSeconds = "10";

void ThrowIfFailed(const CommandResult& result, const std::string& what) {
  if (!result.ok()) {
    throw std::runtime_error(what + " failed (exit code " + std::to_string(result.exit_code) +
                             "): " + result.err);
  }
}

}  // namespace

OvsInstance::OvsInstance(const Namespace& ns, std::chrono::milliseconds ready_timeout)
    : ns_(ns), dir_("ovs") {
  const auto deadline = std::chrono::steady_clock::now() + ready_timeout;
  const std::string db_file = (dir() / "conf.db").string();
  RunCommandChecked({"ovsdb-tool", "create", db_file, kVswitchSchema}, {.env = Environment()});
  StartOvsdbServer(deadline, ready_timeout);

  StartVswitchd(deadline, ready_timeout);
}

void OvsInstance::StartOvsdbServer(std::chrono::steady_clock::time_point deadline,
                                   std::chrono::milliseconds ready_timeout) {
  ovsdb_server_ = ns_.Start(
      {"ovsdb-server", (dir() / "conf.db").string(), "--remote=punix:" + db_socket().string(),
       "--unixctl=" + (dir() / "ovsdb-server.ctl").string(),
       "--pidfile=" + (dir() / "ovsdb-server.pid").string(),
       "--log-file=" + (dir() / "ovsdb-server.log").string(), "--no-chdir", "-vconsole:off"},
      {.env = Environment(), .output = dir() / "ovsdb-server.log"});
  // `init` creates the Open_vSwitch row that ovs-vswitchd expects; it also proves the server
  // answers.
  WaitUntilReady("ovsdb-server", ovsdb_server_, deadline, ready_timeout, [this] {
    return std::filesystem::exists(db_socket()) && Vsctl({"--no-wait", "init"}).ok();
  });
}

void OvsInstance::RestartOvsdbServer(std::chrono::milliseconds ready_timeout) {
  ovsdb_server_ = Process();
  StartOvsdbServer(std::chrono::steady_clock::now() + ready_timeout, ready_timeout);
}

void OvsInstance::KillVswitchd() {
  if (vswitchd_.pid() > 0) ::kill(vswitchd_.pid(), SIGKILL);
  vswitchd_.WaitForExit(std::chrono::seconds(5));
  vswitchd_ = Process();
}

void OvsInstance::StartVswitchd(std::chrono::milliseconds ready_timeout) {
  StartVswitchd(std::chrono::steady_clock::now() + ready_timeout, ready_timeout);
}

void OvsInstance::StartVswitchd(std::chrono::steady_clock::time_point deadline,
                                std::chrono::milliseconds ready_timeout) {
  // --disable-system: there is no kernel datapath to probe for.
  vswitchd_ = ns_.Start(
      {"ovs-vswitchd", db_remote(), "--disable-system", "--unixctl=" + vswitchd_ctl().string(),
       "--pidfile=" + (dir() / "ovs-vswitchd.pid").string(),
       "--log-file=" + (dir() / "ovs-vswitchd.log").string(), "--no-chdir", "-vconsole:off"},
      {.env = Environment(), .output = dir() / "ovs-vswitchd.log"});
  WaitUntilReady("ovs-vswitchd", vswitchd_, deadline, ready_timeout,
                 [this] { return Appctl({"version"}).ok(); });
}

std::filesystem::path OvsInstance::db_socket() const {
  return dir() / "db.sock";
}

std::filesystem::path OvsInstance::vswitchd_ctl() const {
  return dir() / "ovs-vswitchd.ctl";
}

std::string OvsInstance::db_remote() const {
  return "unix:" + db_socket().string();
}

std::filesystem::path OvsInstance::mgmt_socket(const std::string& bridge) const {
  return dir() / (bridge + ".mgmt");
}

// The OVS tools derive their default paths from these; pointing them all at the private
// directory guarantees that nothing falls back to the system's /run/openvswitch.
std::vector<std::string> OvsInstance::Environment() const {
  const std::string d = dir().string();
  return {"OVS_RUNDIR=" + d, "OVS_DBDIR=" + d, "OVS_LOGDIR=" + d, "OVS_SYSCONFDIR=" + d};
}

CommandResult OvsInstance::Vsctl(const std::vector<std::string>& args) const {
  std::vector<std::string> argv = {"ovs-vsctl", "--db=" + db_remote(),
                                   std::string("--timeout=") + kToolTimeoutSeconds};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv, {.env = Environment()});
}

CommandResult OvsInstance::Ofctl(const std::vector<std::string>& args) const {
  std::vector<std::string> argv = {"ovs-ofctl", std::string("--timeout=") + kToolTimeoutSeconds};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv, {.env = Environment()});
}

CommandResult OvsInstance::Appctl(const std::vector<std::string>& args) const {
  std::vector<std::string> argv = {"ovs-appctl", std::string("--timeout=") + kToolTimeoutSeconds,
                                   "-t", vswitchd_ctl().string()};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv, {.env = Environment()});
}

void OvsInstance::AddBridge(const std::string& bridge) const {
  ThrowIfFailed(Vsctl({"add-br", bridge, "--", "set", "Bridge", bridge, "datapath_type=netdev"}),
                "ovs-vsctl add-br " + bridge);
}

void OvsInstance::AddPort(const std::string& bridge, const std::string& ifname,
                          std::optional<int> vlan_tag) const {
  std::vector<std::string> args = {"add-port", bridge, ifname};
  if (vlan_tag) args.push_back("tag=" + std::to_string(*vlan_tag));
  ThrowIfFailed(Vsctl(args), "ovs-vsctl add-port " + bridge + " " + ifname);
}

void OvsInstance::AttachNamespace(const std::string& bridge, const Namespace& vm,
                                  const std::string& vm_ifname, const std::string& port,
                                  std::optional<int> vlan_tag) const {
  CreateVethPair(vm, vm_ifname, ns_, port);
  // The userspace datapath reads the port with a packet socket, so ns()'s own stack sees its
  // frames too: it must not answer ARP there for its addresses (the bridge's internal port
  // does), or the VM would send to the port's MAC and be routed around the bridge.
  ns_.RunChecked({"sysctl", "-qw", "net.ipv4.conf." + port + ".arp_ignore=8"});
  AddPort(bridge, port, vlan_tag);
}

void OvsInstance::AttachVm(const std::string& bridge, const Namespace& vm,
                           const std::string& vm_ifname, const std::string& port,
                           const VmInterface& interface) const {
  CreateVethPair(vm, vm_ifname, ns_, port);
  vm.RunChecked({"ip", "link", "set", "dev", vm_ifname, "address", interface.mac});
  AddVmPort(bridge, port, interface);
}

void OvsInstance::MoveVmPort(const std::string& bridge, const std::string& port,
                             const OvsInstance& destination, const VmInterface& interface) const {
  ThrowIfFailed(Vsctl({"del-port", bridge, port}), "ovs-vsctl del-port " + bridge + " " + port);
  ns_.RunChecked({"ip", "link", "set", "dev", port, "netns", destination.ns().name()});
  destination.ns().SetLinkUp(port);
  destination.AddVmPort(bridge, port, interface);
}

void OvsInstance::AddVmPort(const std::string& bridge, const std::string& port,
                            const VmInterface& interface) const {
  ns_.RunChecked({"sysctl", "-qw", "net.ipv4.conf." + port + ".arp_ignore=8"});
  std::vector<std::string> args = {"add-port", bridge, port};
  if (interface.vlan_tag) args.push_back("tag=" + std::to_string(*interface.vlan_tag));
  args.insert(args.end(), {"--", "set", "Interface", port,
                           "external_ids:attached-mac=\"" + interface.mac + "\"",
                           "external_ids:iface-id=" + port, "external_ids:iface-status=active",
                           "external_ids:vm-id=" + interface.vm_id});
  ThrowIfFailed(Vsctl(args), "ovs-vsctl add-port " + bridge + " " + port);
}

void OvsInstance::WaitUntilReady(const std::string& daemon, const Process& process,
                                 std::chrono::steady_clock::time_point deadline,
                                 std::chrono::milliseconds timeout,
                                 const std::function<bool()>& ready) const {
  while (!ready()) {
    if (!process.Running()) {
      throw std::runtime_error(daemon + " exited during startup\n" + LogTails());
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      throw std::runtime_error(daemon + " not ready within " + std::to_string(timeout.count()) +
                               " ms\n" + LogTails());
    }
    std::this_thread::sleep_for(20ms);
  }
}

std::string OvsInstance::LogTails() const {
  return detail::LogTail(dir() / "ovsdb-server.log") + detail::LogTail(dir() / "ovs-vswitchd.log");
}

}  // namespace netd::lab
