#include <fmt/format.h>

#include "netd/common/host_name.hpp"
#include "sections.hpp"

namespace netd::config_reading {
namespace {

std::string ReadName(TableReader& reader) {
  auto name = reader.RequiredString("name");
  if (!IsValidLabel(name)) {
    reader.Fail(
        reader.Node("name"), "name",
        fmt::format("expected a name of letters, digits and '-' (at most 63), got \"{}\"", name));
  }
  return name;
}

std::uint16_t ReadVlan(TableReader& reader) {
  auto vlan = reader.Integer("vlan", 1, 4094);
  if (!vlan) reader.Fail(nullptr, "vlan", "missing; expected an integer 1-4094");
  return static_cast<std::uint16_t>(*vlan);
}

Ipv4Cidr ReadCidr(TableReader& reader) {
  auto text = reader.RequiredString("cidr");
  auto cidr = Ipv4Cidr::Parse(text);
  if (!cidr || cidr->prefix_length() < 8 || cidr->prefix_length() > 30) {
    reader.Fail(reader.Node("cidr"), "cidr",
                fmt::format("expected an IPv4 network like 192.168.128.0/17 with host bits zero "
                            "and a prefix from /8 to /30, got \"{}\"",
                            text));
  }
  return *cidr;
}

// The gateway and the DHCP range: host addresses of the network's cidr, the gateway outside
// the range.
void ReadAddresses(TableReader& reader, NetworkConfig& network) {
  auto fail_outside = [&](std::string_view key, Ipv4Address address) {
    if (network.cidr.Contains(address) && address != network.cidr.first() &&
        address != network.cidr.last()) {
      return;
    }
    reader.Fail(reader.Node(key), key,
                fmt::format("expected a host address inside {}, got {}", network.cidr.ToString(),
                            address.ToString()));
  };
  network.gateway = ReadAddress(reader, "gateway");
  fail_outside("gateway", network.gateway);
  network.dhcp_first = ReadAddress(reader, "dhcp_first");
  network.dhcp_last = ReadAddress(reader, "dhcp_last");
  fail_outside("dhcp_first", network.dhcp_first);
  fail_outside("dhcp_last", network.dhcp_last);
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
}

Egress ReadEgress(TableReader& reader) {
  auto egress = reader.String("egress").value_or("allowlist");
  if (egress == "allowlist") return Egress::kAllowlist;
  if (egress == "open") return Egress::kOpen;
  reader.Fail(reader.Node("egress"), "egress",
              fmt::format("expected \"allowlist\" or \"open\", got \"{}\"", egress));
}

ovs::UplinkMode ReadUplinkMode(TableReader& reader) {
  auto mode = reader.String("uplink_mode").value_or("vlan-interface");
  auto parsed = ovs::ParseUplinkMode(mode);
  if (!parsed) {
    reader.Fail(reader.Node("uplink_mode"), "uplink_mode",
                fmt::format("expected \"vlan-interface\" or \"trunk\", got \"{}\"", mode));
  }
  return *parsed;
}

NetworkConfig ReadNetwork(TableReader& reader) {
  NetworkConfig network;
  network.name = ReadName(reader);
  network.bridge = ReadInterfaceName(reader, "bridge", true);
  network.vlan = ReadVlan(reader);
  network.cidr = ReadCidr(reader);
  ReadAddresses(reader, network);
  network.egress = ReadEgress(reader);
  network.dhcp_dynamic = reader.Bool("dhcp_dynamic").value_or(false);
  if (network.dhcp_dynamic && network.egress == Egress::kAllowlist) {
    reader.Fail(reader.Node("dhcp_dynamic"), "dhcp_dynamic",
                "an allowlisted network serves reservations only; a dynamic pool is for open "
                "networks");
  }
  network.uplink = ReadInterfaceName(reader, "uplink", false);
  network.uplink_mode = ReadUplinkMode(reader);
  reader.RejectUnknownKeys();
  return network;
}

// Each network against every earlier one; the error is on the later one and names the other.
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

}  // namespace

std::vector<NetworkConfig> ReadNetworkSections(TableReader& top) {
  std::vector<NetworkConfig> networks;
  std::vector<const toml::table*> tables;
  if (const auto* array = top.Array("network")) {
    for (std::size_t i = 0; i < array->size(); ++i) {
      const auto& element = *array->get(i);
      auto path = fmt::format("network[{}]", i);
      if (!element.is_table()) top.Fail(&element, path, "expected a table ([[network]])");
      TableReader reader(*element.as_table(), path, top.file());
      networks.push_back(ReadNetwork(reader));
      tables.push_back(element.as_table());
    }
  }
  if (networks.empty()) {
    top.Fail(nullptr, "network", "missing; expected at least one [[network]] table");
  }
  ValidateNetworksTogether(networks, tables, top.file());
  return networks;
}

}  // namespace netd::config_reading
