#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "netd/common/address.hpp"
#include "netd/common/port_range.hpp"
#include "netd/firewall/packet_filter.hpp"
#include "netd/ovs/remote.hpp"
#include "netd/ovs/uplink.hpp"

namespace netd {

enum class Role { kGateway, kHost };
std::string_view ToString(Role role);

// What a network lets its VMs reach outside: only allowlisted destinations (the secure
// network) or anything, masqueraded (service, datain).
enum class Egress { kAllowlist, kOpen };
std::string_view ToString(Egress egress);

struct NetworkConfig {
  std::string name;
  std::string bridge;
  std::uint16_t vlan = 0;
  Ipv4Cidr cidr;
  Ipv4Address gateway;
  Ipv4Address dhcp_first;
  Ipv4Address dhcp_last;
  Egress egress = Egress::kAllowlist;
  bool dhcp_dynamic = false;  // open networks: unknown MACs get leases from the range too
  std::string uplink;
  ovs::UplinkMode uplink_mode = ovs::UplinkMode::kVlanInterface;

  friend bool operator==(const NetworkConfig&, const NetworkConfig&) = default;
};

struct ApiConfig {
  std::string admin_group = "netd-admin";
  std::string service_group = "netd";
  std::size_t max_connections = 64;
  std::size_t max_body_bytes = 1024 * 1024;
  std::size_t max_header_bytes = 8 * 1024;
  std::chrono::milliseconds request_timeout{10'000};
};

struct GatewayConfig {
  std::string external_interface;
  firewall::TableMode table_mode = firewall::TableMode::kAuto;
  // The packet mark bit the table sets on what may be routed from or into a VM network, and
  // the priority of the policy-routing rules that drop VM-network traffic without it.
  std::uint32_t route_mark = 0x20000000;
  std::uint32_t route_guard_priority = 100;
  PortRange forward_ports{6000, 6100};
  std::vector<std::uint16_t> forward_vm_ports{22};  // what a forward may reach in a VM
  std::optional<Ipv4Address> forward_address;       // the listen address clients are told
  std::int64_t forward_ttl_s = 3600;                // a forward's life when the caller gives none
  std::int64_t forward_max_ttl_s = 86400;
  std::vector<Ipv4Address> upstream_dns;  // DHCP's DNS servers for open networks
  std::int64_t dhcp_lease_time_s = 3600;
  // TCP ports of the backend's services (REST, proxy) that VMs may reach on their gateway.
  std::vector<std::uint16_t> backend_tcp_ports;
  std::uint16_t nflog_group = 1;  // where denied secure egress is logged
  std::size_t max_allowlist_elements = 1'000'000;
};

// An upstream resolver of the filtered DNS.
struct DnsUpstream {
  Ipv4Address address;
  std::uint16_t port = 53;
  friend bool operator==(const DnsUpstream&, const DnsUpstream&) = default;
};

// The filtered DNS on the secure networks' gateway addresses (docs/dns.md).
struct DnsConfig {
  std::vector<DnsUpstream> upstream;  // empty: gateway.upstream_dns on port 53
  std::uint16_t listen_port = 53;
  std::int64_t upstream_timeout_ms = 2000;  // an allowed query gets SERVFAIL after this
  std::int64_t min_ttl_s = 30;              // how long an answer opens its addresses:
  std::int64_t max_ttl_s = 3600;            // clamp(TTL, min, max) + grace
  std::int64_t grace_s = 30;
  bool refuse_with_nxdomain = false;  // what a name that is not allowed gets; REFUSED by default
  std::size_t max_in_flight = 1024;   // queries waiting for upstream, all VMs together
  std::size_t vm_max_in_flight = 64;  // and of one VM
  std::int64_t vm_queries_per_second = 500;  // per VM, with bursts of twice that
  std::int64_t tcp_idle_timeout_ms = 10'000;
  std::size_t tcp_max_connections = 256;
  std::size_t cache_entries = 10'000;
  // Learned addresses netd does not open, besides those it always refuses (docs/dns.md).
  std::vector<Ipv4Cidr> learned_deny;
  // Distinct names one VM may send upstream under wildcard rules per window.
  std::size_t vm_wildcard_names = 60;
  std::int64_t vm_wildcard_window_s = 60;
  // Names the backend answers itself (lower case), e.g. its own services.
  std::map<std::string, Ipv4Address> local_names;
  friend bool operator==(const DnsConfig&, const DnsConfig&) = default;
};

// How long netd waits on a peer it keeps a connection to (ovsdb-server, ovs-vswitchd) before
// giving the connection up and connecting again (docs/host.md, "Bounded requests").
struct PeerTimeouts {
  // Nothing received for this long: an echo request; nothing for as long again: given up.
  std::chrono::milliseconds probe_interval{5000};
  // A request (a transaction, a barrier) unanswered for this long: given up.
  std::chrono::milliseconds request_timeout{30000};
  friend bool operator==(const PeerTimeouts&, const PeerTimeouts&) = default;
};

struct HostConfig {
  std::string datapath_type = "system";
  // ovsdb-server: the system's unix socket in production, a private one in the demo, tcp: or
  // ssl: where the operator gave ovsdb-server such a remote.
  ovs::Remote ovsdb_remote = ovs::Remote::Unix("/run/openvswitch/db.sock");
  ovs::TlsFiles ovsdb_tls;  // set exactly when ovsdb_remote is ssl:
  // ovs-vswitchd's run directory, where it opens each bridge's OpenFlow management socket
  // (<bridge>.mgmt).
  std::filesystem::path openvswitch_rundir = "/run/openvswitch";
  // libvirt, whose networks netd defines and whose domain events it follows; empty: a host
  // without libvirt (VM ports are then known from OVSDB alone).
  std::string libvirt_uri = "qemu:///system";
  // The switch's ovsdb-server and ovs-vswitchd.
  PeerTimeouts timeouts;
};

// The policy database (docs/policy.md): where the gateway publishes its bindings and groups,
// and where hosts follow them.
struct PolicyConfig {
  // The members of its cluster (or its one server): for the gateway the remotes that take its
  // writes, for a host those that let it read.
  std::vector<ovs::Remote> remotes = {};
  ovs::TlsFiles tls = {};  // set exactly when a remote is ssl:
  // Gateway: ovsdb-server's passive remotes for the hosts, kept as read-only Connection rows
  // ("pssl:6642").
  std::vector<std::string> host_listeners = {};
  PeerTimeouts timeouts = {};
  friend bool operator==(const PolicyConfig&, const PolicyConfig&) = default;
};

// The audit chain's anchors (docs/api.md, "Anchors").
struct AuditConfig {
  // Where the chain's head is appended as it grows; empty: <state_dir>/audit-anchors.
  std::filesystem::path anchor_file = {};
  // The longest a new record waits for its anchor.
  std::chrono::seconds anchor_interval{10};
  friend bool operator==(const AuditConfig&, const AuditConfig&) = default;
};

struct Config {
  std::filesystem::path source;  // the file it was read from; empty for built-in text
  std::vector<Role> roles;
  std::filesystem::path socket = "/run/netd/netd.sock";
  std::filesystem::path state_dir = "/var/lib/netd";
  std::filesystem::path run_dir = "/run/netd";
  std::string log_level = "info";
  ApiConfig api;
  AuditConfig audit;
  GatewayConfig gateway;
  DnsConfig dns;
  HostConfig host;
  std::optional<PolicyConfig> policy;  // none: no policy database
  std::vector<NetworkConfig> networks;

  bool HasRole(Role role) const;
  const NetworkConfig* FindNetwork(std::string_view name) const;
};

// A configuration error: `what()` reads "file:line:column: key: what was expected".
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Parses and validates in full; throws ConfigError naming the first problem found.
Config LoadConfigFile(const std::filesystem::path& path);
Config ParseConfig(std::string_view text, const std::string& source_name);

// The complete single-server configuration used by the demo: both roles, the three
// networks of the enclave, the default socket.
std::string DemoConfigText();

// Which differences between two valid configurations a SIGHUP cannot apply.
std::vector<std::string> SettingsNeedingRestart(const Config& running, const Config& reloaded);

}  // namespace netd
