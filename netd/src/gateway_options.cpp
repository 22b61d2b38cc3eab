#include "netd/daemon/gateway_options.hpp"

namespace netd {
namespace {

std::vector<EnclaveNetwork> EnclaveNetworksOf(const Config& config) {
  std::vector<EnclaveNetwork> networks;
  for (const auto& network : config.networks) networks.push_back({network.name, network.cidr});
  return networks;
}

}  // namespace

std::vector<dhcp::IpamNetwork> IpamNetworksOf(const Config& config) {
  std::vector<dhcp::IpamNetwork> networks;
  for (const auto& network : config.networks) {
    networks.push_back({network.name, network.dhcp_first, network.dhcp_last});
  }
  return networks;
}

firewall::GatewayFirewallOptions GatewayFirewallOptionsOf(const Config& config) {
  firewall::GatewayFirewallOptions options;
  auto& layout = options.layout;
  layout.external_interface = config.gateway.external_interface;
  layout.forward_ports = config.gateway.forward_ports;
  layout.forward_vm_ports = config.gateway.forward_vm_ports;
  layout.backend_tcp_ports = config.gateway.backend_tcp_ports;
  layout.log_group = config.gateway.nflog_group;
  layout.route_mark = config.gateway.route_mark;
  for (const auto& network : config.networks) {
    layout.networks.push_back({network.name, network.bridge, network.cidr, network.gateway,
                               network.egress == Egress::kAllowlist});
  }
  options.table_mode = config.gateway.table_mode;
  options.max_allow_elements = config.gateway.max_allowlist_elements;
  return options;
}

firewall::RouteGuardSpec RouteGuardSpecOf(const Config& config) {
  firewall::RouteGuardSpec spec;
  for (const auto& network : config.networks) {
    spec.vm_interfaces.push_back(network.bridge);
    spec.vm_networks.push_back(network.cidr);
  }
  spec.external_interface = config.gateway.external_interface;
  spec.route_mark = config.gateway.route_mark;
  spec.priority = config.gateway.route_guard_priority;
  return spec;
}

firewall::BoundVm BoundVmOf(const dhcp::VmBinding& binding) {
  return {binding.vm, binding.network, binding.ip, binding.mac};
}

allowlist::RuleCodecOptions RuleCodecOptionsOf(const Config& config) {
  return {.enclave_networks = EnclaveNetworksOf(config)};
}

proxy::ForwardOptions ForwardOptionsOf(const Config& config) {
  return {.default_ttl_s = config.gateway.forward_ttl_s,
          .max_ttl_s = config.gateway.forward_max_ttl_s,
          .vm_ports = config.gateway.forward_vm_ports,
          .enclave_networks = EnclaveNetworksOf(config),
          .grace_ms = firewall::GatewayFirewall::kForwardGraceMs};
}

}  // namespace netd
