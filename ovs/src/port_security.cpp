#include "netd/ovs/port_security.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <iterator>
#include <set>

#include "ovsdb_rows.hpp"

namespace netd::ovs {
namespace {

using nlohmann::json;
namespace of = openflow;

// Priorities of table 0, highest first.
constexpr std::uint16_t kPriorityLocalDrop = 400;
constexpr std::uint16_t kPriorityDhcpServerDrop = 310;
constexpr std::uint16_t kPriorityAllow = 300;
constexpr std::uint16_t kPriorityPortDrop = 200;
constexpr std::uint16_t kPriorityForward = 100;

constexpr std::int64_t kOvsdbLocalPort = 65534;

const of::Action kNormal = of::Output{of::kPortNormal};
constexpr std::uint16_t kVlanPresent = 0x1000;  // OFPVID_PRESENT

constexpr std::uint16_t kDhcpServerPort = 67;
constexpr std::uint16_t kDhcpClientPort = 68;

// The Interface rows a Port row references: every uuid, and the rows the cache holds.
struct PortInterfaces {
  std::vector<std::string> uuids;
  std::vector<const json*> rows;
};
PortInterfaces InterfacesOf(const json& port, const OvsdbClient::Rows& interface_rows) {
  PortInterfaces interfaces{rows::Uuids(rows::Column(port, "interfaces")), {}};
  for (const auto& uuid : interfaces.uuids) {
    auto interface = interface_rows.find(uuid);
    if (interface != interface_rows.end()) interfaces.rows.push_back(&interface->second);
  }
  return interfaces;
}

std::vector<of::Flow> ForwardFlows(const std::vector<std::uint32_t>& ofports) {
  std::vector<of::Flow> flows;
  for (auto ofport : ofports) {
    flows.push_back({kPriorityForward, {.in_port = ofport}, {kNormal}});
  }
  return flows;
}

// The bridge's internal port, numbered: it forwards what it sends. Where isolate_local it
// receives nothing from the bridge: OFPPC_NO_FWD keeps every output from it (NORMAL's floods of
// broadcasts, multicasts and unknown destinations included), and a drop flow above every port's
// flows stops frames to its MAC from any port (VMs of this host, or of others through the
// uplink) should the port config be lost.
PortPlan PlanInternalPort(const PortSecuritySpec& spec, PortPlan plan, const json& interface) {
  const auto& mac_in_use = rows::Column(interface, "mac_in_use");
  if (mac_in_use.is_string()) {
    plan.mac = MacAddress::Parse(mac_in_use.get_ref<const std::string&>());
  }
  auto local = plan.ofports.front();
  if (!spec.isolate_local) {
    plan.state = PortState::kForward;
    plan.flows = ForwardFlows(plan.ofports);
    // The internal port is the gateway's interface: a NO_FWD left by a netd that ran without
    // the gateway role goes.
    if (plan.mac) plan.port_config = of::PortConfig{local, *plan.mac, 0, of::kPortConfigNoForward};
    return plan;
  }
  if (!plan.mac) {
    plan.state = PortState::kPending;
    plan.reason = fmt::format("interface {} has no mac_in_use yet", interface.value("name", ""));
    return plan;
  }
  plan.state = PortState::kIsolated;
  plan.port_config =
      of::PortConfig{local, *plan.mac, of::kPortConfigNoForward, of::kPortConfigNoForward};
  plan.flows = ForwardFlows(plan.ofports);
  plan.flows.push_back({kPriorityLocalDrop, {.eth_dst = *plan.mac}});
  return plan;
}

// Where a binding is required: a VM port is pinned to the address the gateway bound its MAC to
// on the network, and only if the MAC encodes that address (the gateway allocates the two
// together, so anything else is a port that is not the VM it claims to be).
PortPlan PlanBoundPort(const PortSecuritySpec& spec, PortPlan plan, const PortBindings* bindings) {
  if (!bindings || bindings->state() == PortBindings::State::kAwaiting) {
    plan.state = PortState::kPending;
    plan.reason = "waiting for the gateway's bindings";
    return plan;
  }
  auto bound = bindings->Find(spec.network, *plan.mac);
  if (!bound) {
    plan.unbound = true;
    plan.reason = fmt::format("MAC not bound on {}", spec.network);
    return plan;
  }
  if (plan.mac->EncodedVmAddress() != bound->address) {
    plan.reason = fmt::format("MAC bound to {} on {}, but it does not encode that address",
                              bound->address.ToString(), spec.network);
    return plan;
  }
  plan.state = PortState::kPinned;
  plan.address = bound->address;
  plan.bound_vm = bound->vm;
  plan.flows = PinnedPortFlows(plan.ofports.front(), *plan.mac, Ipv4Cidr(bound->address, 32), {});
  return plan;
}

// `port` has a name and `interfaces` is not empty.
PortPlan PlanPortRows(const PortSecuritySpec& spec, const json& port,
                      const std::vector<const json*>& interfaces, const PortBindings* bindings) {
  PortPlan plan;
  plan.name = rows::Column(port, "name").get<std::string>();
  for (const auto* interface : interfaces) {
    auto ofport = rows::OptionalInteger(rows::Column(*interface, "ofport"));
    // OVSDB shows the bridge's own internal port as 65534, OFPP_LOCAL in OpenFlow 1.0.
    if (ofport == kOvsdbLocalPort) {
      plan.ofports.push_back(of::kPortLocal);
      continue;
    }
    if (!ofport || *ofport <= 0 || *ofport >= 0xff00) {
      plan.state = PortState::kPending;
      plan.reason =
          fmt::format("interface {} has no OpenFlow port number", interface->value("name", ""));
      plan.ofports.clear();
      return plan;
    }
    plan.ofports.push_back(static_cast<std::uint32_t>(*ofport));
  }
  // Only the ports netd made itself forward: a port that merely has the uplink's name does not.
  if (plan.name == spec.bridge && rows::Managed(port) && interfaces.size() == 1) {
    return PlanInternalPort(spec, std::move(plan), *interfaces.front());
  }
  if (!spec.uplink.empty() && plan.name == spec.uplink && rows::Managed(port)) {
    plan.state = PortState::kForward;
    plan.flows = ForwardFlows(plan.ofports);
    return plan;
  }
  const json& interface = *interfaces.front();
  plan.vm_id = rows::ExternalId(interface, "vm-id").value_or("");
  auto attached = rows::ExternalId(interface, "attached-mac");
  if (!attached) {
    plan.reason = "no external_ids:attached-mac";
    return plan;
  }
  plan.mac = MacAddress::Parse(*attached);
  if (!plan.mac) {
    plan.reason = fmt::format("attached-mac {:?} is not a MAC address", *attached);
    return plan;
  }
  if (interfaces.size() != 1) {
    plan.reason = "a VM port with more than one interface";
    return plan;
  }
  if (spec.require_binding) return PlanBoundPort(spec, std::move(plan), bindings);
  auto encoded = plan.mac->EncodedVmAddress();
  bool in_range = encoded && *encoded >= spec.dhcp_first && *encoded <= spec.dhcp_last;
  if (in_range) {
    plan.state = PortState::kPinned;
    plan.address = encoded;
    plan.flows = PinnedPortFlows(plan.ofports.front(), *plan.mac, Ipv4Cidr(*encoded, 32), {});
    return plan;
  }
  plan.reason =
      encoded ? fmt::format("MAC encodes {}, outside the DHCP range {}-{}", encoded->ToString(),
                            spec.dhcp_first.ToString(), spec.dhcp_last.ToString())
              : "MAC does not encode an address (52:54:a:b:c:d)";
  if (spec.pin_mac_only) {
    plan.state = PortState::kPinnedMac;
    plan.flows = PinnedPortFlows(plan.ofports.front(), *plan.mac, spec.cidr, spec.gateway);
  }
  return plan;
}

bool IsVmPort(const PortPlan& plan) {
  return plan.state == PortState::kPinned || plan.state == PortState::kPinnedMac;
}

// Under segmentation a port's own flows lead into the pipeline instead of NORMAL: a VM's
// allowed IPv4 (its DHCP discovery included) to table 10, its ARP and RARP to table 20; what
// the gateway's port or the uplink sends to table 30 (untagged first); the internal port of a
// host without the gateway role sends nothing.
void SegmentPortFlows(const PortSecuritySpec& spec, PortPlan& plan) {
  if (IsVmPort(plan)) {
    for (auto& flow : plan.flows) {
      if (flow.actions != std::vector<of::Action>{kNormal}) continue;
      flow.actions.clear();
      bool arp = flow.match.eth_type == of::kEthTypeArp || flow.match.eth_type == of::kEthTypeRarp;
      flow.goto_table = arp ? kTableArp : kTableFromVm;
    }
    return;
  }
  if (plan.state == PortState::kIsolated) {
    std::erase_if(plan.flows, [](const of::Flow& flow) { return !flow.actions.empty(); });
    return;
  }
  if (plan.state != PortState::kForward) return;
  bool tagged = spec.uplink_tagged && plan.name == spec.uplink;
  plan.flows.clear();
  for (auto ofport : plan.ofports) {
    of::Flow flow{kPriorityForward, {.in_port = ofport}, {}, 0, kTableFromOutside};
    if (tagged) {
      // Only the network's VLAN: what a trunk carries untagged or tagged otherwise drops.
      flow.match.vlan_vid = kVlanPresent | spec.vlan;
      flow.actions = {of::PopVlan{}};
    }
    plan.flows.push_back(std::move(flow));
  }
}

PortPlan PlanPort(const PortSecuritySpec& spec, const json& port,
                  const std::vector<const json*>& interfaces,
                  const std::set<std::string>& inactive_vms, const PortBindings* bindings) {
  auto plan = PlanPortRows(spec, port, interfaces, bindings);
  if (spec.segmentation) SegmentPortFlows(spec, plan);
  bool vm_port = plan.state != PortState::kForward && plan.state != PortState::kIsolated &&
                 plan.state != PortState::kPending;
  if (vm_port && !plan.vm_id.empty() && inactive_vms.contains(plan.vm_id)) {
    // A port left behind by a VM that libvirt says is not running (a crash, a half-finished
    // stop): whatever holds its tap now is not that VM.
    plan.state = PortState::kVmStopped;
    plan.reason = "libvirt: the VM is not running";
    plan.address.reset();
    plan.unbound = false;
    plan.bound_vm.clear();
    plan.flows.clear();
  }
  return plan;
}

// What the pipeline's flows need to know of the bridge's ports, from their plans.
struct BridgePorts {
  std::optional<std::uint32_t> gateway;  // the internal port with the gateway role, else the uplink
  std::optional<std::uint32_t> uplink;
  struct Vm {
    std::string name;
    std::uint32_t ofport = 0;
    Ipv4Address address;
  };
  // Pinned VM ports with their address, by MAC: of two ports with one MAC (a VM started twice),
  // the first by name.
  std::map<MacAddress, Vm> vms;
};

BridgePorts PortsOf(const PortSecuritySpec& spec, const std::map<std::string, PortPlan>& plans) {
  BridgePorts ports;
  for (const auto& [name, plan] : plans) {
    if (plan.state == PortState::kForward && name == spec.bridge && !spec.isolate_local) {
      ports.gateway = plan.ofports.front();
    } else if (plan.state == PortState::kForward && name == spec.uplink) {
      ports.uplink = plan.ofports.front();
    } else if (plan.state == PortState::kPinned && plan.address) {
      ports.vms.try_emplace(*plan.mac, BridgePorts::Vm{name, plan.ofports.front(), *plan.address});
    }
  }
  if (spec.isolate_local) ports.gateway = ports.uplink;
  return ports;
}

// Out of `port`; frames leave a trunk uplink tagged with the network's VLAN.
std::vector<of::Action> OutputTo(const PortSecuritySpec& spec, const BridgePorts& ports,
                                 std::uint32_t port) {
  if (ports.uplink == port && spec.uplink_tagged) {
    return {of::PushVlan{spec.vlan}, of::Output{port}};
  }
  return {of::Output{port}};
}

of::Match Ipv4Match() {
  return {.eth_type = of::kEthTypeIpv4};
}

// The pipeline's own flows, on the gateway's port: where a VM's frames for the gateway and the
// outside go, how frames from the gateway's port and the uplink are told apart, and the
// gateway's broadcasts to every VM. Without a gateway port VMs reach nothing.
std::vector<of::Flow> BridgeFlows(const PortSecuritySpec& spec, const BridgePorts& ports) {
  if (!ports.gateway) return {};
  auto gateway = *ports.gateway;
  auto to_gateway = OutputTo(spec, ports, gateway);
  auto gateway_address = Ipv4Cidr(spec.gateway, 32);
  std::vector<of::Flow> flows;
  auto add = [&flows](std::uint8_t table, std::uint16_t priority, of::Match match,
                      std::vector<of::Action> actions, std::optional<std::uint8_t> next = {}) {
    flows.push_back({priority, std::move(match), std::move(actions), table, next});
  };
  // Table 10: IPv4 from a VM. To another VM of the network: tracked, then table 11; anything
  // else (the gateway, the outside, broadcasts and multicasts) only to the gateway.
  auto to_gateway_address = Ipv4Match();
  to_gateway_address.ipv4_dst = gateway_address;
  add(kTableFromVm, 300, to_gateway_address, to_gateway);
  auto inside = Ipv4Match();
  inside.ipv4_dst = spec.cidr;
  add(kTableFromVm, 200, inside, {of::Conntrack{spec.vlan, false, kTableEastWest}});
  add(kTableFromVm, 100, Ipv4Match(), to_gateway);
  // Table 20: a VM's ARP for the gateway and its replies to the gateway; its RARP announce to
  // the uplink, where the fabric learns it.
  for (auto op : {of::kArpRequest, of::kArpReply}) {
    add(kTableArp, 300, {.eth_type = of::kEthTypeArp, .arp_op = op, .arp_tpa = gateway_address},
        to_gateway);
  }
  if (ports.uplink) {
    add(kTableArp, 300, {.eth_type = of::kEthTypeRarp}, OutputTo(spec, ports, *ports.uplink));
  }
  // Table 30: the gateway's frames to table 32; other hosts' VMs' IPv4 tracked, then table 31.
  if (gateway != ports.uplink) {
    add(kTableFromOutside, 200, {.in_port = gateway}, {}, kTableDeliver);
  } else {
    auto from_gateway = Ipv4Match();
    from_gateway.ipv4_src = gateway_address;
    add(kTableFromOutside, 200, from_gateway, {}, kTableDeliver);
    add(kTableFromOutside, 200, {.eth_type = of::kEthTypeArp, .arp_spa = gateway_address}, {},
        kTableDeliver);
  }
  if (ports.uplink && gateway == *ports.uplink) {
    // A host without the gateway role: the uplink carries the gateway's frames (from its
    // address, or routed by it from outside the network) and other hosts' VMs' IPv4.
    auto from_vm = Ipv4Match();
    from_vm.ipv4_src = spec.cidr;
    add(kTableFromOutside, 150, from_vm, {of::Conntrack{spec.vlan, false, kTableToVm}});
    add(kTableFromOutside, 100, Ipv4Match(), {}, kTableDeliver);
  } else if (ports.uplink) {
    // The gateway is the internal port, and other hosts' VMs come through the uplink: their
    // frames for the gateway (its address, ARP for it, the outside) go to it, their frames for
    // this host's VMs are tracked for table 31, and nothing on the uplink speaks for the gateway.
    auto uplink = *ports.uplink;
    auto to_gateway_address_from_uplink = to_gateway_address;
    to_gateway_address_from_uplink.in_port = uplink;
    add(kTableFromOutside, 170, to_gateway_address_from_uplink, to_gateway);
    add(kTableFromOutside, 170,
        {.in_port = uplink, .eth_type = of::kEthTypeArp, .arp_tpa = gateway_address}, to_gateway);
    auto claiming = Ipv4Match();
    claiming.in_port = uplink;
    claiming.ipv4_src = gateway_address;
    add(kTableFromOutside, 160, claiming, {});
    auto east_west = inside;
    east_west.in_port = uplink;
    add(kTableFromOutside, 150, east_west, {of::Conntrack{spec.vlan, false, kTableToVm}});
    auto outside = Ipv4Match();
    outside.in_port = uplink;
    add(kTableFromOutside, 140, outside, to_gateway);
  }
  // Table 32: the gateway's broadcasts and multicasts to every VM of this host (and on to the
  // uplink where the gateway is the internal port); its unicast is each VM port's own flow.
  std::vector<of::Action> to_every_vm;
  for (const auto& [mac, vm] : ports.vms) to_every_vm.push_back(of::Output{vm.ofport});
  const auto group_bit = MacAddress(0x010000000000);
  of::Match group_addressed{.eth_dst = group_bit, .eth_dst_mask = group_bit};
  if (!to_every_vm.empty()) add(kTableDeliver, 110, group_addressed, to_every_vm);
  if (gateway != ports.uplink && ports.uplink) {
    auto to_uplink = OutputTo(spec, ports, *ports.uplink);
    auto everywhere = to_every_vm;
    everywhere.insert(everywhere.end(), to_uplink.begin(), to_uplink.end());
    group_addressed.in_port = gateway;
    add(kTableDeliver, 120, group_addressed, everywhere);
    add(kTableDeliver, 1, {.in_port = gateway}, to_uplink);
  }
  return flows;
}

// A VM port's pipeline flows: the gateway's unicast to it (table 32); with each group peer the
// sending side (table 11: tracked connections, and new ones on what a group allows, committed,
// each to the peer's port or the uplink), the receiving side for peers of other hosts (table
// 31, the same checks again), and the answers to its ARP requests for the peer (table 20).
std::vector<of::Flow> VmPipelineFlows(const PortSecuritySpec& spec, const PortPlan& plan,
                                      const BridgePorts& ports,
                                      const std::vector<GroupPeer>& peers) {
  auto ofport = plan.ofports.front();
  auto mac = *plan.mac;
  std::vector<of::Flow> flows = {{100, {.eth_dst = mac}, {of::Output{ofport}}, kTableDeliver}};
  auto own = Ipv4Cidr(*plan.address, 32);
  const of::CtState established{of::kCtTracked | of::kCtEstablished,
                                of::kCtTracked | of::kCtEstablished | of::kCtInvalid};
  const of::CtState related{of::kCtTracked | of::kCtRelated,
                            of::kCtTracked | of::kCtRelated | of::kCtInvalid};
  const of::CtState fresh{of::kCtTracked | of::kCtNew,
                          of::kCtTracked | of::kCtNew | of::kCtInvalid};
  // One flow per allowance and port: `match` narrowed to what the allowance opens.
  auto allowed = [](const of::Match& match, const GroupAllowance& allowance) {
    std::vector<of::Match> matches;
    if (!allowance.ip_proto) return std::vector<of::Match>{match};
    auto narrowed = match;
    narrowed.ip_proto = allowance.ip_proto;
    if (allowance.ports.empty() || *allowance.ip_proto == of::kIpProtoIcmp)
      return std::vector{narrowed};
    for (auto port : allowance.ports) {
      auto with_port = narrowed;
      if (*allowance.ip_proto == of::kIpProtoTcp) {
        with_port.tcp_dst = port;
      } else {
        with_port.udp_dst = port;
      }
      matches.push_back(with_port);
    }
    return matches;
  };
  using Field = of::SetField::Field;
  for (const auto& peer : peers) {
    auto local = ports.vms.find(peer.mac);
    bool on_this_host = local != ports.vms.end() && local->second.address == peer.address;
    auto theirs = Ipv4Cidr(peer.address, 32);
    std::vector<of::Action> to_peer = {of::SetField{Field::kEthDst, peer.mac.value()}};
    if (on_this_host) {
      to_peer.push_back(of::Output{local->second.ofport});
    } else if (ports.uplink) {
      auto out = OutputTo(spec, ports, *ports.uplink);
      to_peer.insert(to_peer.end(), out.begin(), out.end());
    } else {
      continue;  // a peer elsewhere, and no uplink to reach it by
    }
    auto sending = Ipv4Match();
    sending.in_port = ofport;
    sending.ipv4_src = own;
    sending.ipv4_dst = theirs;
    for (const auto& state : {established, related}) {
      auto match = sending;
      match.ct_state = state;
      flows.push_back({200, match, to_peer, kTableEastWest});
    }
    std::vector<of::Action> commit_to_peer = {of::Conntrack{spec.vlan, true, std::nullopt}};
    commit_to_peer.insert(commit_to_peer.end(), to_peer.begin(), to_peer.end());
    for (const auto& allowance : peer.allowances) {
      auto match = sending;
      match.ct_state = fresh;
      for (auto& narrowed : allowed(match, allowance)) {
        flows.push_back({100, narrowed, commit_to_peer, kTableEastWest});
      }
    }
    if (!on_this_host) {
      auto receiving = Ipv4Match();
      receiving.ipv4_src = theirs;
      receiving.ipv4_dst = own;
      std::vector<of::Action> to_vm = {of::SetField{Field::kEthDst, mac.value()},
                                       of::Output{ofport}};
      for (const auto& state : {established, related}) {
        auto match = receiving;
        match.ct_state = state;
        flows.push_back({200, match, to_vm, kTableToVm});
      }
      std::vector<of::Action> commit_to_vm = {of::Conntrack{spec.vlan, true, std::nullopt}};
      commit_to_vm.insert(commit_to_vm.end(), to_vm.begin(), to_vm.end());
      for (const auto& allowance : peer.allowances) {
        auto match = receiving;
        match.ct_state = fresh;
        for (auto& narrowed : allowed(match, allowance)) {
          flows.push_back({100, narrowed, commit_to_vm, kTableToVm});
        }
      }
    }
    // The peer's ARP answer, made here: the request never leaves the host.
    flows.push_back(
        {200,
         {.in_port = ofport,
          .eth_type = of::kEthTypeArp,
          .arp_op = of::kArpRequest,
          .arp_tpa = theirs},
         {of::SetField{Field::kEthDst, mac.value()}, of::SetField{Field::kEthSrc, peer.mac.value()},
          of::SetField{Field::kArpOp, of::kArpReply},
          of::SetField{Field::kArpSha, peer.mac.value()},
          of::SetField{Field::kArpSpa, peer.address.value()},
          of::SetField{Field::kArpTha, mac.value()},
          of::SetField{Field::kArpTpa, plan.address->value()}, of::Output{of::kPortInPort}},
         kTableArp});
  }
  return flows;
}

// A port's flows as installed: its own, then the pipeline's.
std::vector<of::Flow> FlowsOf(const PortPlan& plan) {
  auto flows = plan.flows;
  flows.insert(flows.end(), plan.pipeline_flows.begin(), plan.pipeline_flows.end());
  return flows;
}

}  // namespace

std::string_view ToString(PortState state) {
  switch (state) {
    case PortState::kForward:
      return "forward";
    case PortState::kIsolated:
      return "isolated";
    case PortState::kPinned:
      return "pinned";
    case PortState::kPinnedMac:
      return "pinned-mac";
    case PortState::kRefused:
      return "refused";
    case PortState::kVmStopped:
      return "vm-stopped";
    case PortState::kPending:
      return "pending";
  }
  return "unknown";
}

std::vector<of::Flow> PinnedPortFlows(std::uint32_t ofport, MacAddress mac, Ipv4Cidr source,
                                      std::optional<Ipv4Address> not_from) {
  // Untagged frames only: a VLAN tag would carry the frame past its access port's VLAN.
  constexpr std::uint16_t kNoVlan = 0;
  std::vector<of::Flow> flows = {
      // A VM is never a DHCP server, whatever addresses and source port it uses: neither
      // server port nor the client port as destination.
      {kPriorityDhcpServerDrop,
       {.in_port = ofport,
        .eth_type = of::kEthTypeIpv4,
        .ip_proto = of::kIpProtoUdp,
        .udp_src = kDhcpServerPort}},
      {kPriorityDhcpServerDrop,
       {.in_port = ofport,
        .eth_type = of::kEthTypeIpv4,
        .ip_proto = of::kIpProtoUdp,
        .udp_dst = kDhcpClientPort}},
      {kPriorityAllow,
       {.in_port = ofport,
        .eth_src = mac,
        .vlan_vid = kNoVlan,
        .eth_type = of::kEthTypeIpv4,
        .ipv4_src = source},
       {kNormal}},
      {kPriorityAllow,
       {.in_port = ofport,
        .eth_src = mac,
        .vlan_vid = kNoVlan,
        .eth_type = of::kEthTypeArp,
        .arp_spa = source,
        .arp_sha = mac},
       {kNormal}},
      // DHCP discovery (and INIT-REBOOT requests) before the VM has its address.
      {kPriorityAllow,
       {.in_port = ofport,
        .eth_src = mac,
        .vlan_vid = kNoVlan,
        .eth_type = of::kEthTypeIpv4,
        .ip_proto = of::kIpProtoUdp,
        .ipv4_src = Ipv4Cidr(Ipv4Address(0), 32),
        .ipv4_dst = Ipv4Cidr(Ipv4Address(0xffffffff), 32),
        .udp_src = kDhcpClientPort,
        .udp_dst = kDhcpServerPort},
       {kNormal}},
      // The announce QEMU broadcasts after a live migration, so that switches learn the VM's
      // MAC on its new host at once (RARP, from its own MAC).
      {kPriorityAllow,
       {.in_port = ofport, .eth_src = mac, .vlan_vid = kNoVlan, .eth_type = of::kEthTypeRarp},
       {kNormal}},
      // Everything else from the port: IPv6, other ethertypes, other sources, tagged frames.
      {kPriorityPortDrop, {.in_port = ofport}},
  };
  if (not_from) {
    // A source range that holds the gateway's address must not let the VM claim it.
    flows.push_back({
        kPriorityDhcpServerDrop,
        {.in_port = ofport, .eth_type = of::kEthTypeIpv4, .ipv4_src = Ipv4Cidr(*not_from, 32)},
    });
    flows.push_back({
        kPriorityDhcpServerDrop,
        {.in_port = ofport, .eth_type = of::kEthTypeArp, .arp_spa = Ipv4Cidr(*not_from, 32)},
    });
  }
  return flows;
}

std::optional<std::vector<PortPlan>> PlanPorts(const PortSecuritySpec& spec, const RowsOf& rows,
                                               const std::set<std::string>& inactive_vms,
                                               const PortBindings* bindings) {
  const auto* bridge = rows::FindNamed(rows("Bridge"), spec.bridge);
  if (!bridge || !rows::Managed(bridge->second)) return std::nullopt;
  std::vector<PortPlan> plans;
  const auto& ports = rows("Port");
  for (const auto& uuid : rows::Uuids(rows::Column(bridge->second, "ports"))) {
    auto port = ports.find(uuid);
    if (port == ports.end() || !rows::Column(port->second, "name").is_string()) continue;
    auto interfaces = InterfacesOf(port->second, rows("Interface"));
    if (!interfaces.rows.empty()) {
      plans.push_back(PlanPort(spec, port->second, interfaces.rows, inactive_vms, bindings));
    }
  }
  std::sort(plans.begin(), plans.end(),
            [](const PortPlan& a, const PortPlan& b) { return a.name < b.name; });
  return plans;
}

PortSecurity::PortSecurity(boost::asio::io_context& io, OvsdbClient& client, PortSecuritySpec spec,
                           OpenFlowClient::Options openflow_options, const PortBindings* bindings)
    : io_(io),
      client_(client),
      spec_(std::move(spec)),
      bindings_(bindings),
      openflow_(io, spec_.mgmt_socket, openflow_options),
      retry_timer_(io),
      check_timer_(io) {}

void PortSecurity::Start() {
  openflow_.set_on_ready([this] {
    full_install_pending_ = true;
    Sync();
  });
  openflow_.set_on_lost([this] {
    // What the switch holds is unknown until the next connection installs everything.
    for (auto& [name, installed] : installed_) installed.acknowledged = false;
  });
  CheckFlows();
  // One plan per turn of the loop, however many updates arrived in it.
  subscription_ = client_.Subscribe([this] {
    if (sync_posted_) return;
    sync_posted_ = true;
    boost::asio::post(io_, [this, alive = std::weak_ptr<bool>(alive_)] {
      if (!alive.lock()) return;
      sync_posted_ = false;
      Sync();
    });
  });
  Sync();
}

void PortSecurity::Sync() {
  // Without the database's state netd cannot tell a removed port from a missing cache: the
  // flows stay as they are.
  if (!client_.synced()) return;
  auto now = std::chrono::steady_clock::now();
  const auto* bridge = rows::FindNamed(client_.rows("Bridge"), spec_.bridge);
  bool present = bridge && rows::Managed(bridge->second);
  // Only the ports whose rows changed since the last plan are planned again.
  std::set<std::string> dirty;
  if (!present) {
    members_.clear();
    bridge_uuid_.clear();
  } else if (bridge->first != bridge_uuid_ ||
             client_.version("Bridge", bridge->first) != bridge_version_) {
    bridge_uuid_ = bridge->first;
    bridge_version_ = client_.version("Bridge", bridge->first);
    members_.clear();
    for (auto& uuid : rows::Uuids(rows::Column(bridge->second, "ports"))) {
      members_.insert(std::move(uuid));
    }
    for (const auto& uuid : members_) {
      if (!planned_.contains(uuid)) dirty.insert(uuid);
    }
  }
  std::vector<std::string> left;
  for (const auto& [uuid, port] : planned_) {
    if (!members_.contains(uuid)) left.push_back(uuid);
  }
  for (const auto& uuid : left) Forget(uuid);
  client_.ForEachChangedSince("Port", seen_version_, [&](const std::string& uuid) {
    if (members_.contains(uuid)) dirty.insert(uuid);
  });
  client_.ForEachChangedSince("Interface", seen_version_, [&](const std::string& uuid) {
    auto owner = interface_owner_.find(uuid);
    if (owner != interface_owner_.end()) dirty.insert(owner->second);
  });
  seen_version_ = client_.last_version();
  for (const auto& uuid : dirty) PlanAgain(uuid, now);
  if (spec_.segmentation && !changed_.empty()) PlanPipeline();
  // The bridge's management socket exists while the bridge does.
  if (present != bridge_present_) {
    bridge_present_ = present;
    if (bridge_present_) {
      openflow_.Start();
    } else {
      openflow_.Stop();
    }
  }
  if (!openflow_.ready() || BindingsAwaited()) return;
  if (full_install_pending_) {
    FullInstall();
    return;
  }
  std::vector<FlowChange> changes;
  std::vector<std::string> owners;
  auto batch = next_batch_;
  // The internal port first: VM ports may wait for it (VmPortsHeld).
  std::vector<std::string> order(changed_.begin(), changed_.end());
  std::stable_partition(order.begin(), order.end(),
                        [&](const std::string& name) { return name == spec_.bridge; });
  std::set<std::string> held;
  for (const auto& name : order) {
    auto wanted = desired_.find(name);
    auto installed = installed_.find(name);
    if (wanted == desired_.end() || FlowsOf(wanted->second).empty()) {
      // By cookie, not by installed_: a batch refused in part left flows netd no longer counts.
      auto cookie = cookies_.find(name);
      if (cookie == cookies_.end()) continue;
      changes.push_back(FlowChange::Delete(cookie->second, ~std::uint64_t{0}));
      owners.push_back(name);
      cookies_.erase(cookie);
      ++counters_.port_updates;
      if (installed != installed_.end()) installed_.erase(installed);
      continue;
    }
    const auto& plan = wanted->second;
    if (IsVmPort(plan) && VmPortsHeld()) {
      held.insert(name);
      continue;
    }
    auto flows = FlowsOf(plan);
    if (installed != installed_.end() && installed->second.flows == flows &&
        installed->second.port_config == plan.port_config) {
      continue;
    }
    bool fresh = false;
    auto cookie = CookieOf(name, fresh);
    bool known = installed != installed_.end();
    if (!fresh) {
      ++counters_.port_updates;
      // What the switch holds under the cookie is not known: all of it goes first.
      if (!known) {
        changes.push_back(FlowChange::Delete(cookie, ~std::uint64_t{0}));
        owners.push_back(name);
      }
    }
    if (!fresh && known) {
      // Only what differs is sent: a flow that stays with other actions is replaced in place
      // (an add of the same match), so that the port's traffic never meets a moment without
      // it; flows that go are deleted one by one.
      const auto& before = installed->second;
      if (plan.port_config && plan.port_config != before.port_config) {
        changes.push_back(FlowChange::SetPortConfig(*plan.port_config));
        owners.push_back(name);
      }
      for (const auto& flow : flows) {
        if (std::find(before.flows.begin(), before.flows.end(), flow) != before.flows.end()) {
          continue;
        }
        changes.push_back(FlowChange::Add(flow, cookie));
        owners.push_back(name);
      }
      for (const auto& old : before.flows) {
        bool kept = std::any_of(flows.begin(), flows.end(), [&](const of::Flow& flow) {
          return flow.table == old.table && flow.priority == old.priority &&
                 flow.match == old.match;
        });
        if (kept) continue;
        changes.push_back(FlowChange::DeleteFlow(old, cookie));
        owners.push_back(name);
      }
    } else {
      AppendInstall(name, plan, cookie, changes, owners);
    }
    installed_[name] = {cookie, std::move(flows), plan.port_config, batch, false};
  }
  changed_ = std::move(held);
  if (!changes.empty()) SendBatch(std::move(changes), std::move(owners));
}

void PortSecurity::PlanPipeline() {
  auto ports = PortsOf(spec_, desired_);
  for (auto& [name, plan] : desired_) {
    std::vector<of::Flow> flows;
    std::vector<std::string> peer_names;
    if (ports.gateway && plan.ofports.size() == 1 && plan.ofports.front() == *ports.gateway &&
        plan.state == PortState::kForward) {
      flows = BridgeFlows(spec_, ports);
    } else if (plan.state == PortState::kPinned && plan.address && !plan.bound_vm.empty() &&
               bindings_) {
      auto owner = ports.vms.find(*plan.mac);
      if (owner != ports.vms.end() && owner->second.name == name) {
        auto peers = bindings_->PeersOf(spec_.network, plan.bound_vm);
        for (const auto& peer : peers) peer_names.push_back(peer.vm);
        flows = VmPipelineFlows(spec_, plan, ports, peers);
      }
    }
    plan.peers = std::move(peer_names);
    if (flows != plan.pipeline_flows) {
      plan.pipeline_flows = std::move(flows);
      changed_.insert(name);
    }
  }
}

void PortSecurity::SetInactiveVms(std::set<std::string> inactive,
                                  const std::set<std::string>& reconcile) {
  std::set<std::string> affected = reconcile;
  std::set_symmetric_difference(inactive_vms_.begin(), inactive_vms_.end(), inactive.begin(),
                                inactive.end(), std::inserter(affected, affected.end()));
  inactive_vms_ = std::move(inactive);
  if (affected.empty() || !client_.synced()) return;
  auto now = std::chrono::steady_clock::now();
  std::vector<std::pair<std::string, std::string>> ports;  // Port uuid, name
  for (const auto& [uuid, planned] : planned_) {
    auto plan = desired_.find(planned.name);
    if (plan != desired_.end() && affected.contains(plan->second.vm_id)) {
      ports.emplace_back(uuid, planned.name);
    }
  }
  for (const auto& [uuid, name] : ports) PlanAgain(uuid, now);
  Sync();
  for (const auto& [uuid, name] : ports) {
    auto plan = desired_.find(name);
    if (plan != desired_.end() && reconcile.contains(plan->second.vm_id)) VerifyPortFlows(name);
  }
}

bool PortSecurity::BindingDecides(const PortPlan& plan) const {
  if (!spec_.require_binding || !plan.mac) return false;
  switch (plan.state) {
    case PortState::kForward:
    case PortState::kIsolated:
    case PortState::kVmStopped:
      return false;
    case PortState::kPending:
      return plan.ofports.size() == 1;  // numbered, waiting for the bindings
    default:
      break;
  }
  if (!bindings_ || bindings_->state() == PortBindings::State::kAwaiting) return true;
  auto bound = bindings_->Find(spec_.network, *plan.mac);
  if (!bound) return !plan.unbound;
  return plan.state != PortState::kPinned || plan.bound_vm != bound->vm ||
         plan.address != bound->address;
}

void PortSecurity::BindingsChanged() {
  // Without the cache the ports are planned when it is back, each of them afresh.
  if (!client_.synced()) return;
  auto now = std::chrono::steady_clock::now();
  // Only the ports whose binding decides otherwise now are planned again: a change elsewhere
  // in the enclave leaves this bridge's ports as they are, except for their group peers.
  std::vector<std::string> uuids;
  for (const auto& [uuid, planned] : planned_) {
    auto plan = desired_.find(planned.name);
    if (plan == desired_.end() || BindingDecides(plan->second)) uuids.push_back(uuid);
  }
  for (const auto& uuid : uuids) PlanAgain(uuid, now);
  if (spec_.segmentation) PlanPipeline();
  Sync();
}

void PortSecurity::VerifyPortFlows(const std::string& name) {
  auto installed = installed_.find(name);
  if (installed == installed_.end() || !installed->second.acknowledged || !openflow_.ready()) {
    return;
  }
  auto cookie = installed->second.cookie;
  auto expected = installed->second.flows.size();
  auto batch = next_batch_;
  openflow_.CountFlows(
      cookie, ~std::uint64_t{0}, [this, name, cookie, expected, batch](auto count) {
        // A batch sent meanwhile may have changed the port's flows: the periodic count covers it.
        if (!count || batch != next_batch_) return;
        auto entry = installed_.find(name);
        if (entry == installed_.end() || entry->second.cookie != cookie || count->flows == expected)
          return;
        spdlog::warn("ovs: {}: port {} holds {} of its {} flows; installing them again",
                     spec_.bridge, name, count->flows, expected);
        ++counters_.flow_repairs;
        installed_.erase(entry);
        changed_.insert(name);
        Sync();
      });
}

void PortSecurity::PlanAgain(const std::string& uuid, std::chrono::steady_clock::time_point now) {
  const auto& ports = client_.rows("Port");
  auto port = ports.find(uuid);
  if (port == ports.end() || !rows::Column(port->second, "name").is_string()) {
    Forget(uuid);
    return;
  }
  const auto& name = rows::Column(port->second, "name").get_ref<const std::string&>();
  auto interfaces = InterfacesOf(port->second, client_.rows("Interface"));
  auto& planned = planned_[uuid];
  for (const auto& interface : planned.interfaces) interface_owner_.erase(interface);
  for (const auto& interface : interfaces.uuids) interface_owner_[interface] = uuid;
  planned = {name, std::move(interfaces.uuids)};
  changed_.insert(name);
  if (interfaces.rows.empty()) {
    desired_.erase(name);
    return;
  }
  auto plan = PlanPort(spec_, port->second, interfaces.rows, inactive_vms_, bindings_);
  auto previous = desired_.find(name);
  if (plan.unbound && (previous == desired_.end() || !previous->second.unbound)) {
    ++counters_.unbound_refusals;
  }
  if (previous == desired_.end() || previous->second.state != plan.state ||
      previous->second.reason != plan.reason) {
    spdlog::info("ovs: {} port {}{}{}: {}{}", spec_.bridge, name,
                 plan.vm_id.empty() ? "" : " vm=" + plan.vm_id,
                 plan.mac ? " mac=" + plan.mac->ToString() : "", ToString(plan.state),
                 plan.reason.empty() ? "" : " (" + plan.reason + ")");
  }
  if (!first_install_.contains(name)) {
    auto seen = first_seen_.try_emplace(name, now).first;
    if (plan.state != PortState::kPending) numbered_.try_emplace(name, now - seen->second);
  }
  desired_[name] = std::move(plan);
}

void PortSecurity::Forget(const std::string& uuid) {
  auto planned = planned_.find(uuid);
  if (planned == planned_.end()) return;
  auto name = planned->second.name;
  for (const auto& interface : planned->second.interfaces) interface_owner_.erase(interface);
  planned_.erase(planned);
  desired_.erase(name);
  first_seen_.erase(name);
  first_install_.erase(name);
  numbered_.erase(name);
  changed_.insert(name);
}

void PortSecurity::FullInstall() {
  full_install_pending_ = false;
  changed_.clear();
  ++counters_.full_installs;
  installed_.clear();
  auto batch = next_batch_;
  std::vector<FlowChange> changes = {
      FlowChange::Delete(kCookieTag, kCookieTagMask),
      FlowChange::Add({0, {}}, kBaselineCookie),
  };
  if (spec_.segmentation) {
    for (auto table : {kTableEastWest, kTableToVm}) {
      changes.push_back(FlowChange::Add({0, {}, {}, table}, kEastWestDropCookie));
    }
  }
  std::vector<std::string> owners(changes.size(), "");
  // The internal port first: VM ports may wait for it (VmPortsHeld).
  std::vector<const std::pair<const std::string, PortPlan>*> order;
  for (const auto& entry : desired_) order.push_back(&entry);
  std::stable_partition(order.begin(), order.end(),
                        [&](const auto* entry) { return entry->first == spec_.bridge; });
  for (const auto* entry : order) {
    const auto& [name, plan] = *entry;
    if (FlowsOf(plan).empty()) continue;
    if (IsVmPort(plan) && VmPortsHeld()) {
      changed_.insert(name);
      continue;
    }
    bool fresh = false;
    auto cookie = CookieOf(name, fresh);
    AppendInstall(name, plan, cookie, changes, owners);
    installed_[name] = {cookie, FlowsOf(plan), plan.port_config, batch, false};
  }
  spdlog::info("ovs: {}: installing all flows ({} ports, {} flows)", spec_.bridge,
               installed_.size(), changes.size() - 1);
  SendBatch(std::move(changes), std::move(owners));
}

void PortSecurity::AppendInstall(const std::string& name, const PortPlan& plan,
                                 std::uint64_t cookie, std::vector<FlowChange>& changes,
                                 std::vector<std::string>& owners) const {
  if (plan.port_config) {
    changes.push_back(FlowChange::SetPortConfig(*plan.port_config));
    owners.push_back(name);
  }
  for (const auto& flow : FlowsOf(plan)) {
    changes.push_back(FlowChange::Add(flow, cookie));
    owners.push_back(name);
  }
}

bool PortSecurity::Programmed() const {
  if (counters_.full_installs == 0 || full_install_pending_ || batches_in_flight_ > 0 ||
      !openflow_.ready()) {
    return false;
  }
  return std::all_of(desired_.begin(), desired_.end(), [&](const auto& entry) {
    return FlowsOf(entry.second).empty() || FlowsAcknowledged(entry.first, entry.second);
  });
}

bool PortSecurity::BindingsAwaited() const {
  return spec_.require_binding &&
         (!bindings_ || bindings_->state() == PortBindings::State::kAwaiting);
}

bool PortSecurity::VmPortsHeld() const {
  if (!spec_.isolate_local) return false;
  auto local = desired_.find(spec_.bridge);
  return local == desired_.end() || local->second.state != PortState::kIsolated;
}

void PortSecurity::SendBatch(std::vector<FlowChange> changes, std::vector<std::string> owners) {
  auto batch = next_batch_++;
  ++batches_in_flight_;
  openflow_.Send(changes, [this, batch, owners = std::move(owners)](const auto& result) {
    --batches_in_flight_;
    Acknowledged(batch, result, owners);
  });
}

void PortSecurity::CheckFlows() {
  // Counted only while nothing is on its way, so that the count netd expects is exact.
  if (openflow_.ready() && batches_in_flight_ == 0 && !count_in_flight_ && !full_install_pending_) {
    // The table-miss drop, and with segmentation the east-west drops of tables 11 and 31.
    std::uint64_t expected = spec_.segmentation ? 3 : 1;
    for (const auto& [name, installed] : installed_) expected += installed.flows.size();
    auto batch = next_batch_;
    count_in_flight_ = true;
    openflow_.CountFlows(kCookieTag, kCookieTagMask, [this, expected, batch](auto count) {
      count_in_flight_ = false;
      if (!count || batch != next_batch_ || batches_in_flight_ != 0 || full_install_pending_ ||
          count->flows == expected) {
        return;
      }
      ++counters_.flow_repairs;
      spdlog::warn(
          "ovs: {}: the switch holds {} of netd's flows, {} expected; installing all "
          "again",
          spec_.bridge, count->flows, expected);
      full_install_pending_ = true;
      Sync();
    });
  }
  if (spec_.segmentation && openflow_.ready()) {
    openflow_.CountFlows(kEastWestDropCookie, ~std::uint64_t{0}, [this](auto stats) {
      if (stats) counters_.east_west_drops = stats->packets;
    });
  }
  CheckLocalPort();
  check_timer_.expires_after(spec_.flow_check_interval);
  check_timer_.async_wait([this](auto error) {
    if (!error) CheckFlows();
  });
}

void PortSecurity::CheckLocalPort() {
  auto installed = installed_.find(spec_.bridge);
  if (!spec_.isolate_local || local_check_in_flight_ || !openflow_.ready() ||
      batches_in_flight_ != 0 || full_install_pending_ || installed == installed_.end() ||
      !installed->second.acknowledged || !installed->second.port_config) {
    return;
  }
  auto wanted = *installed->second.port_config;
  auto batch = next_batch_;
  local_check_in_flight_ = true;
  openflow_.DescribePorts([this, wanted, batch](auto ports) {
    local_check_in_flight_ = false;
    if (!ports || batch != next_batch_ || batches_in_flight_ != 0 || full_install_pending_) return;
    auto local = std::find_if(ports->begin(), ports->end(),
                              [&](const auto& port) { return port.port_no == wanted.port_no; });
    if (local == ports->end() || (local->config & wanted.mask) == wanted.config) return;
    ++counters_.local_port_repairs;
    spdlog::warn("ovs: {}: internal port {} forwards again (config {:#x}); isolating it again",
                 spec_.bridge, local->hw_addr.ToString(), local->config);
    installed_.erase(spec_.bridge);
    changed_.insert(spec_.bridge);
    Sync();
  });
}

void PortSecurity::Acknowledged(std::uint64_t batch, const OpenFlowClient::BatchResult& result,
                                const std::vector<std::string>& owners) {
  if (!result.lost.empty()) return;  // the next connection installs everything
  std::set<std::string> refused;
  for (const auto& [index, error] : result.refused) {
    const auto& owner = index < owners.size() ? owners[index] : std::string();
    spdlog::warn("ovs: {}: the switch refused a flow of {}: {}; again in {} s", spec_.bridge,
                 owner.empty() ? "the baseline" : "port " + owner, of::Describe(error),
                 retry_delay_.count());
    refused.insert(owner);
  }
  if (refused.empty()) {
    retry_delay_ = kMinRetryDelay;
  } else {
    ++counters_.failures;
    // Sent again after a pause (doubling while the switch keeps refusing), deleted first
    // under its cookie; the baseline, or the delete of a port that went, with everything.
    for (const auto& name : refused) {
      if (name.empty() || !desired_.contains(name)) full_install_pending_ = true;
      installed_.erase(name);
      changed_.insert(name);
    }
    retry_timer_.expires_after(retry_delay_);
    retry_delay_ = std::min(retry_delay_ * 2, kMaxRetryDelay);
    retry_timer_.async_wait([this](auto error) {
      if (!error) Sync();
    });
  }
  auto now = std::chrono::steady_clock::now();
  for (const auto& name : std::set<std::string>(owners.begin(), owners.end())) {
    auto entry = installed_.find(name);
    if (entry == installed_.end()) continue;
    auto& installed = entry->second;
    if (installed.batch != batch) continue;
    installed.acknowledged = true;
    auto seen = first_seen_.find(name);
    if (seen == first_seen_.end()) continue;
    first_install_[name] = now - seen->second;
    first_seen_.erase(seen);
  }
}

std::uint64_t PortSecurity::CookieOf(const std::string& port, bool& fresh) {
  auto [it, inserted] = cookies_.try_emplace(port, kCookieTag | next_cookie_);
  if (inserted) ++next_cookie_;
  fresh = inserted;
  return it->second;
}

bool PortSecurity::FlowsAcknowledged(const std::string& name, const PortPlan& plan) const {
  auto installed = installed_.find(name);
  return installed != installed_.end() && installed->second.acknowledged &&
         installed->second.flows == FlowsOf(plan) &&
         installed->second.port_config == plan.port_config;
}

std::vector<PortSecurity::PortStatus> PortSecurity::ports() const {
  std::vector<PortStatus> out;
  for (const auto& [name, plan] : desired_) {
    auto find = [&name = name](const auto& durations) -> std::optional<std::chrono::nanoseconds> {
      auto it = durations.find(name);
      return it == durations.end() ? std::nullopt : std::optional(it->second);
    };
    out.push_back({plan, FlowsAcknowledged(name, plan), find(first_install_), find(numbered_)});
  }
  return out;
}

PortSecurity::Counters PortSecurity::counters() const {
  auto counters = counters_;
  counters.ports = desired_.size();
  for (const auto& [name, plan] : desired_) {
    if (plan.state == PortState::kRefused) ++counters.refused;
    if (plan.state == PortState::kVmStopped) ++counters.stopped;
    if (plan.unbound) ++counters.unbound;
    if ((plan.state == PortState::kPinned || plan.state == PortState::kPinnedMac) &&
        FlowsAcknowledged(name, plan)) {
      ++counters.pinned;
    }
  }
  for (const auto& [name, installed] : installed_) {
    if (installed.acknowledged) counters.flows += installed.flows.size();
  }
  return counters;
}

}  // namespace netd::ovs
