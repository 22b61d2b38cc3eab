#include "netd/daemon/host_role.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace netd {
namespace {

std::vector<ovs::BridgeSpec> BridgeSpecs(const Config& config) {
  std::vector<ovs::BridgeSpec> specs;
  for (const auto& network : config.networks) {
    specs.push_back({network.bridge, config.host.datapath_type, network.vlan, network.uplink_mode,
                     network.uplink});
  }
  return specs;
}

// ovs-vswitchd opens each bridge's management socket in its run directory, where ovsdb-server's
// socket is too.
ovs::PortSecuritySpec PortSecuritySpec(const Config& config, const NetworkConfig& network) {
  return {.bridge = network.bridge,
          .uplink = network.uplink,
          .cidr = network.cidr,
          .gateway = network.gateway,
          .dhcp_first = network.dhcp_first,
          .dhcp_last = network.dhcp_last,
          // Where unknown MACs get leases from the range, a host cannot know a VM's address
          // in advance: such ports are pinned to their MAC.
          .pin_mac_only = network.dhcp_dynamic,
          .mgmt_socket = config.host.ovsdb_socket.parent_path() / (network.bridge + ".mgmt")};
}

nlohmann::json OrNull(const std::string& text) {
  return text.empty() ? nlohmann::json() : nlohmann::json(text);
}

nlohmann::json Milliseconds(std::optional<std::chrono::nanoseconds> duration) {
  if (!duration) return nullptr;
  return std::chrono::duration<double, std::milli>(*duration).count();
}

}  // namespace

HostRole::HostRole(boost::asio::io_context& io, const Config& config)
    : config_(config),
      client_(io, config.host.ovsdb_socket),
      bridges_(io, client_, BridgeSpecs(config)) {
  for (const auto& network : config.networks) {
    port_security_.push_back(
        std::make_unique<ovs::PortSecurity>(io, client_, PortSecuritySpec(config, network)));
  }
}

void HostRole::Start() {
  spdlog::info("host: keeping {} bridges and their VM ports through {}", config_.networks.size(),
               config_.host.ovsdb_socket.string());
  bridges_.Start();
  for (auto& security : port_security_) security->Start();
  client_.Start();
}

void HostRole::Stop() {
  client_.Stop();
}

nlohmann::json HostRole::StatusJson() const {
  const auto& ovsdb = client_.counters();
  const auto& bridges = bridges_.counters();
  auto per_bridge = nlohmann::json::array();
  for (const auto& security : port_security_) {
    auto counters = security->counters();
    per_bridge.push_back({{"bridge", security->spec().bridge},
                          {"openflow_connected", security->openflow().ready()},
                          {"ports", counters.ports},
                          {"vm_ports_pinned", counters.pinned},
                          {"ports_refused", counters.refused},
                          {"flows", counters.flows},
                          {"full_installs", counters.full_installs},
                          {"port_updates", counters.port_updates},
                          {"failures", counters.failures},
                          {"flow_repairs", counters.flow_repairs}});
  }
  return {{"ovsdb",
           {{"socket", config_.host.ovsdb_socket.string()},
            {"synced", client_.synced()},
            {"connects", ovsdb.connects},
            {"disconnects", ovsdb.disconnects}}},
          {"bridges",
           {{"in_sync", bridges_.in_sync()},
            {"transactions", bridges.transactions},
            {"repairs", bridges.repairs},
            {"failures", bridges.failures},
            {"conflicts", bridges.conflicts},
            {"per_bridge", per_bridge}}}};
}

nlohmann::json HostRole::PortsJson() const {
  auto ports = nlohmann::json::array();
  for (const auto& security : port_security_) {
    for (const auto& status : security->ports()) {
      const auto& plan = status.plan;
      ports.push_back({{"bridge", security->spec().bridge},
                       {"port", plan.name},
                       {"vm_id", OrNull(plan.vm_id)},
                       {"mac", OrNull(plan.mac ? plan.mac->ToString() : "")},
                       {"address", OrNull(plan.address ? plan.address->ToString() : "")},
                       {"state", ovs::ToString(plan.state)},
                       {"flows_installed", status.installed},
                       {"flows", plan.flows.size()},
                       {"first_install_ms", Milliseconds(status.first_install)},
                       {"numbered_ms", Milliseconds(status.numbered)},
                       {"reason", OrNull(plan.reason)}});
    }
  }
  return ports;
}

std::string HostRole::Metrics() const {
  const auto& bridges = bridges_.counters();
  auto out = fmt::format(
      "# HELP netd_ovsdb_synced Whether netd holds ovsdb-server's current state (1) or not (0).\n"
      "# TYPE netd_ovsdb_synced gauge\nnetd_ovsdb_synced {}\n"
      "# HELP netd_ovsdb_disconnects_total Connections to ovsdb-server lost.\n"
      "# TYPE netd_ovsdb_disconnects_total counter\nnetd_ovsdb_disconnects_total {}\n"
      "# HELP netd_ovs_bridge_repairs_total Bridge changes made after the bridges first stood "
      "as configured (drift repaired).\n"
      "# TYPE netd_ovs_bridge_repairs_total counter\nnetd_ovs_bridge_repairs_total {}\n"
      "# HELP netd_ovs_bridge_conflicts Configured bridges that exist and are not netd's (left "
      "alone).\n"
      "# TYPE netd_ovs_bridge_conflicts gauge\nnetd_ovs_bridge_conflicts {}\n",
      client_.synced() ? 1 : 0, client_.counters().disconnects, bridges.repairs, bridges.conflicts);
  struct Family {
    const char* name;
    const char* type;
    const char* help;
    std::uint64_t ovs::PortSecurity::Counters::*field;
  };
  static constexpr Family kFamilies[] = {
      {"netd_ovs_ports", "gauge", "Ports of the bridge.", &ovs::PortSecurity::Counters::ports},
      {"netd_ovs_vm_ports_pinned", "gauge",
       "VM ports pinned to their MAC (and address), flows acknowledged by the switch.",
       &ovs::PortSecurity::Counters::pinned},
      {"netd_ovs_ports_refused", "gauge", "Ports that get no flows (everything they send drops).",
       &ovs::PortSecurity::Counters::refused},
      {"netd_ovs_flows", "gauge", "Port flows netd installed and the switch acknowledged.",
       &ovs::PortSecurity::Counters::flows},
      {"netd_ovs_flow_full_installs_total", "counter",
       "Times netd installed a bridge's whole flow table (every OpenFlow connect).",
       &ovs::PortSecurity::Counters::full_installs},
      {"netd_ovs_flow_failures_total", "counter", "Flow batches the switch refused in part.",
       &ovs::PortSecurity::Counters::failures},
      {"netd_ovs_flow_repairs_total", "counter",
       "Times the switch held other flows than netd installed (all installed again).",
       &ovs::PortSecurity::Counters::flow_repairs},
  };
  for (const auto& family : kFamilies) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", family.name, family.help, family.name,
                       family.type);
    for (const auto& security : port_security_) {
      out += fmt::format("{}{{bridge=\"{}\"}} {}\n", family.name, security->spec().bridge,
                         security->counters().*family.field);
    }
  }
  return out;
}

}  // namespace netd
