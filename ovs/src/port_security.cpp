#include "netd/ovs/port_security.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <set>

#include "ovsdb_rows.hpp"

namespace netd::ovs {
namespace {

using nlohmann::json;
namespace of = openflow;

// Priorities of table 0, highest first.
constexpr std::uint16_t kPriorityDhcpServerDrop = 310;
constexpr std::uint16_t kPriorityAllow = 300;
constexpr std::uint16_t kPriorityPortDrop = 200;
constexpr std::uint16_t kPriorityForward = 100;

constexpr std::int64_t kOvsdbLocalPort = 65534;
constexpr std::uint32_t kOpenFlow13LocalPort = 0xfffffffe;

constexpr std::uint16_t kDhcpServerPort = 67;
constexpr std::uint16_t kDhcpClientPort = 68;

const json* Row(const RowsOf& rows, const std::string& table, const std::string& uuid) {
  const auto& table_rows = rows(table);
  auto it = table_rows.find(uuid);
  return it == table_rows.end() ? nullptr : &it->second;
}

std::vector<of::Flow> ForwardFlows(const std::vector<std::uint32_t>& ofports) {
  std::vector<of::Flow> flows;
  for (auto ofport : ofports) {
    flows.push_back({kPriorityForward, {.in_port = ofport}, true});
  }
  return flows;
}

PortPlan PlanPort(const PortSecuritySpec& spec, const std::string& name,
                  const std::vector<const json*>& interfaces) {
  PortPlan plan;
  plan.name = name;
  for (const auto* interface : interfaces) {
    auto ofport = rows::OptionalInteger(interface->value("ofport", json()));
    // OVSDB shows the bridge's own internal port as 65534, OFPP_LOCAL in OpenFlow 1.0.
    if (ofport == kOvsdbLocalPort) {
      plan.ofports.push_back(kOpenFlow13LocalPort);
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
  if (name == spec.bridge || (!spec.uplink.empty() && name == spec.uplink)) {
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
  auto encoded = plan.mac->EncodedVmAddress();
  bool in_range = encoded && *encoded >= spec.dhcp_first && *encoded <= spec.dhcp_last;
  if (in_range) {
    plan.state = PortState::kPinned;
    plan.address = encoded;
    plan.flows = PinnedPortFlows(plan.ofports.front(), *plan.mac, Ipv4Cidr(*encoded, 32));
    return plan;
  }
  plan.reason =
      encoded ? fmt::format("MAC encodes {}, outside the DHCP range {}-{}", encoded->ToString(),
                            spec.dhcp_first.ToString(), spec.dhcp_last.ToString())
              : "MAC does not encode an address (52:54:a:b:c:d)";
  if (spec.pin_mac_only) {
    plan.state = PortState::kPinnedMac;
    plan.flows = PinnedPortFlows(plan.ofports.front(), *plan.mac, spec.cidr);
  }
  return plan;
}

// One port of a bridge with the rows it is planned from.
struct BridgePort {
  const std::string& uuid;
  const std::string& name;
  std::vector<const json*> interfaces;
  std::vector<std::string> interface_uuids;
};

const json& Column(const json& row, const char* name) {
  static const json kNone;
  auto it = row.find(name);
  return it == row.end() ? kNone : *it;
}

// Calls `visit` for every port of `bridge` that has interfaces; false when the bridge is absent
// or not netd's.
bool ForEachPort(const std::string& bridge_name, const RowsOf& rows,
                 const std::function<void(const BridgePort&)>& visit) {
  const json* bridge = nullptr;
  for (const auto& [uuid, row] : rows("Bridge")) {
    const auto& name = Column(row, "name");
    if (name.is_string() && name.get_ref<const std::string&>() == bridge_name) bridge = &row;
  }
  if (!bridge || !rows::Managed(*bridge)) return false;
  for (const auto& port_uuid : rows::Uuids(Column(*bridge, "ports"))) {
    const auto* port = Row(rows, "Port", port_uuid);
    if (!port || !Column(*port, "name").is_string()) continue;
    BridgePort entry{port_uuid, Column(*port, "name").get_ref<const std::string&>(), {}, {}};
    for (auto& interface_uuid : rows::Uuids(Column(*port, "interfaces"))) {
      if (const auto* interface = Row(rows, "Interface", interface_uuid)) {
        entry.interfaces.push_back(interface);
        entry.interface_uuids.push_back(std::move(interface_uuid));
      }
    }
    if (!entry.interfaces.empty()) visit(entry);
  }
  return true;
}

}  // namespace

std::string_view ToString(PortState state) {
  switch (state) {
    case PortState::kForward:
      return "forward";
    case PortState::kPinned:
      return "pinned";
    case PortState::kPinnedMac:
      return "pinned-mac";
    case PortState::kRefused:
      return "refused";
    case PortState::kPending:
      return "pending";
  }
  return "unknown";
}

std::vector<of::Flow> PinnedPortFlows(std::uint32_t ofport, MacAddress mac, Ipv4Cidr source) {
  return {
      // A VM is never a DHCP server, whatever addresses it uses.
      {kPriorityDhcpServerDrop,
       {.in_port = ofport,
        .eth_type = of::kEthTypeIpv4,
        .ip_proto = of::kIpProtoUdp,
        .udp_src = kDhcpServerPort},
       false},
      {kPriorityAllow,
       {.in_port = ofport, .eth_src = mac, .eth_type = of::kEthTypeIpv4, .ipv4_src = source},
       true},
      {kPriorityAllow,
       {.in_port = ofport,
        .eth_src = mac,
        .eth_type = of::kEthTypeArp,
        .arp_spa = source,
        .arp_sha = mac},
       true},
      // DHCP discovery (and INIT-REBOOT requests) before the VM has its address.
      {kPriorityAllow,
       {.in_port = ofport,
        .eth_src = mac,
        .eth_type = of::kEthTypeIpv4,
        .ip_proto = of::kIpProtoUdp,
        .ipv4_src = Ipv4Cidr(Ipv4Address(0), 32),
        .ipv4_dst = Ipv4Address(0xffffffff),
        .udp_src = kDhcpClientPort,
        .udp_dst = kDhcpServerPort},
       true},
      // Everything else from the port: IPv6, other ethertypes, other sources.
      {kPriorityPortDrop, {.in_port = ofport}, false},
  };
}

std::optional<std::vector<PortPlan>> PlanPorts(const PortSecuritySpec& spec, const RowsOf& rows) {
  std::vector<PortPlan> plans;
  bool present = ForEachPort(spec.bridge, rows, [&](const BridgePort& port) {
    plans.push_back(PlanPort(spec, port.name, port.interfaces));
  });
  if (!present) return std::nullopt;
  std::sort(plans.begin(), plans.end(),
            [](const PortPlan& a, const PortPlan& b) { return a.name < b.name; });
  return plans;
}

PortSecurity::PortSecurity(boost::asio::io_context& io, OvsdbClient& client, PortSecuritySpec spec,
                           OpenFlowClient::Options openflow_options)
    : io_(io),
      client_(client),
      spec_(std::move(spec)),
      openflow_(io, spec_.mgmt_socket, openflow_options),
      retry_timer_(io) {}

void PortSecurity::Start() {
  openflow_.set_on_ready([this] {
    full_install_pending_ = true;
    Sync();
  });
  openflow_.set_on_lost([this] {
    // What the switch holds is unknown until the next connection installs everything.
    for (auto& [name, installed] : installed_) installed.acknowledged = false;
  });
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
  RowsOf rows = [this](const std::string& table) -> const OvsdbClient::Rows& {
    return client_.rows(table);
  };
  // A port is planned again only when its Port or Interface rows changed.
  std::map<std::string, PlannedPort> planned;
  std::set<std::string> names;
  bool present = ForEachPort(spec_.bridge, rows, [&](const BridgePort& port) {
    PlannedPort key{port.name, client_.version("Port", port.uuid), {}};
    for (const auto& uuid : port.interface_uuids) {
      key.interface_versions.push_back(client_.version("Interface", uuid));
    }
    names.insert(port.name);
    auto cached = planned_.find(port.uuid);
    if (cached != planned_.end() && cached->second == key) {
      planned.emplace(port.uuid, std::move(key));
      return;
    }
    auto plan = PlanPort(spec_, port.name, port.interfaces);
    auto previous = desired_.find(port.name);
    if (previous == desired_.end() || previous->second.state != plan.state ||
        previous->second.reason != plan.reason) {
      spdlog::info("ovs: {} port {}{}{}: {}{}", spec_.bridge, port.name,
                   plan.vm_id.empty() ? "" : " vm=" + plan.vm_id,
                   plan.mac ? " mac=" + plan.mac->ToString() : "", ToString(plan.state),
                   plan.reason.empty() ? "" : " (" + plan.reason + ")");
    }
    if (!first_install_.contains(port.name)) {
      auto seen = first_seen_.try_emplace(port.name, now).first;
      if (plan.state != PortState::kPending) numbered_.try_emplace(port.name, now - seen->second);
    }
    desired_[port.name] = std::move(plan);
    planned.emplace(port.uuid, std::move(key));
  });
  planned_ = std::move(planned);
  auto gone = [&](const auto& entry) { return !names.contains(entry.first); };
  std::erase_if(desired_, gone);
  std::erase_if(first_seen_, gone);
  std::erase_if(first_install_, gone);
  std::erase_if(numbered_, gone);
  // The bridge's management socket exists while the bridge does.
  if (present != bridge_present_) {
    bridge_present_ = present;
    if (bridge_present_) {
      openflow_.Start();
    } else {
      openflow_.Stop();
    }
  }
  if (!openflow_.ready()) return;
  if (full_install_pending_) {
    FullInstall();
    return;
  }
  std::vector<FlowChange> changes;
  std::vector<std::string> owners;
  for (auto it = installed_.begin(); it != installed_.end();) {
    auto wanted = desired_.find(it->first);
    if (wanted != desired_.end() && !wanted->second.flows.empty()) {
      ++it;
      continue;
    }
    changes.push_back(FlowChange::Delete(it->second.cookie, ~std::uint64_t{0}));
    owners.push_back(it->first);
    cookies_.erase(it->first);
    ++counters_.port_updates;
    it = installed_.erase(it);
  }
  auto batch = next_batch_;
  for (const auto& [name, plan] : desired_) {
    if (plan.flows.empty()) continue;
    auto installed = installed_.find(name);
    if (installed != installed_.end() && installed->second.flows == plan.flows) continue;
    bool fresh = false;
    auto cookie = CookieOf(name, fresh);
    if (!fresh) {
      changes.push_back(FlowChange::Delete(cookie, ~std::uint64_t{0}));
      owners.push_back(name);
      ++counters_.port_updates;
    }
    for (const auto& flow : plan.flows) {
      changes.push_back(FlowChange::Add(flow, cookie));
      owners.push_back(name);
    }
    installed_[name] = {cookie, plan.flows, batch, false};
  }
  if (!changes.empty()) SendBatch(std::move(changes), std::move(owners));
}

void PortSecurity::FullInstall() {
  full_install_pending_ = false;
  ++counters_.full_installs;
  installed_.clear();
  auto batch = next_batch_;
  std::vector<FlowChange> changes = {
      FlowChange::Delete(kCookieTag, kCookieTagMask),
      FlowChange::Add({0, {}, false}, kBaselineCookie),
  };
  std::vector<std::string> owners = {"", ""};
  for (const auto& [name, plan] : desired_) {
    if (plan.flows.empty()) continue;
    bool fresh = false;
    auto cookie = CookieOf(name, fresh);
    for (const auto& flow : plan.flows) {
      changes.push_back(FlowChange::Add(flow, cookie));
      owners.push_back(name);
    }
    installed_[name] = {cookie, plan.flows, batch, false};
  }
  spdlog::info("ovs: {}: installing all flows ({} ports, {} flows)", spec_.bridge,
               installed_.size(), changes.size() - 1);
  SendBatch(std::move(changes), std::move(owners));
}

void PortSecurity::SendBatch(std::vector<FlowChange> changes, std::vector<std::string> owners) {
  auto batch = next_batch_++;
  openflow_.Send(changes, [this, batch, owners = std::move(owners)](const auto& result) {
    Acknowledged(batch, result, owners);
  });
}

void PortSecurity::Acknowledged(std::uint64_t batch, const OpenFlowClient::BatchResult& result,
                                const std::vector<std::string>& owners) {
  if (!result.lost.empty()) return;  // the next connection installs everything
  std::set<std::string> refused;
  for (const auto& [index, error] : result.refused) {
    const auto& owner = index < owners.size() ? owners[index] : std::string();
    spdlog::warn("ovs: {}: the switch refused a flow of {}: {}", spec_.bridge,
                 owner.empty() ? "the baseline" : "port " + owner, of::Describe(error));
    refused.insert(owner);
  }
  if (!refused.empty()) {
    ++counters_.failures;
    // Sent again after a pause, deleted first under its cookie; the baseline with everything.
    if (refused.contains("")) full_install_pending_ = true;
    for (const auto& name : refused) installed_.erase(name);
    retry_timer_.expires_after(std::chrono::seconds(1));
    retry_timer_.async_wait([this](auto error) {
      if (!error) Sync();
    });
  }
  auto now = std::chrono::steady_clock::now();
  for (auto& [name, installed] : installed_) {
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

std::vector<PortSecurity::PortStatus> PortSecurity::ports() const {
  std::vector<PortStatus> out;
  for (const auto& [name, plan] : desired_) {
    auto installed = installed_.find(name);
    bool acknowledged = installed != installed_.end() && installed->second.acknowledged &&
                        installed->second.flows == plan.flows;
    auto find = [&](const auto& durations) -> std::optional<std::chrono::nanoseconds> {
      auto it = durations.find(name);
      return it == durations.end() ? std::nullopt : std::optional(it->second);
    };
    out.push_back({plan, acknowledged, find(first_install_), find(numbered_)});
  }
  return out;
}

PortSecurity::Counters PortSecurity::counters() const {
  auto counters = counters_;
  counters.ports = desired_.size();
  for (const auto& status : ports()) {
    auto state = status.plan.state;
    if (state == PortState::kRefused) ++counters.refused;
    if ((state == PortState::kPinned || state == PortState::kPinnedMac) && status.installed) {
      ++counters.pinned;
    }
  }
  for (const auto& [name, installed] : installed_) {
    if (installed.acknowledged) counters.flows += installed.flows.size();
  }
  return counters;
}

}  // namespace netd::ovs
