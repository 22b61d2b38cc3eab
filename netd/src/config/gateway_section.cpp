#include <fmt/format.h>

#include <bit>
#include <map>

#include "sections.hpp"

namespace netd::config_reading {
namespace {

std::optional<firewall::TableMode> ReadTableMode(TableReader& reader) {
  using firewall::TableMode;
  auto mode = reader.String("table_mode");
  if (!mode) return std::nullopt;
  static const std::map<std::string, TableMode, std::less<>> kModes = {
      {"auto", TableMode::kAuto}, {"owner", TableMode::kOwner}, {"guard", TableMode::kGuard}};
  auto found = kModes.find(*mode);
  if (found == kModes.end()) {
    reader.Fail(reader.Node("table_mode"), "table_mode",
                fmt::format("expected \"auto\", \"owner\" or \"guard\", got \"{}\"", *mode));
  }
  return found->second;
}

std::optional<std::uint32_t> ReadRouteMark(TableReader& reader) {
  auto mark = reader.Integer("route_mark", 1, 0xffffffff);
  if (!mark) return std::nullopt;
  if (std::popcount(static_cast<std::uint32_t>(*mark)) != 1) {
    reader.Fail(reader.Node("route_mark"), "route_mark",
                fmt::format("expected a single bit, like 0x20000000, got {:#x}", *mark));
  }
  return static_cast<std::uint32_t>(*mark);
}

std::optional<PortRange> ReadForwardPorts(TableReader& reader) {
  auto ports = reader.String("forward_ports");
  if (!ports) return std::nullopt;
  auto range = PortRange::Parse(*ports);
  if (!range) {
    reader.Fail(reader.Node("forward_ports"), "forward_ports",
                fmt::format("expected a port range like \"6000-6100\", got \"{}\"", *ports));
  }
  return range;
}

std::optional<std::vector<std::uint16_t>> ReadPorts(TableReader& reader, std::string_view key) {
  return reader.ArrayOf(
      key,
      [](const toml::node& element) -> std::optional<std::uint16_t> {
        auto port = element.value<std::int64_t>();
        if (!element.is_integer() || *port < 1 || *port > 65535) return std::nullopt;
        return static_cast<std::uint16_t>(*port);
      },
      "expected each port to be an integer 1-65535");
}

std::optional<std::vector<std::uint16_t>> ReadForwardVmPorts(TableReader& reader) {
  auto ports = ReadPorts(reader, "forward_vm_ports");
  if (ports && ports->empty()) {
    reader.Fail(reader.Node("forward_vm_ports"), "forward_vm_ports",
                "expected at least one port (22 is the default)");
  }
  return ports;
}

std::vector<Ipv4Address> ReadUpstreamDns(TableReader& reader) {
  auto servers = reader.ArrayOf(
      "upstream_dns",
      [](const toml::node& element) {
        return element.is_string() ? Ipv4Address::Parse(*element.value<std::string>())
                                   : std::nullopt;
      },
      "expected IPv4 addresses as strings");
  return servers.value_or(std::vector<Ipv4Address>{});
}

}  // namespace

GatewayConfig ReadGatewaySection(TableReader& reader) {
  GatewayConfig gateway;
  gateway.external_interface = ReadInterfaceName(reader, "external_interface", true);
  gateway.table_mode = ReadTableMode(reader).value_or(gateway.table_mode);
  gateway.route_mark = ReadRouteMark(reader).value_or(gateway.route_mark);
  // Three consecutive priorities after `local` (0) and before `main` (32766).
  gateway.route_guard_priority =
      reader.IntegerOr("route_guard_priority", 1, 32763, gateway.route_guard_priority);
  gateway.forward_ports = ReadForwardPorts(reader).value_or(gateway.forward_ports);
  gateway.backend_tcp_ports =
      ReadPorts(reader, "backend_tcp_ports").value_or(gateway.backend_tcp_ports);
  gateway.forward_vm_ports = ReadForwardVmPorts(reader).value_or(gateway.forward_vm_ports);
  gateway.upstream_dns = ReadUpstreamDns(reader);
  gateway.dhcp_lease_time_s =
      reader.IntegerOr("dhcp_lease_time_s", 120, 7 * 86400, gateway.dhcp_lease_time_s);
  if (reader.String("forward_address")) {
    gateway.forward_address = ReadAddress(reader, "forward_address");
  }
  gateway.forward_ttl_s = reader.IntegerOr("forward_ttl_s", 1, 7 * 86400, gateway.forward_ttl_s);
  gateway.forward_max_ttl_s =
      reader.IntegerOr("forward_max_ttl_s", 1, 30 * 86400, gateway.forward_max_ttl_s);
  if (gateway.forward_ttl_s > gateway.forward_max_ttl_s) {
    reader.Fail(reader.Node("forward_ttl_s"), "forward_ttl_s",
                fmt::format("expected at most forward_max_ttl_s ({})", gateway.forward_max_ttl_s));
  }
  gateway.nflog_group = reader.IntegerOr("nflog_group", 0, 65535, gateway.nflog_group);
  gateway.max_allowlist_elements =
      reader.IntegerOr("max_allowlist_elements", 1, 10'000'000, gateway.max_allowlist_elements);
  reader.RejectUnknownKeys();
  return gateway;
}

}  // namespace netd::config_reading
