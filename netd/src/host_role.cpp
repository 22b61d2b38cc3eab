#include "netd/daemon/host_role.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

#include "api_support.hpp"

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

// ovs-vswitchd opens each bridge's management socket (<bridge>.mgmt) in its run directory.
ovs::PortSecuritySpec PortSecuritySpec(const Config& config, const NetworkConfig& network) {
  return {.network = network.name,
          .bridge = network.bridge,
          .uplink = network.uplink,
          .cidr = network.cidr,
          .gateway = network.gateway,
          .dhcp_first = network.dhcp_first,
          .dhcp_last = network.dhcp_last,
          // Where unknown MACs get leases from the range, a host cannot know a VM's address
          // in advance: such ports are pinned to their MAC.
          .pin_mac_only = network.dhcp_dynamic,
          // Secure VM ports are pinned only as the gateway bound them, and reach only the
          // gateway and their groups' members.
          .require_binding = network.egress == Egress::kAllowlist,
          // Without the gateway role the internal port is the host's, not the gateway's.
          .isolate_local = !config.HasRole(Role::kGateway),
          .segmentation = network.egress == Egress::kAllowlist,
          .vlan = static_cast<std::uint16_t>(network.vlan),
          .uplink_tagged = network.uplink_mode == ovs::UplinkMode::kTrunk,
          .mgmt_socket = config.host.openvswitch_rundir / (network.bridge + ".mgmt")};
}

std::vector<libvirt::LibvirtNetworkSpec> LibvirtNetworks(const Config& config) {
  std::vector<libvirt::LibvirtNetworkSpec> networks;
  for (const auto& network : config.networks) {
    // On a trunk uplink the VLAN is the VM ports' access tag, which libvirt sets from the
    // portgroup; a VLAN-interface uplink carries the VLAN itself.
    networks.push_back({network.name, network.bridge, network.vlan,
                        network.uplink_mode == ovs::UplinkMode::kTrunk});
  }
  return networks;
}

nlohmann::json OrNull(const std::string& text) {
  return text.empty() ? nlohmann::json() : nlohmann::json(text);
}

nlohmann::json Milliseconds(std::optional<std::chrono::nanoseconds> duration) {
  if (!duration) return nullptr;
  return std::chrono::duration<double, std::milli>(*duration).count();
}

}  // namespace

HostRole::HostRole(boost::asio::io_context& io, const Config& config, Clock& clock,
                   const ovs::PortBindings* gateway_bindings)
    : config_(config),
      feed_(config.policy ? std::make_unique<policy::PolicyFeed>(
                                io,
                                policy::FeedOptions{
                                    .remotes = config.policy->remotes,
                                    .tls = config.policy->tls,
                                    .probe_interval = config.policy->timeouts.probe_interval,
                                    .request_timeout = config.policy->timeouts.request_timeout},
                                clock)
                          : nullptr),
      bindings_(feed_ ? feed_.get() : gateway_bindings),
      client_(io, config.host.ovsdb_remote,
              {.tls = config.host.ovsdb_tls,
               .inactivity_probe = config.host.timeouts.probe_interval,
               .request_timeout = config.host.timeouts.request_timeout}),
      bridges_(io, client_, BridgeSpecs(config)) {
  for (const auto& network : config.networks) {
    port_security_.push_back(std::make_unique<ovs::PortSecurity>(
        io, client_, PortSecuritySpec(config, network),
        ovs::OpenFlowClient::Options{.inactivity_probe = config.host.timeouts.probe_interval,
                                     .request_timeout = config.host.timeouts.request_timeout},
        bindings_));
  }
  if (feed_) feed_->set_on_change([this] { BindingsChanged(); });
  if (!config.host.libvirt_uri.empty()) {
    libvirt_ = std::make_unique<libvirt::LibvirtClient>(
        io,
        libvirt::LibvirtClient::Options{.uri = config.host.libvirt_uri,
                                        .networks = LibvirtNetworks(config)},
        [this](std::vector<libvirt::DomainState> domains, bool complete) {
          OnDomains(std::move(domains), complete);
        });
  }
}

void HostRole::Start() {
  spdlog::info("host: keeping {} bridges and their VM ports through {}", config_.networks.size(),
               ovs::ToString(config_.host.ovsdb_remote));
  bridges_.Start();
  for (auto& security : port_security_) security->Start();
  client_.Start();
  if (feed_) feed_->Start();
  if (libvirt_) libvirt_->Start();
}

void HostRole::Stop() {
  if (libvirt_) libvirt_->Stop();
  if (feed_) feed_->Stop();
  client_.Stop();
}

void HostRole::BindingsChanged() {
  for (auto& security : port_security_) security->BindingsChanged();
}

bool HostRole::Programmed() const {
  return bridges_.in_sync() &&
         std::all_of(port_security_.begin(), port_security_.end(),
                     [](const auto& security) { return security->Programmed(); });
}

void HostRole::OnDomains(std::vector<libvirt::DomainState> domains, bool complete) {
  if (complete) domains_.clear();
  std::set<std::string> reconcile;
  for (auto& domain : domains) {
    if (!complete) reconcile.insert(domain.uuid);
    if (domain.running) WarnAboutInterfaces(domain);
    if (domain.defined) {
      domains_[domain.uuid] = std::move(domain);
    } else {
      domains_.erase(domain.uuid);
    }
  }
  std::set<std::string> inactive;
  for (const auto& [uuid, domain] : domains_) {
    if (!domain.running) inactive.insert(uuid);
  }
  for (auto& security : port_security_) security->SetInactiveVms(inactive, reconcile);
}

// A VM whose MAC does not encode an address of its network's DHCP range gets no flows on the
// secure network: said when it starts rather than found out from its silence.
void HostRole::WarnAboutInterfaces(const libvirt::DomainState& domain) const {
  for (const auto& interface : domain.interfaces) {
    // <interface type='network'> names the network; type='bridge' only the bridge.
    const auto* network = config_.FindNetwork(interface.network);
    for (const auto& candidate : config_.networks) {
      if (!network && !interface.bridge.empty() && candidate.bridge == interface.bridge) {
        network = &candidate;
      }
    }
    if (!network || network->dhcp_dynamic) continue;
    auto mac = MacAddress::Parse(interface.mac);
    auto encoded = mac ? mac->EncodedVmAddress() : std::nullopt;
    if (encoded && *encoded >= network->dhcp_first && *encoded <= network->dhcp_last) continue;
    spdlog::warn(
        "host: VM {} ({}) has MAC {} on network {}, which does not encode an address of "
        "{}-{}: its port gets no flows",
        domain.name, domain.uuid, interface.mac, network->name, network->dhcp_first.ToString(),
        network->dhcp_last.ToString());
  }
}

void HostRole::ReportLibvirt(StatusReport& report) const {
  if (!libvirt_) {
    report.Status("/host/libvirt", nullptr);
    return;
  }
  static constexpr Metric kConnected{"netd_libvirt_connected", MetricType::kGauge,
                                     "Whether netd is connected to libvirt (1) or not (0)."};
  static constexpr Metric kNetworkRepairs{
      "netd_libvirt_network_repairs_total", MetricType::kCounter,
      "Changes to libvirt's networks after they first stood as configured (destroyed, "
      "undefined, redefined, autostart off)."};
  static constexpr Metric kDomainEvents{"netd_libvirt_domain_events_total", MetricType::kCounter,
                                        "Domain lifecycle events from libvirt."};
  auto status = libvirt_->status();
  auto networks = nlohmann::json::array();
  for (const auto& network : status.networks) {
    networks.push_back({{"name", network.name},
                        {"bridge", network.bridge},
                        {"active", network.active},
                        {"autostart", network.autostart},
                        {"as_specified", network.as_specified}});
  }
  auto running = std::count_if(domains_.begin(), domains_.end(),
                               [](const auto& entry) { return entry.second.running; });
  report.Status("/host/libvirt", {{"uri", status.uri},
                                  {"error", OrNull(status.error)},
                                  {"networks", networks},
                                  {"connects", status.connects},
                                  {"connect_failures", status.connect_failures},
                                  {"disconnects", status.disconnects},
                                  {"network_changes", status.network_changes},
                                  {"domains", domains_.size()},
                                  {"domains_running", running}});
  report.Flag("/host/libvirt/connected", kConnected, status.connected);
  report.Figure("/host/libvirt/network_repairs", kNetworkRepairs, status.network_repairs);
  report.Figure("/host/libvirt/domain_events", kDomainEvents, status.domain_events);
}

void HostRole::ReportPolicy(StatusReport& report) const {
  static constexpr Metric kFeedCurrent{
      "netd_policy_feed_current", MetricType::kGauge,
      "Whether this host follows the policy database's current state (1) or not (0: awaiting "
      "it since start, or away and keeping the bindings last known)."};
  static constexpr Metric kGeneration{"netd_policy_feed_generation", MetricType::kGauge,
                                      "The policy database's generation this host last saw."};
  static constexpr Metric kLag{
      "netd_policy_feed_lag_milliseconds", MetricType::kGauge,
      "From the gateway publishing the generation last seen to this host seeing it."};
  static constexpr Metric kFeedDisconnects{"netd_policy_feed_disconnects_total",
                                           MetricType::kCounter,
                                           "Connections to the policy database lost."};
  static constexpr Metric kResumedSyncs{
      "netd_policy_feed_resumed_syncs_total", MetricType::kCounter,
      "Reconnects that applied only what changed meanwhile (monitor_cond_since)."};
  static constexpr Metric kFullSyncs{"netd_policy_feed_full_syncs_total", MetricType::kCounter,
                                     "Syncs that read the whole policy database."};
  static constexpr Metric kClusterRefusals{
      "netd_policy_feed_cluster_refusals_total", MetricType::kCounter,
      "Members left because they were cut off from the cluster or behind what this host saw."};
  static constexpr Metric kProbeTimeouts{
      "netd_policy_feed_probe_timeouts_total", MetricType::kCounter,
      "Connections given up because the member answered nothing, not even an echo."};
  static constexpr Metric kRequestTimeouts{
      "netd_policy_feed_request_timeouts_total", MetricType::kCounter,
      "Connections given up because the member left a request unanswered past "
      "policy.request_timeout_ms."};
  if (!feed_) {
    report.Status("/host/policy",
                  {{"source", bindings_ ? "gateway" : "none"}, {"state", "current"}});
    return;
  }
  auto status = feed_->status();
  nlohmann::json lag = nullptr;
  if (status.lag) lag = status.lag->count();
  report.Status("/host/policy", {{"source", "policy-database"},
                                 {"state", ovs::ToString(status.state)},
                                 {"remote", status.remote},
                                 {"bindings", status.bindings},
                                 {"groups", status.groups},
                                 {"updates", status.updates},
                                 {"lag_ms", lag}});
  report.Flag("/host/policy/connected", kFeedCurrent,
              status.state == ovs::PortBindings::State::kCurrent);
  report.Figure("/host/policy/generation", kGeneration, status.generation);
  report.Figure("/host/policy/disconnects", kFeedDisconnects, status.disconnects);
  report.Figure("/host/policy/resumed_syncs", kResumedSyncs, status.resumed_syncs);
  report.Figure("/host/policy/full_syncs", kFullSyncs, status.full_syncs);
  report.Figure("/host/policy/cluster_refusals", kClusterRefusals, status.cluster_refusals);
  report.Figure("/host/policy/probe_timeouts", kProbeTimeouts, status.probe_timeouts);
  report.Figure("/host/policy/request_timeouts", kRequestTimeouts, status.request_timeouts);
  if (status.lag) {
    report.Sample(kLag, static_cast<std::uint64_t>(std::max<std::int64_t>(status.lag->count(), 0)));
  } else {
    report.Declare(kLag);
  }
}

void HostRole::Report(StatusReport& report) const {
  static constexpr Metric kSynced{
      "netd_ovsdb_synced", MetricType::kGauge,
      "Whether netd holds ovsdb-server's current state (1) or not (0)."};
  static constexpr Metric kDisconnects{"netd_ovsdb_disconnects_total", MetricType::kCounter,
                                       "Connections to ovsdb-server lost."};
  static constexpr Metric kOvsdbProbeTimeouts{
      "netd_ovsdb_probe_timeouts_total", MetricType::kCounter,
      "Connections to ovsdb-server given up because it answered nothing, not even an echo."};
  static constexpr Metric kOvsdbRequestTimeouts{
      "netd_ovsdb_request_timeouts_total", MetricType::kCounter,
      "Connections to ovsdb-server given up because it left a request unanswered past "
      "host.request_timeout_ms."};
  // Each bridge's OpenFlow connection, given up for one of three reasons.
  struct OpenFlowFigure {
    std::string_view key;
    Metric metric;
    std::uint64_t ovs::OpenFlowClient::Counters::*field;
  };
  static constexpr OpenFlowFigure kOpenFlowFigures[] = {
      {"openflow_probe_timeouts",
       {"netd_openflow_probe_timeouts_total", MetricType::kCounter,
        "OpenFlow connections given up because the switch answered nothing, not even an echo."},
       &ovs::OpenFlowClient::Counters::probe_timeouts},
      {"openflow_request_timeouts",
       {"netd_openflow_request_timeouts_total", MetricType::kCounter,
        "OpenFlow connections given up because the switch left a barrier, flow count or port "
        "description unanswered past host.request_timeout_ms."},
       &ovs::OpenFlowClient::Counters::request_timeouts},
      {"openflow_overflows",
       {"netd_openflow_overflows_total", MetricType::kCounter,
        "OpenFlow connections given up because the switch left 64 MiB of netd's messages "
        "unread."},
       &ovs::OpenFlowClient::Counters::overflows},
  };
  static constexpr Metric kBridgeRepairs{
      "netd_ovs_bridge_repairs_total", MetricType::kCounter,
      "Bridge changes made after the bridges first stood as configured (drift repaired)."};
  static constexpr Metric kBridgeConflicts{
      "netd_ovs_bridge_conflicts", MetricType::kGauge,
      "Configured bridges that exist and are not netd's (left alone)."};
  struct PortFigure {
    std::string_view key;  // in each bridge's status
    Metric metric;
    std::uint64_t ovs::PortSecurity::Counters::*field;
  };
  static constexpr PortFigure kPortFigures[] = {
      {"ports",
       {"netd_ovs_ports", MetricType::kGauge, "Ports of the bridge."},
       &ovs::PortSecurity::Counters::ports},
      {"vm_ports_pinned",
       {"netd_ovs_vm_ports_pinned", MetricType::kGauge,
        "VM ports pinned to their MAC (and address), flows acknowledged by the switch."},
       &ovs::PortSecurity::Counters::pinned},
      {"ports_refused",
       {"netd_ovs_ports_refused", MetricType::kGauge,
        "Ports that get no flows (everything they send drops)."},
       &ovs::PortSecurity::Counters::refused},
      {"vm_ports_unbound",
       {"netd_ovs_vm_ports_unbound", MetricType::kGauge,
        "VM ports refused because the gateway did not bind their MAC on the network."},
       &ovs::PortSecurity::Counters::unbound},
      {"unbound_refusals",
       {"netd_ovs_pins_refused_unbound_total", MetricType::kCounter,
        "Times a VM port was refused for lack of a binding (a port that appeared, or one whose "
        "binding went)."},
       &ovs::PortSecurity::Counters::unbound_refusals},
      {"vm_ports_stopped",
       {"netd_ovs_vm_ports_stopped", MetricType::kGauge,
        "VM ports whose VM libvirt reports as not running (no flows)."},
       &ovs::PortSecurity::Counters::stopped},
      {"flows",
       {"netd_ovs_flows", MetricType::kGauge,
        "Port flows netd installed and the switch acknowledged."},
       &ovs::PortSecurity::Counters::flows},
      {"full_installs",
       {"netd_ovs_flow_full_installs_total", MetricType::kCounter,
        "Times netd installed a bridge's whole flow table (every OpenFlow connect)."},
       &ovs::PortSecurity::Counters::full_installs},
      {"failures",
       {"netd_ovs_flow_failures_total", MetricType::kCounter,
        "Flow batches the switch refused in part."},
       &ovs::PortSecurity::Counters::failures},
      {"flow_repairs",
       {"netd_ovs_flow_repairs_total", MetricType::kCounter,
        "Times the switch held other flows than netd installed (all installed again)."},
       &ovs::PortSecurity::Counters::flow_repairs},
      {"local_port_repairs",
       {"netd_ovs_local_port_repairs_total", MetricType::kCounter,
        "Times the bridge's internal port was found forwarding on a host without the gateway "
        "role (isolated again)."},
       &ovs::PortSecurity::Counters::local_port_repairs},
      {"east_west_drops",
       {"netd_ovs_east_west_drops_total", MetricType::kCounter,
        "Packets between secure VMs that no group allows, dropped (counted by the switch every "
        "second)."},
       &ovs::PortSecurity::Counters::east_west_drops},
  };
  const auto& ovsdb = client_.counters();
  const auto& bridges = bridges_.counters();
  report.Status("/host/ovsdb", {{"remote", ovs::ToString(client_.remote())},
                                {"connects", ovsdb.connects},
                                {"connect_failures", ovsdb.connect_failures}});
  report.Flag("/host/ovsdb/synced", kSynced, client_.synced());
  report.Figure("/host/ovsdb/disconnects", kDisconnects, ovsdb.disconnects);
  report.Figure("/host/ovsdb/probe_timeouts", kOvsdbProbeTimeouts, ovsdb.probe_timeouts);
  report.Figure("/host/ovsdb/request_timeouts", kOvsdbRequestTimeouts, ovsdb.request_timeouts);
  report.Status("/host/bridges", {{"in_sync", bridges_.in_sync()},
                                  {"transactions", bridges.transactions},
                                  {"failures", bridges.failures},
                                  {"per_bridge", nlohmann::json::array()}});
  report.Figure("/host/bridges/repairs", kBridgeRepairs, bridges.repairs);
  report.Figure("/host/bridges/conflicts", kBridgeConflicts, bridges.conflicts);
  ReportLibvirt(report);
  ReportPolicy(report);
  for (const auto& figure : kPortFigures) report.Declare(figure.metric);
  for (const auto& figure : kOpenFlowFigures) report.Declare(figure.metric);
  for (std::size_t i = 0; i < port_security_.size(); ++i) {
    const auto& security = *port_security_[i];
    auto counters = security.counters();
    auto path = fmt::format("/host/bridges/per_bridge/{}", i);
    const auto& bridge = security.spec().bridge;
    report.Status(path + "/bridge", bridge);
    report.Status(path + "/openflow_connected", security.openflow().ready());
    report.Status(path + "/port_updates", counters.port_updates);
    for (const auto& figure : kPortFigures) {
      report.Figure(fmt::format("{}/{}", path, figure.key), figure.metric, counters.*figure.field,
                    {{"bridge", bridge}});
    }
    const auto& openflow = security.openflow().counters();
    for (const auto& figure : kOpenFlowFigures) {
      report.Figure(fmt::format("{}/{}", path, figure.key), figure.metric, openflow.*figure.field,
                    {{"bridge", bridge}});
    }
  }
}

std::span<const RouteOf<HostRole>> HostRole::Routes() {
  static constexpr RouteOf<HostRole> kRoutes[] = {
      {"GET", "/v1/host/ports", AccessLevel::kService, "", "", &HostRole::HostPorts},
  };
  return kRoutes;
}

ApiResponse HostRole::HostPorts(const ApiCall&) {
  return JsonResponse(200, {{"ports", PortsJson()}});
}

nlohmann::json HostRole::PortsJson() const {
  auto ports = nlohmann::json::array();
  for (const auto& security : port_security_) {
    for (const auto& status : security->ports()) {
      const auto& plan = status.plan;
      auto domain = domains_.find(plan.vm_id);
      ports.push_back(
          {{"bridge", security->spec().bridge},
           {"port", plan.name},
           {"vm_id", OrNull(plan.vm_id)},
           {"vm", OrNull(domain == domains_.end() ? "" : domain->second.name)},
           {"mac", OrNull(plan.mac ? plan.mac->ToString() : "")},
           {"address", OrNull(plan.address ? plan.address->ToString() : "")},
           {"state", ovs::ToString(plan.state)},
           {"bound", plan.state == ovs::PortState::kPinned && security->spec().require_binding},
           {"flows_installed", status.installed},
           {"flows", plan.flows.size() + plan.pipeline_flows.size()},
           {"peers", plan.peers},
           {"first_install_ms", Milliseconds(status.first_install)},
           {"numbered_ms", Milliseconds(status.numbered)},
           {"reason", OrNull(plan.reason)}});
    }
  }
  return ports;
}

}  // namespace netd
