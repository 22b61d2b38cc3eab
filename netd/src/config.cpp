#include "netd/daemon/config.hpp"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "config/sections.hpp"

namespace netd {
namespace {

using config_reading::ReadApiSection;
using config_reading::ReadDnsSection;
using config_reading::ReadGatewaySection;
using config_reading::ReadHostSection;
using config_reading::ReadNetdSection;
using config_reading::ReadNetworkSections;
using config_reading::ReadPolicySection;
using config_reading::TableReader;

// The sections in a fixed order, so that of several problems the same one is always reported
// first; then what one section requires of another, and the file's unknown top-level keys.
Config ReadConfig(const toml::table& root, const std::string& file) {
  Config config;
  TableReader top(root, "", file);
  if (auto section = top.Section("netd")) ReadNetdSection(*section, config);
  if (config.roles.empty()) {
    top.Fail(root.get("netd"), "netd.roles", "missing; expected [\"gateway\"], [\"host\"] or both");
  }
  if (auto section = top.Section("api")) config.api = ReadApiSection(*section);
  if (auto section = top.Section("audit")) config.audit = ReadAuditSection(*section);
  if (auto section = top.Section("gateway")) {
    config.gateway = ReadGatewaySection(*section);
  } else if (config.HasRole(Role::kGateway)) {
    top.Fail(nullptr, "gateway", "missing; the gateway role needs [gateway] external_interface");
  }
  if (auto section = top.Section("dns")) config.dns = ReadDnsSection(*section);
  // Without its own upstream, the filtered DNS asks the open networks' resolvers.
  if (config.dns.upstream.empty()) {
    for (auto address : config.gateway.upstream_dns) config.dns.upstream.push_back({address, 53});
  }
  if (auto section = top.Section("host")) config.host = ReadHostSection(*section);
  if (auto section = top.Section("policy")) config.policy = ReadPolicySection(*section);
  config.networks = ReadNetworkSections(top);
  // A host without the gateway role learns the bindings of its secure networks only from the
  // policy database; without it no VM port there could be pinned.
  bool secure =
      std::any_of(config.networks.begin(), config.networks.end(),
                  [](const auto& network) { return network.egress == Egress::kAllowlist; });
  if (config.HasRole(Role::kHost) && !config.HasRole(Role::kGateway) && secure && !config.policy) {
    top.Fail(nullptr, "policy",
             "missing; a host without the gateway role pins secure VM ports only as the policy "
             "database binds them: give [policy] remotes");
  }
  if (config.policy && !config.policy->host_listeners.empty() && !config.HasRole(Role::kGateway)) {
    top.Fail(nullptr, "policy.host_listeners",
             "only for the gateway role, which publishes the policy database");
  }
  top.RejectUnknownKeys();
  return config;
}

}  // namespace

std::string_view ToString(Role role) {
  return role == Role::kGateway ? "gateway" : "host";
}
std::string_view ToString(Egress egress) {
  return egress == Egress::kAllowlist ? "allowlist" : "open";
}

bool Config::HasRole(Role role) const {
  return std::find(roles.begin(), roles.end(), role) != roles.end();
}

const NetworkConfig* Config::FindNetwork(std::string_view name) const {
  for (const auto& network : networks) {
    if (network.name == name) return &network;
  }
  return nullptr;
}

Config ParseConfig(std::string_view text, const std::string& source_name) {
  try {
    auto root = toml::parse(text, source_name);
    return ReadConfig(root, source_name);
  } catch (const toml::parse_error& error) {
    const auto& region = error.source();
    throw ConfigError(fmt::format("{}:{}:{}: invalid TOML: {}", source_name, region.begin.line,
                                  region.begin.column, error.description()));
  }
}

Config LoadConfigFile(const std::filesystem::path& path) {
  std::ifstream file(path);
  if (!file) {
    throw ConfigError(fmt::format("{}: cannot read: {}", path.string(), std::strerror(errno)));
  }
  std::stringstream text;
  text << file.rdbuf();
  auto config = ParseConfig(text.str(), path.string());
  config.source = path;
  return config;
}

std::string DemoConfigText() {
  return R"(# netd single-server demo: the backend and a VM host on one machine.
[netd]
roles = ["gateway", "host"]
socket = "/run/netd/netd.sock"
state_dir = "/var/lib/netd-demo"
run_dir = "/run/netd"
log_level = "info"

[api]
admin_group = "netd-admin"
service_group = "netd"

[gateway]
external_interface = "ext0"
forward_ports = "6000-6100"

[host]
datapath_type = "netdev"
ovsdb_remote = "unix:/run/openvswitch/db.sock"
openvswitch_rundir = "/run/openvswitch"
libvirt_uri = "qemu:///system"

[[network]]
name = "secure"
bridge = "br-secure"
vlan = 1081
cidr = "192.168.128.0/17"
gateway = "192.168.128.1"
dhcp_first = "192.168.129.1"
dhcp_last = "192.168.255.254"
egress = "allowlist"
uplink_mode = "trunk"

[[network]]
name = "service"
bridge = "br-service"
vlan = 1082
cidr = "192.168.122.0/24"
gateway = "192.168.122.1"
dhcp_first = "192.168.122.3"
dhcp_last = "192.168.122.254"
egress = "open"
uplink_mode = "trunk"

[[network]]
name = "datain"
bridge = "br-datain"
vlan = 1083
cidr = "192.168.123.0/24"
gateway = "192.168.123.1"
dhcp_first = "192.168.123.3"
dhcp_last = "192.168.123.254"
egress = "open"
uplink_mode = "trunk"
)";
}

std::vector<std::string> SettingsNeedingRestart(const Config& running, const Config& reloaded) {
  std::vector<std::string> changed;
  auto check = [&](bool differs, std::string_view what) {
    if (differs) changed.emplace_back(what);
  };
  check(running.roles != reloaded.roles, "netd.roles");
  check(running.socket != reloaded.socket, "netd.socket");
  check(running.state_dir != reloaded.state_dir, "netd.state_dir");
  check(running.run_dir != reloaded.run_dir, "netd.run_dir");
  check(running.gateway.external_interface != reloaded.gateway.external_interface,
        "gateway.external_interface");
  check(running.gateway.forward_ports != reloaded.gateway.forward_ports, "gateway.forward_ports");
  check(running.gateway.backend_tcp_ports != reloaded.gateway.backend_tcp_ports,
        "gateway.backend_tcp_ports");
  check(running.gateway.nflog_group != reloaded.gateway.nflog_group, "gateway.nflog_group");
  check(running.gateway.table_mode != reloaded.gateway.table_mode, "gateway.table_mode");
  check(running.gateway.route_mark != reloaded.gateway.route_mark, "gateway.route_mark");
  check(running.gateway.route_guard_priority != reloaded.gateway.route_guard_priority,
        "gateway.route_guard_priority");
  check(running.gateway.max_allowlist_elements != reloaded.gateway.max_allowlist_elements,
        "gateway.max_allowlist_elements");
  check(running.gateway.forward_vm_ports != reloaded.gateway.forward_vm_ports,
        "gateway.forward_vm_ports");
  check(running.gateway.forward_address != reloaded.gateway.forward_address,
        "gateway.forward_address");
  check(running.gateway.forward_ttl_s != reloaded.gateway.forward_ttl_s, "gateway.forward_ttl_s");
  check(running.gateway.upstream_dns != reloaded.gateway.upstream_dns, "gateway.upstream_dns");
  check(running.dns != reloaded.dns, "dns");
  check(running.gateway.dhcp_lease_time_s != reloaded.gateway.dhcp_lease_time_s,
        "gateway.dhcp_lease_time_s");
  check(running.gateway.forward_max_ttl_s != reloaded.gateway.forward_max_ttl_s,
        "gateway.forward_max_ttl_s");
  check(running.host.datapath_type != reloaded.host.datapath_type, "host.datapath_type");
  check(running.host.ovsdb_remote != reloaded.host.ovsdb_remote, "host.ovsdb_remote");
  check(running.host.ovsdb_tls.private_key != reloaded.host.ovsdb_tls.private_key,
        "host.ovsdb_private_key");
  check(running.host.ovsdb_tls.certificate != reloaded.host.ovsdb_tls.certificate,
        "host.ovsdb_certificate");
  check(running.host.ovsdb_tls.ca_certificate != reloaded.host.ovsdb_tls.ca_certificate,
        "host.ovsdb_ca_certificate");
  check(running.host.openvswitch_rundir != reloaded.host.openvswitch_rundir,
        "host.openvswitch_rundir");
  check(running.host.libvirt_uri != reloaded.host.libvirt_uri, "host.libvirt_uri");
  check(running.host.timeouts.probe_interval != reloaded.host.timeouts.probe_interval,
        "host.probe_interval_ms");
  check(running.host.timeouts.request_timeout != reloaded.host.timeouts.request_timeout,
        "host.request_timeout_ms");
  check(running.policy != reloaded.policy, "policy");
  check(running.audit != reloaded.audit, "audit");
  check(running.networks != reloaded.networks, "network");
  return changed;
}

}  // namespace netd
