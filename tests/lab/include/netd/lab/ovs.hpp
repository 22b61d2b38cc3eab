#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "netd/lab/command.hpp"
#include "netd/lab/namespace.hpp"
#include "netd/lab/temp_dir.hpp"

namespace netd::lab {

// A private Open vSwitch: its own database, ovsdb-server and ovs-vswitchd, all files in one temp
// directory, both daemons children of the test running inside `ns` (so bridge internal ports and
// attached interfaces live there). Nothing touches /run/openvswitch. Bridges use the userspace
// `netdev` datapath, since the kernel here has no openvswitch module.
class OvsInstance {
 public:
  explicit OvsInstance(const Namespace& ns,
                       std::chrono::milliseconds ready_timeout = std::chrono::seconds(10));
  OvsInstance(const OvsInstance&) = delete;
  OvsInstance& operator=(const OvsInstance&) = delete;
  ~OvsInstance() = default;

  const Namespace& ns() const { return ns_; }
  const std::filesystem::path& dir() const { return dir_.path(); }
  std::filesystem::path db_socket() const;
  // "unix:<db_socket>", the form OVS tools and OVSDB clients take.
  std::string db_remote() const;
  // ovs-vswitchd's control socket, for `ovs-appctl -t`.
  std::filesystem::path vswitchd_ctl() const;
  // The OpenFlow management socket ovs-vswitchd opens for `bridge`.
  std::filesystem::path mgmt_socket(const std::string& bridge) const;
  pid_t ovsdb_server_pid() const { return ovsdb_server_.pid(); }
  pid_t vswitchd_pid() const { return vswitchd_.pid(); }

  // Kills ovsdb-server and starts it again on the same database and socket, as a crash and a
  // supervisor's restart would.
  void RestartOvsdbServer(std::chrono::milliseconds ready_timeout = std::chrono::seconds(10));
  // Kills ovs-vswitchd with SIGKILL, as a crash would; its flows go with it (and, with the
  // userspace datapath, the tap devices of internal ports).
  void KillVswitchd();
  // Starts ovs-vswitchd again on the same database: the bridges come back without flows.
  void StartVswitchd(std::chrono::milliseconds ready_timeout = std::chrono::seconds(10));

  // ovs-vsctl against the private database; waits for ovs-vswitchd to apply changes.
  CommandResult Vsctl(const std::vector<std::string>& args) const;
  // ovs-ofctl with bridge names resolved to this instance's management sockets.
  CommandResult Ofctl(const std::vector<std::string>& args) const;
  // ovs-appctl against this ovs-vswitchd (e.g. {"fdb/show", "br0"}).
  CommandResult Appctl(const std::vector<std::string>& args) const;

  // A bridge with datapath_type=netdev; its internal port (a tap device) appears, down, in ns().
  // That port is a trunk until given a tag (Vsctl({"set", "Port", bridge, "tag=N"})); as a trunk
  // it receives access-port traffic still 802.1Q-tagged, which this kernel (no 8021q) drops.
  void AddBridge(const std::string& bridge) const;
  // Adds an existing interface of ns() as a port, as an access port of vlan_tag if given.
  void AddPort(const std::string& bridge, const std::string& ifname,
               std::optional<int> vlan_tag = std::nullopt) const;
  // Connects `vm` to `bridge`: a veth pair with `vm_ifname` in `vm` and `port` in ns(), and
  // `port` added to the bridge; ns() does not answer ARP on `port`.
  void AttachNamespace(const std::string& bridge, const Namespace& vm, const std::string& vm_ifname,
                       const std::string& port, std::optional<int> vlan_tag = std::nullopt) const;

  // How libvirt attaches a domain's interface to an OVS network.
  struct VmInterface {
    std::string mac;    // the guest's MAC: set on vm_ifname and as external_ids:attached-mac
    std::string vm_id;  // external_ids:vm-id (libvirt: the domain's UUID)
    std::optional<int> vlan_tag;
  };
  // AttachNamespace the way libvirt does it: the port and its Interface row, with
  // external_ids attached-mac, iface-id, iface-status and vm-id, appear in one transaction.
  void AttachVm(const std::string& bridge, const Namespace& vm, const std::string& vm_ifname,
                const std::string& port, const VmInterface& interface) const;
  // A live migration as the hosts see it: `port` (attached by AttachVm) leaves this instance's
  // `bridge` and its namespace, and appears on `destination`'s `bridge` the way libvirt attaches
  // it there. The VM's side of the link, its addresses, neighbours and sockets stay as they were,
  // as a migrated guest's memory does.
  void MoveVmPort(const std::string& bridge, const std::string& port,
                  const OvsInstance& destination, const VmInterface& interface) const;

 private:
  void AddVmPort(const std::string& bridge, const std::string& port,
                 const VmInterface& interface) const;
  std::vector<std::string> Environment() const;
  void StartOvsdbServer(std::chrono::steady_clock::time_point deadline,
                        std::chrono::milliseconds ready_timeout);
  void StartVswitchd(std::chrono::steady_clock::time_point deadline,
                     std::chrono::milliseconds ready_timeout);
  void WaitUntilReady(const std::string& daemon, const Process& process,
                      std::chrono::steady_clock::time_point deadline,
                      std::chrono::milliseconds timeout, const std::function<bool()>& ready) const;
  std::string LogTails() const;

  const Namespace& ns_;
  TempDir dir_;
  Process ovsdb_server_;
  Process vswitchd_;
};

}  // namespace netd::lab
