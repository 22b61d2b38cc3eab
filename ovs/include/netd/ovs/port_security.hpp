#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "netd/common/address.hpp"
#include "netd/ovs/bridges.hpp"
#include "netd/ovs/openflow.hpp"
#include "netd/ovs/openflow_client.hpp"
#include "netd/ovs/ovsdb_client.hpp"
#include "netd/ovs/port_bindings.hpp"

namespace netd::ovs {

// What port security needs to know of one network's bridge.
struct PortSecuritySpec {
  std::string network{};  // the network's name, as the gateway's bindings name it
  std::string bridge{};
  std::string uplink{};  // forwards like the bridge's internal (gateway) port; empty: none
  Ipv4Cidr cidr;
  Ipv4Address gateway;
  Ipv4Address dhcp_first;
  Ipv4Address dhcp_last;
  // Where the MAC of a VM port does not encode an address of the DHCP range: false (the secure
  // network) gives such a port no flows at all; true pins it to its MAC with any source address
  // of the network, for networks whose dynamic leases a host cannot know in advance.
  bool pin_mac_only = false;
  // A VM port is pinned only when its MAC is bound on the network in the gateway's bindings
  // (the PortBindings given to PortSecurity); other ports get nothing. Until the bindings are
  // first known, the switch's flows are left as they are.
  bool require_binding = false;
  // A host without the gateway role: the bridge's internal port (OFPP_LOCAL) receives nothing
  // from the bridge (OFPPC_NO_FWD, and frames to its MAC dropped), so that no VM reaches the
  // host's own stack, which would route around the gateway. false where the internal port is
  // the gateway's interface (both roles on one server).
  bool isolate_local = false;
  // The secure network: a VM reaches the gateway and the VMs its groups join it with, nothing
  // else; nothing from a VM goes to NORMAL (docs/host.md, "Segmentation on the secure network").
  // Needs require_binding: groups name the VMs the bindings bind.
  bool segmentation = false;
  std::uint16_t vlan = 0;             // segmentation: the conntrack zone, and the uplink's tag
  bool uplink_tagged = false;         // segmentation: the uplink is a trunk (frames carry `vlan`)
  std::filesystem::path mgmt_socket;  // <ovs rundir>/<bridge>.mgmt
  // How often netd counts its flows in the switch: flows deleted behind its back (ovs-ofctl
  // del-flows, a fail_mode change, which flushes the table) are all installed again.
  std::chrono::milliseconds flow_check_interval{1000};
};

enum class PortState {
  kForward,    // the bridge's internal port or its uplink: forwards normally
  kIsolated,   // the internal port where isolate_local: sends, receives nothing from the bridge
  kPinned,     // a VM port pinned to its MAC and the address the MAC encodes
  kPinnedMac,  // a VM port pinned to its MAC, any source address of the network
  kRefused,    // gets no flows: everything it sends is dropped
  kPending,    // ovs-vswitchd has not given it an OpenFlow port number yet
  kVmStopped,  // a VM port whose VM libvirt reports as defined but not running: no flows
};
std::string_view ToString(PortState state);

// One port of a bridge as the OVSDB cache shows it, with the flows it should have.
struct PortPlan {
  std::string name;
  PortState state = PortState::kRefused;
  std::vector<std::uint32_t> ofports;  // one per interface
  std::optional<MacAddress> mac;       // external_ids:attached-mac; the internal port's mac_in_use
  std::optional<Ipv4Address> address;  // the address the MAC encodes (kPinned)
  std::string vm_id;                   // external_ids:vm-id, as libvirt sets it
  std::string reason;                  // kRefused, kPending: why
  bool unbound = false;                // kRefused because the MAC is not bound on the network
  std::string bound_vm;                // kPinned where a binding is required: the bound VM
  std::vector<openflow::Flow> flows;
  // Segmentation: the flows that depend on the other ports and the groups (the VM's peers; the
  // pipeline's own flows on the gateway's port), planned after every port's own flows.
  std::vector<openflow::Flow> pipeline_flows;
  std::vector<std::string> peers;  // segmentation: the group peers the VM reaches, by VM id
  // The internal port's OFPPC_NO_FWD, set where isolate_local and cleared elsewhere; sent
  // before the port's flows. nullopt: not the internal port, or its MAC is not known yet.
  std::optional<openflow::PortConfig> port_config;

  friend bool operator==(const PortPlan&, const PortPlan&) = default;
};

// The ports of spec.bridge; nullopt while the bridge is absent or is not netd's. VM ports of
// `inactive_vms` (external_ids:vm-id) get no flows. Where spec.require_binding, `bindings` says
// which VM ports may be pinned (none without it).
std::optional<std::vector<PortPlan>> PlanPorts(const PortSecuritySpec& spec, const RowsOf& rows,
                                               const std::set<std::string>& inactive_vms = {},
                                               const PortBindings* bindings = nullptr);

// The flows of a VM port: untagged, from `mac` and `source` only (IPv4, ARP for itself, DHCP
// discovery from 0.0.0.0), never from `not_from` (the gateway, when `source` holds it), never a
// DHCP server's reply, nothing else.
std::vector<openflow::Flow> PinnedPortFlows(std::uint32_t ofport, MacAddress mac, Ipv4Cidr source,
                                            std::optional<Ipv4Address> not_from);

// Cookies of netd's flows: kCookieTag in the top 16 bits; the low bits name the port.
inline constexpr std::uint64_t kCookieTag = 0x6e64ULL << 48;
inline constexpr std::uint64_t kCookieTagMask = 0xffffULL << 48;
inline constexpr std::uint64_t kBaselineCookie = kCookieTag | 1;
// Segmentation: the drop flows of east-west traffic no group allows (their packets counted).
inline constexpr std::uint64_t kEastWestDropCookie = kCookieTag | (1ULL << 40);

// The tables of the segmentation pipeline (docs/host.md).
inline constexpr std::uint8_t kTableFromVm = 10;       // IPv4 from a VM
inline constexpr std::uint8_t kTableEastWest = 11;     // VM to VM, sending side, tracked
inline constexpr std::uint8_t kTableArp = 20;          // ARP and RARP from a VM
inline constexpr std::uint8_t kTableFromOutside = 30;  // from the gateway port or the uplink
inline constexpr std::uint8_t kTableToVm = 31;         // VM to VM, receiving side, tracked
inline constexpr std::uint8_t kTableDeliver = 32;      // the gateway's frames to the VMs

// Keeps one bridge's flow table as the OVSDB cache says: on every (re)connect to the bridge it
// deletes netd's flows and installs all of them (a restarted ovs-vswitchd has none, and a
// bridge with fail_mode=secure and no flows forwards nothing, so the bridge fails closed until
// then); afterwards it replaces only the flows of ports that changed, each port's flows as a
// unit under their cookie.
class PortSecurity {
 public:
  // `bindings` (where spec.require_binding) must outlive the PortSecurity.
  PortSecurity(boost::asio::io_context& io, OvsdbClient& client, PortSecuritySpec spec,
               OpenFlowClient::Options openflow_options = {},
               const PortBindings* bindings = nullptr);
  PortSecurity(const PortSecurity&) = delete;
  PortSecurity& operator=(const PortSecurity&) = delete;
  void Start();

  struct PortStatus {
    PortPlan plan;
    bool installed = false;  // the switch acknowledged the port's current flows
    // From netd first seeing the port in the OVSDB cache to the switch acknowledging its first
    // flows (for ports that got flows).
    std::optional<std::chrono::nanoseconds> first_install;
    // Of that, the time until ovs-vswitchd gave the port its OpenFlow port number.
    std::optional<std::chrono::nanoseconds> numbered;
  };
  std::vector<PortStatus> ports() const;

  // The VMs (libvirt domain uuids, as in external_ids:vm-id) that are defined but not running:
  // their ports get no flows. The ports of the VMs in `reconcile` (those a libvirt event was
  // about) are planned again at once, and their flows in the switch counted: flows gone
  // missing are installed again (a port's flows are not replaced needlessly, which would drop
  // its traffic for a moment).
  void SetInactiveVms(std::set<std::string> inactive, const std::set<std::string>& reconcile);
  // The bindings or groups changed (or their state did): the VM ports whose binding now decides
  // otherwise are planned again, and every port's group peers.
  void BindingsChanged();

  struct Counters {
    std::uint64_t ports = 0;
    std::uint64_t pinned = 0;   // kPinned and kPinnedMac with their flows acknowledged
    std::uint64_t refused = 0;  // kRefused now
    std::uint64_t stopped = 0;  // kVmStopped now
    std::uint64_t unbound = 0;  // refused now because their MAC is not bound on the network
    // Times a VM port was refused for lack of a binding (a port that appears, or one whose
    // binding went).
    std::uint64_t unbound_refusals = 0;
    std::uint64_t flows = 0;  // netd's flows the switch holds
    std::uint64_t full_installs = 0;
    std::uint64_t port_updates = 0;  // ports whose flows were replaced or removed
    std::uint64_t failures = 0;      // batches the switch refused in part
    std::uint64_t flow_repairs = 0;  // times the switch held other flows than netd's count
    // isolate_local: times the internal port was found without OFPPC_NO_FWD (set again).
    std::uint64_t local_port_repairs = 0;
    // Segmentation: packets between VMs that no group allows, dropped (as last counted).
    std::uint64_t east_west_drops = 0;
  };
  Counters counters() const;
  // Whether the bridge enforces what netd planned: the switch acknowledged a whole install and
  // the flows of every port since (netd reports ready to systemd once every bridge does).
  bool Programmed() const;
  const OpenFlowClient& openflow() const { return openflow_; }
  const PortSecuritySpec& spec() const { return spec_; }

 private:
  struct Installed {
    std::uint64_t cookie = 0;
    std::vector<openflow::Flow> flows;
    std::optional<openflow::PortConfig> port_config;
    std::uint64_t batch = 0;  // the batch that sent the flows
    bool acknowledged = false;
  };

  void Sync();
  // Segmentation: plans every port's pipeline_flows again from the ports planned and the
  // groups; the ports whose flows changed go to changed_.
  void PlanPipeline();
  // Plans the port of Port row `uuid` again from the cache.
  void PlanAgain(const std::string& uuid, std::chrono::steady_clock::time_point now);
  void Forget(const std::string& uuid);
  // Whether the switch acknowledged `plan`'s flows for the port.
  bool FlowsAcknowledged(const std::string& name, const PortPlan& plan) const;
  // The changes that install `plan` under `cookie` (its port config first), with their owner.
  void AppendInstall(const std::string& name, const PortPlan& plan, std::uint64_t cookie,
                     std::vector<FlowChange>& changes, std::vector<std::string>& owners) const;
  // Where isolate_local, VM ports get no flows before the internal port is isolated: until
  // then NORMAL would flood their frames to the host's stack.
  bool VmPortsHeld() const;
  // Where a binding is required and the bindings were never known: the switch is left alone.
  bool BindingsAwaited() const;
  // Whether planning `plan`'s port again could give another answer now that the bindings
  // changed.
  bool BindingDecides(const PortPlan& plan) const;
  void FullInstall();
  void CheckFlows();
  // isolate_local: asks the switch whether the internal port still has OFPPC_NO_FWD (an
  // `ovs-ofctl mod-port ... forward` clears it, and flows do not show it); sets it again if not.
  void CheckLocalPort();
  // Counts the flows of port `name` in the switch; installs them again if some are missing.
  void VerifyPortFlows(const std::string& name);
  void SendBatch(std::vector<FlowChange> changes, std::vector<std::string> owners);
  void Acknowledged(std::uint64_t batch, const OpenFlowClient::BatchResult& result,
                    const std::vector<std::string>& owners);
  std::uint64_t CookieOf(const std::string& port, bool& fresh);

  boost::asio::io_context& io_;
  OvsdbClient& client_;
  PortSecuritySpec spec_;
  const PortBindings* bindings_;
  OpenFlowClient openflow_;
  static constexpr std::chrono::seconds kMinRetryDelay{1};
  static constexpr std::chrono::seconds kMaxRetryDelay{60};
  boost::asio::steady_timer retry_timer_;
  std::chrono::seconds retry_delay_ = kMinRetryDelay;
  boost::asio::steady_timer check_timer_;
  std::uint64_t batches_in_flight_ = 0;
  bool count_in_flight_ = false;
  bool local_check_in_flight_ = false;
  std::map<std::string, PortPlan> desired_;  // by port name
  // The ports planned: Port row uuid -> name and Interface row uuids.
  struct PlannedPort {
    std::string name;
    std::vector<std::string> interfaces;
  };
  std::map<std::string, PlannedPort> planned_;
  std::map<std::string, std::string> interface_owner_;  // Interface uuid -> Port uuid
  std::set<std::string> members_;                       // the bridge's Port uuids
  std::string bridge_uuid_;
  std::uint64_t bridge_version_ = 0;
  std::uint64_t seen_version_ = 0;  // the cache version planned up to
  std::set<std::string> changed_;   // ports whose flows may differ from installed_
  std::set<std::string> inactive_vms_;
  std::map<std::string, Installed> installed_;
  std::map<std::string, std::uint64_t> cookies_;
  std::map<std::string, std::chrono::steady_clock::time_point> first_seen_;  // not installed yet
  std::map<std::string, std::chrono::nanoseconds> first_install_;
  std::map<std::string, std::chrono::nanoseconds> numbered_;
  std::uint64_t next_cookie_ = 2;
  std::uint64_t next_batch_ = 1;
  bool bridge_present_ = false;
  bool full_install_pending_ = false;
  bool sync_posted_ = false;
  Counters counters_;
  OvsdbClient::Subscription subscription_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace netd::ovs
