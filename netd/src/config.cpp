#include "netd/daemon/config.hpp"

#include <fmt/format.h>
#include <spdlog/common.h>
#include <toml++/toml.h>

#include <algorithm>
#include <bit>
#include <cctype>
#include <charconv>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "netd/allowlist/name_pattern.hpp"
#include "netd/common/host_name.hpp"
#include "netd/firewall/interface_name.hpp"

namespace netd {
namespace {

// A libvirt connection URI: scheme (driver, optionally +transport), "://", the rest.
bool IsLibvirtUri(std::string_view uri) {
  auto scheme = uri.find("://");
  if (scheme == std::string_view::npos || scheme == 0) return false;
  return std::all_of(uri.begin(), uri.begin() + static_cast<std::ptrdiff_t>(scheme), [](char c) {
    return std::islower(static_cast<unsigned char>(c)) || c == '+';
  });
}

// "192.0.2.53" or "192.0.2.53:5353".
std::optional<DnsUpstream> ParseDnsUpstream(std::string_view text) {
  DnsUpstream upstream;
  auto colon = text.find(':');
  auto address = Ipv4Address::Parse(text.substr(0, colon));
  if (!address) return std::nullopt;
  upstream.address = *address;
  if (colon != std::string_view::npos) {
    auto port = text.substr(colon + 1);
    unsigned value = 0;
    auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (error != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535) {
      return std::nullopt;
    }
    upstream.port = static_cast<std::uint16_t>(value);
  }
  return upstream;
}

// Reads one TOML table, remembering which keys were consumed so that unknown keys (usually
// typos) are reported instead of silently ignored.
class TableReader {
 public:
  TableReader(const toml::table& table, std::string path, const std::string& file)
      : table_(table), path_(std::move(path)), file_(file) {}

  [[noreturn]] void Fail(const toml::node* node, std::string_view key,
                         std::string_view message) const {
    const auto& region = node ? node->source() : table_.source();
    throw ConfigError(fmt::format("{}:{}:{}: {}: {}", file_, region.begin.line, region.begin.column,
                                  KeyPath(key), message));
  }

  std::string KeyPath(std::string_view key) const {
    return path_.empty() ? std::string(key) : fmt::format("{}.{}", path_, key);
  }

  const toml::node* Node(std::string_view key) {
    consumed_.insert(std::string(key));
    return table_.get(key);
  }

  std::optional<std::string> String(std::string_view key) {
    const auto* node = Node(key);
    if (!node) return std::nullopt;
    if (!node->is_string())
      Fail(node, key, fmt::format("expected a string, got {}", TypeOf(*node)));
    return node->as_string()->get();
  }

  std::string RequiredString(std::string_view key) {
    auto value = String(key);
    if (!value) Fail(nullptr, key, "missing; this key is required");
    return *value;
  }

  std::optional<std::int64_t> Integer(std::string_view key, std::int64_t min, std::int64_t max) {
    const auto* node = Node(key);
    if (!node) return std::nullopt;
    if (!node->is_integer()) {
      Fail(node, key, fmt::format("expected an integer {}-{}, got {}", min, max, TypeOf(*node)));
    }
    auto value = node->as_integer()->get();
    if (value < min || value > max) {
      Fail(node, key, fmt::format("expected an integer {}-{}, got {}", min, max, value));
    }
    return value;
  }

  std::optional<bool> Bool(std::string_view key) {
    const auto* node = Node(key);
    if (!node) return std::nullopt;
    if (!node->is_boolean()) {
      Fail(node, key, fmt::format("expected true or false, got {}", TypeOf(*node)));
    }
    return node->as_boolean()->get();
  }

  const toml::table* Table(std::string_view key) {
    const auto* node = Node(key);
    if (!node) return nullptr;
    if (!node->is_table()) Fail(node, key, fmt::format("expected a table, got {}", TypeOf(*node)));
    return node->as_table();
  }

  const toml::array* Array(std::string_view key) {
    const auto* node = Node(key);
    if (!node) return nullptr;
    if (!node->is_array()) Fail(node, key, fmt::format("expected an array, got {}", TypeOf(*node)));
    return node->as_array();
  }

  void RejectUnknownKeys() const {
    for (const auto& [key, node] : table_) {
      if (!consumed_.contains(std::string(key.str()))) {
        Fail(&node, key.str(), "unknown key");
      }
    }
  }

  const std::string& file() const { return file_; }

  static std::string_view TypeOf(const toml::node& node) {
    switch (node.type()) {
      case toml::node_type::string:
        return "a string";
      case toml::node_type::integer:
        return "an integer";
      case toml::node_type::floating_point:
        return "a float";
      case toml::node_type::boolean:
        return "a boolean";
      case toml::node_type::table:
        return "a table";
      case toml::node_type::array:
        return "an array";
      default:
        return "a date/time";
    }
  }

 private:
  const toml::table& table_;
  std::string path_;
  const std::string& file_;
  std::set<std::string, std::less<>> consumed_;
};

Ipv4Address ReadAddress(TableReader& reader, std::string_view key) {
  auto text = reader.RequiredString(key);
  auto address = Ipv4Address::Parse(text);
  if (!address) {
    reader.Fail(reader.Node(key), key,
                fmt::format("expected an IPv4 address like 192.168.1.1, got \"{}\"", text));
  }
  return *address;
}

std::string ReadInterfaceName(TableReader& reader, std::string_view key, bool required) {
  auto name = required ? reader.RequiredString(key) : reader.String(key).value_or("");
  if ((required || !name.empty()) && !firewall::IsValidInterfaceName(name)) {
    reader.Fail(reader.Node(key), key,
                fmt::format("expected an interface name of 1-15 characters without '/', ':' or "
                            "spaces, got \"{}\"",
                            name));
  }
  return name;
}

NetworkConfig ReadNetwork(TableReader& reader) {
  NetworkConfig network;
  network.name = reader.RequiredString("name");
  if (!IsValidLabel(network.name)) {
    reader.Fail(reader.Node("name"), "name",
                fmt::format("expected a name of letters, digits and '-' (at most 63), got \"{}\"",
                            network.name));
  }
  network.bridge = ReadInterfaceName(reader, "bridge", true);
  auto vlan = reader.Integer("vlan", 1, 4094);
  if (!vlan) reader.Fail(nullptr, "vlan", "missing; expected an integer 1-4094");
  network.vlan = static_cast<std::uint16_t>(*vlan);

  auto cidr_text = reader.RequiredString("cidr");
  auto cidr = Ipv4Cidr::Parse(cidr_text);
  if (!cidr || cidr->prefix_length() < 8 || cidr->prefix_length() > 30) {
    reader.Fail(reader.Node("cidr"), "cidr",
                fmt::format("expected an IPv4 network like 192.168.128.0/17 with host bits zero "
                            "and a prefix from /8 to /30, got \"{}\"",
                            cidr_text));
  }
  network.cidr = *cidr;
  auto in_network = [&](Ipv4Address address) {
    return network.cidr.Contains(address) && address != network.cidr.first() &&
           address != network.cidr.last();
  };

  network.gateway = ReadAddress(reader, "gateway");
  if (!in_network(network.gateway)) {
    reader.Fail(reader.Node("gateway"), "gateway",
                fmt::format("expected a host address inside {}, got {}", network.cidr.ToString(),
                            network.gateway.ToString()));
  }
  network.dhcp_first = ReadAddress(reader, "dhcp_first");
  network.dhcp_last = ReadAddress(reader, "dhcp_last");
  for (auto [key, address] :
       {std::pair{"dhcp_first", network.dhcp_first}, std::pair{"dhcp_last", network.dhcp_last}}) {
    if (!in_network(address)) {
      reader.Fail(reader.Node(key), key,
                  fmt::format("expected a host address inside {}, got {}", network.cidr.ToString(),
                              address.ToString()));
    }
  }
  if (network.dhcp_first > network.dhcp_last) {
    reader.Fail(reader.Node("dhcp_last"), "dhcp_last",
                fmt::format("expected an address not below dhcp_first ({}), got {}",
                            network.dhcp_first.ToString(), network.dhcp_last.ToString()));
  }
  if (network.gateway >= network.dhcp_first && network.gateway <= network.dhcp_last) {
    reader.Fail(
        reader.Node("dhcp_first"), "dhcp_first",
        fmt::format("the DHCP range {}-{} contains the gateway {}", network.dhcp_first.ToString(),
                    network.dhcp_last.ToString(), network.gateway.ToString()));
  }

  auto egress = reader.String("egress").value_or("allowlist");
  if (egress == "allowlist") {
    network.egress = Egress::kAllowlist;
  } else if (egress == "open") {
    network.egress = Egress::kOpen;
  } else {
    reader.Fail(reader.Node("egress"), "egress",
                fmt::format("expected \"allowlist\" or \"open\", got \"{}\"", egress));
  }
  network.dhcp_dynamic = reader.Bool("dhcp_dynamic").value_or(false);
  if (network.dhcp_dynamic && network.egress == Egress::kAllowlist) {
    reader.Fail(reader.Node("dhcp_dynamic"), "dhcp_dynamic",
                "an allowlisted network serves reservations only; a dynamic pool is for open "
                "networks");
  }
  network.uplink = ReadInterfaceName(reader, "uplink", false);
  auto mode = reader.String("uplink_mode").value_or("vlan-interface");
  auto parsed_mode = ovs::ParseUplinkMode(mode);
  if (!parsed_mode) {
    reader.Fail(reader.Node("uplink_mode"), "uplink_mode",
                fmt::format("expected \"vlan-interface\" or \"trunk\", got \"{}\"", mode));
  }
  network.uplink_mode = *parsed_mode;
  reader.RejectUnknownKeys();
  return network;
}

void ValidateNetworksTogether(const std::vector<NetworkConfig>& networks,
                              const std::vector<const toml::table*>& tables,
                              const std::string& file) {
  for (std::size_t i = 0; i < networks.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      TableReader reader(*tables[i], fmt::format("network[{}]", i), file);
      const auto& a = networks[i];
      const auto& b = networks[j];
      auto clash = [&](std::string_view key, std::string_view what) {
        reader.Fail(
            tables[i]->get(key), key,
            fmt::format("{} is already used by network \"{}\" (network[{}])", what, b.name, j));
      };
      if (a.name == b.name) clash("name", fmt::format("name \"{}\"", a.name));
      if (a.bridge == b.bridge) clash("bridge", fmt::format("bridge {}", a.bridge));
      if (a.vlan == b.vlan) clash("vlan", fmt::format("VLAN {}", a.vlan));
      if (a.cidr.Overlaps(b.cidr)) {
        clash("cidr", fmt::format("{} overlaps {}, which", a.cidr.ToString(), b.cidr.ToString()));
      }
    }
  }
}

std::optional<std::vector<std::uint16_t>> ReadPorts(TableReader& reader, std::string_view key) {
  const auto* array = reader.Array(key);
  if (!array) return std::nullopt;
  std::vector<std::uint16_t> ports;
  for (const auto& element : *array) {
    auto port = element.value<std::int64_t>();
    if (!element.is_integer() || *port < 1 || *port > 65535) {
      reader.Fail(&element, key, "expected each port to be an integer 1-65535");
    }
    ports.push_back(static_cast<std::uint16_t>(*port));
  }
  return ports;
}

std::filesystem::path ReadPath(TableReader& reader, std::string_view key,
                               const std::filesystem::path& fallback) {
  auto text = reader.String(key);
  if (!text) return fallback;
  if (text->empty() || text->front() != '/') {
    reader.Fail(reader.Node(key), key, fmt::format("expected an absolute path, got \"{}\"", *text));
  }
  return *text;
}

Config ReadConfig(const toml::table& root, const std::string& file) {
  Config config;
  TableReader top(root, "", file);

  if (const auto* table = top.Table("netd")) {
    TableReader reader(*table, "netd", file);
    if (const auto* roles = reader.Array("roles")) {
      for (const auto& element : *roles) {
        auto value = element.value<std::string>();
        if (value == "gateway" || value == "host") {
          auto role = *value == "gateway" ? Role::kGateway : Role::kHost;
          if (!config.HasRole(role)) config.roles.push_back(role);
        } else {
          reader.Fail(&element, "roles", "expected each role to be \"gateway\" or \"host\"");
        }
      }
    }
    config.socket = ReadPath(reader, "socket", config.socket);
    config.state_dir = ReadPath(reader, "state_dir", config.state_dir);
    config.run_dir = ReadPath(reader, "run_dir", config.run_dir);
    config.log_level = reader.String("log_level").value_or(config.log_level);
    static const std::set<std::string, std::less<>> kLevels = {"trace", "debug",    "info", "warn",
                                                               "error", "critical", "off"};
    if (!kLevels.contains(config.log_level)) {
      reader.Fail(reader.Node("log_level"), "log_level",
                  fmt::format("expected trace, debug, info, warn, error, critical or off, got "
                              "\"{}\"",
                              config.log_level));
    }
    reader.RejectUnknownKeys();
  }
  if (config.roles.empty()) {
    top.Fail(root.get("netd"), "netd.roles", "missing; expected [\"gateway\"], [\"host\"] or both");
  }

  if (const auto* table = top.Table("api")) {
    TableReader reader(*table, "api", file);
    auto& api = config.api;
    api.admin_group = reader.String("admin_group").value_or(api.admin_group);
    api.service_group = reader.String("service_group").value_or(api.service_group);
    api.max_connections =
        static_cast<std::size_t>(reader.Integer("max_connections", 1, 4096)
                                     .value_or(static_cast<std::int64_t>(api.max_connections)));
    api.max_body_bytes =
        static_cast<std::size_t>(reader.Integer("max_body_bytes", 1024, 1 << 24)
                                     .value_or(static_cast<std::int64_t>(api.max_body_bytes)));
    api.max_header_bytes =
        static_cast<std::size_t>(reader.Integer("max_header_bytes", 1024, 1 << 20)
                                     .value_or(static_cast<std::int64_t>(api.max_header_bytes)));
    api.request_timeout = std::chrono::milliseconds(
        reader.Integer("request_timeout_ms", 100, 600'000).value_or(api.request_timeout.count()));
    reader.RejectUnknownKeys();
  }

  if (const auto* table = top.Table("gateway")) {
    TableReader reader(*table, "gateway", file);
    config.gateway.external_interface = ReadInterfaceName(reader, "external_interface", true);
    if (auto mode = reader.String("table_mode")) {
      static const std::map<std::string, TableMode, std::less<>> kModes = {
          {"auto", TableMode::kAuto}, {"owner", TableMode::kOwner}, {"guard", TableMode::kGuard}};
      auto found = kModes.find(*mode);
      if (found == kModes.end()) {
        reader.Fail(reader.Node("table_mode"), "table_mode",
                    fmt::format("expected \"auto\", \"owner\" or \"guard\", got \"{}\"", *mode));
      }
      config.gateway.table_mode = found->second;
    }
    if (auto mark = reader.Integer("route_mark", 1, 0xffffffff)) {
      if (std::popcount(static_cast<std::uint32_t>(*mark)) != 1) {
        reader.Fail(reader.Node("route_mark"), "route_mark",
                    fmt::format("expected a single bit, like 0x20000000, got {:#x}", *mark));
      }
      config.gateway.route_mark = static_cast<std::uint32_t>(*mark);
    }
    // Three consecutive priorities after `local` (0) and before `main` (32766).
    config.gateway.route_guard_priority =
        static_cast<std::uint32_t>(reader.Integer("route_guard_priority", 1, 32763)
                                       .value_or(config.gateway.route_guard_priority));
    if (auto ports = reader.String("forward_ports")) {
      auto range = PortRange::Parse(*ports);
      if (!range) {
        reader.Fail(reader.Node("forward_ports"), "forward_ports",
                    fmt::format("expected a port range like \"6000-6100\", got \"{}\"", *ports));
      }
      config.gateway.forward_ports = *range;
    }
    if (auto ports = ReadPorts(reader, "backend_tcp_ports")) {
      config.gateway.backend_tcp_ports = *ports;
    }
    if (auto ports = ReadPorts(reader, "forward_vm_ports")) {
      if (ports->empty()) {
        reader.Fail(reader.Node("forward_vm_ports"), "forward_vm_ports",
                    "expected at least one port (22 is the default)");
      }
      config.gateway.forward_vm_ports = *ports;
    }
    if (const auto* servers = reader.Array("upstream_dns")) {
      for (const auto& element : *servers) {
        auto address =
            element.is_string() ? Ipv4Address::Parse(*element.value<std::string>()) : std::nullopt;
        if (!address) reader.Fail(&element, "upstream_dns", "expected IPv4 addresses as strings");
        config.gateway.upstream_dns.push_back(*address);
      }
    }
    config.gateway.dhcp_lease_time_s = reader.Integer("dhcp_lease_time_s", 120, 7 * 86400)
                                           .value_or(config.gateway.dhcp_lease_time_s);
    if (reader.String("forward_address")) {
      config.gateway.forward_address = ReadAddress(reader, "forward_address");
    }
    config.gateway.forward_ttl_s =
        reader.Integer("forward_ttl_s", 1, 7 * 86400).value_or(config.gateway.forward_ttl_s);
    config.gateway.forward_max_ttl_s = reader.Integer("forward_max_ttl_s", 1, 30 * 86400)
                                           .value_or(config.gateway.forward_max_ttl_s);
    if (config.gateway.forward_ttl_s > config.gateway.forward_max_ttl_s) {
      reader.Fail(
          reader.Node("forward_ttl_s"), "forward_ttl_s",
          fmt::format("expected at most forward_max_ttl_s ({})", config.gateway.forward_max_ttl_s));
    }
    config.gateway.nflog_group = static_cast<std::uint16_t>(
        reader.Integer("nflog_group", 0, 65535).value_or(config.gateway.nflog_group));
    config.gateway.max_allowlist_elements = static_cast<std::size_t>(
        reader.Integer("max_allowlist_elements", 1, 10'000'000)
            .value_or(static_cast<std::int64_t>(config.gateway.max_allowlist_elements)));
    reader.RejectUnknownKeys();
  } else if (config.HasRole(Role::kGateway)) {
    top.Fail(nullptr, "gateway", "missing; the gateway role needs [gateway] external_interface");
  }

  if (const auto* table = top.Table("dns")) {
    TableReader reader(*table, "dns", file);
    auto& dns = config.dns;
    if (const auto* servers = reader.Array("upstream")) {
      for (const auto& element : *servers) {
        std::optional<DnsUpstream> upstream;
        if (element.is_string()) upstream = ParseDnsUpstream(*element.value<std::string>());
        if (!upstream) {
          reader.Fail(&element, "upstream",
                      "expected IPv4 addresses as strings, with an optional port "
                      "(\"192.0.2.53\" or \"192.0.2.53:5353\")");
        }
        dns.upstream.push_back(*upstream);
      }
    }
    dns.listen_port = static_cast<std::uint16_t>(
        reader.Integer("listen_port", 1, 65535).value_or(dns.listen_port));
    dns.upstream_timeout_ms =
        reader.Integer("upstream_timeout_ms", 100, 60'000).value_or(dns.upstream_timeout_ms);
    dns.min_ttl_s = reader.Integer("min_ttl_s", 0, 86400).value_or(dns.min_ttl_s);
    dns.max_ttl_s = reader.Integer("max_ttl_s", 1, 7 * 86400).value_or(dns.max_ttl_s);
    if (dns.min_ttl_s > dns.max_ttl_s) {
      reader.Fail(reader.Node("min_ttl_s"), "min_ttl_s",
                  fmt::format("expected at most max_ttl_s ({})", dns.max_ttl_s));
    }
    dns.grace_s = reader.Integer("grace_s", 0, 86400).value_or(dns.grace_s);
    if (auto refuse = reader.String("refuse_with")) {
      if (*refuse != "refused" && *refuse != "nxdomain") {
        reader.Fail(reader.Node("refuse_with"), "refuse_with",
                    fmt::format("expected \"refused\" or \"nxdomain\", got \"{}\"", *refuse));
      }
      dns.refuse_with_nxdomain = *refuse == "nxdomain";
    }
    dns.max_in_flight =
        static_cast<std::size_t>(reader.Integer("max_in_flight", 1, 1'000'000)
                                     .value_or(static_cast<std::int64_t>(dns.max_in_flight)));
    dns.vm_queries_per_second =
        reader.Integer("vm_queries_per_second", 1, 1'000'000).value_or(dns.vm_queries_per_second);
    dns.tcp_idle_timeout_ms =
        reader.Integer("tcp_idle_timeout_ms", 100, 600'000).value_or(dns.tcp_idle_timeout_ms);
    dns.tcp_max_connections =
        static_cast<std::size_t>(reader.Integer("tcp_max_connections", 1, 65536)
                                     .value_or(static_cast<std::int64_t>(dns.tcp_max_connections)));
    dns.cache_entries =
        static_cast<std::size_t>(reader.Integer("cache_entries", 0, 10'000'000)
                                     .value_or(static_cast<std::int64_t>(dns.cache_entries)));
    if (const auto* ranges = reader.Array("learned_deny")) {
      for (const auto& element : *ranges) {
        std::optional<Ipv4Cidr> range;
        if (auto text = element.value<std::string>()) {
          range = text->find('/') == std::string::npos
                      ? (Ipv4Address::Parse(*text)
                             ? std::optional<Ipv4Cidr>(Ipv4Cidr(*Ipv4Address::Parse(*text), 32))
                             : std::nullopt)
                      : Ipv4Cidr::Parse(*text);
        }
        if (!range) {
          reader.Fail(&element, "learned_deny",
                      "expected IPv4 networks or addresses as strings (\"10.0.0.0/8\", "
                      "\"192.0.2.7\") with the host bits zero");
        }
        dns.learned_deny.push_back(*range);
      }
    }
    dns.vm_wildcard_names =
        static_cast<std::size_t>(reader.Integer("vm_wildcard_names", 1, 1'000'000)
                                     .value_or(static_cast<std::int64_t>(dns.vm_wildcard_names)));
    dns.vm_wildcard_window_s =
        reader.Integer("vm_wildcard_window_s", 1, 86400).value_or(dns.vm_wildcard_window_s);
    if (const auto* names = reader.Table("local_names")) {
      for (const auto& [key, value] : *names) {
        auto name = allowlist::CanonicalName(key.str());
        auto address =
            value.is_string() ? Ipv4Address::Parse(*value.value<std::string>()) : std::nullopt;
        if (!IsValidHostname(name)) {
          reader.Fail(&value, "local_names", fmt::format("\"{}\" is not a host name", key.str()));
        }
        if (!address) {
          reader.Fail(&value, fmt::format("local_names.\"{}\"", key.str()),
                      "expected an IPv4 address as a string");
        }
        dns.local_names[name] = *address;
      }
    }
    reader.RejectUnknownKeys();
  }
  if (config.dns.upstream.empty()) {
    for (auto address : config.gateway.upstream_dns) config.dns.upstream.push_back({address, 53});
  }

  if (const auto* table = top.Table("host")) {
    TableReader reader(*table, "host", file);
    auto& host = config.host;
    host.datapath_type = reader.String("datapath_type").value_or(host.datapath_type);
    if (!ovs::IsValidDatapathType(host.datapath_type)) {
      reader.Fail(reader.Node("datapath_type"), "datapath_type",
                  fmt::format("expected \"system\" or \"netdev\", got \"{}\"", host.datapath_type));
    }
    if (auto remote = reader.String("ovsdb_remote")) {
      try {
        host.ovsdb_remote = ovs::ParseOvsdbRemote(*remote);
      } catch (const std::invalid_argument& error) {
        reader.Fail(reader.Node("ovsdb_remote"), "ovsdb_remote", error.what());
      }
    }
    host.openvswitch_rundir = ReadPath(reader, "openvswitch_rundir", host.openvswitch_rundir);
    host.libvirt_uri = reader.String("libvirt_uri").value_or(host.libvirt_uri);
    if (!host.libvirt_uri.empty() && !IsLibvirtUri(host.libvirt_uri)) {
      reader.Fail(reader.Node("libvirt_uri"), "libvirt_uri",
                  fmt::format("expected a libvirt URI such as \"qemu:///system\", or \"\" for a "
                              "host without libvirt; got \"{}\"",
                              host.libvirt_uri));
    }
    bool ssl = host.ovsdb_remote.kind == ovs::Remote::Kind::kSsl;
    for (auto [key, file] : {std::pair{"ovsdb_private_key", &host.ovsdb_tls.private_key},
                             std::pair{"ovsdb_certificate", &host.ovsdb_tls.certificate},
                             std::pair{"ovsdb_ca_certificate", &host.ovsdb_tls.ca_certificate}}) {
      *file = ReadPath(reader, key, {});
      if (ssl && file->empty()) {
        reader.Fail(nullptr, key,
                    "missing; an ssl: ovsdb_remote needs ovsdb_private_key, ovsdb_certificate "
                    "and ovsdb_ca_certificate");
      }
      if (!ssl && !file->empty()) {
        reader.Fail(reader.Node(key), key,
                    fmt::format("only for an ssl: ovsdb_remote, and \"{}\" is not one",
                                ovs::ToString(host.ovsdb_remote)));
      }
    }
    reader.RejectUnknownKeys();
  }

  std::vector<const toml::table*> network_tables;
  if (const auto* networks = top.Array("network")) {
    for (std::size_t i = 0; i < networks->size(); ++i) {
      const auto& element = *networks->get(i);
      if (!element.is_table()) {
        top.Fail(&element, fmt::format("network[{}]", i), "expected a table ([[network]])");
      }
      TableReader reader(*element.as_table(), fmt::format("network[{}]", i), file);
      config.networks.push_back(ReadNetwork(reader));
      network_tables.push_back(element.as_table());
    }
  }
  if (config.networks.empty()) {
    top.Fail(nullptr, "network", "missing; expected at least one [[network]] table");
  }
  ValidateNetworksTogether(config.networks, network_tables, file);
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

std::string_view ToString(TableMode mode) {
  switch (mode) {
    case TableMode::kAuto:
      return "auto";
    case TableMode::kOwner:
      return "owner";
    case TableMode::kGuard:
      return "guard";
  }
  return "auto";
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
  check(running.networks != reloaded.networks, "network");
  return changed;
}

}  // namespace netd
