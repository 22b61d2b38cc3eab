#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "netd/common/address.hpp"

namespace netd::dhcp {

// One network dnsmasq serves, as its configuration sees it.
struct DhcpNetwork {
  std::string name;       // also the dnsmasq tag of its clients
  std::string interface;  // the gateway's interface on it
  Ipv4Cidr cidr;
  Ipv4Address gateway;
  Ipv4Address range_first;
  Ipv4Address range_last;
  // Only VMs with a reservation get a lease (the secure network); otherwise the range is also
  // a dynamic pool when `dynamic_pool` is set.
  bool known_only = true;
  bool dynamic_pool = false;
  std::vector<Ipv4Address> dns_servers;  // DHCP option 6
};

struct DnsmasqSettings {
  std::vector<DhcpNetwork> networks;
  std::filesystem::path hosts_file;
  std::filesystem::path lease_file;
  // Written by dnsmasq as root before it drops privileges; netd finds a dnsmasq left behind
  // by a killed netd through it.
  std::filesystem::path pid_file;
  std::chrono::seconds lease_time{3600};
  // dnsmasq drops to this user and group once its sockets and files are open.
  std::string user = "dnsmasq";
  std::string group = "nogroup";
};

// dnsmasq.conf for DHCP only (port=0: never DNS), bound to the networks' interfaces only.
std::string RenderDnsmasqConfig(const DnsmasqSettings& settings);

// A reservation: the line `mac,ip[,hostname]` of dnsmasq's dhcp-hostsfile.
struct Reservation {
  MacAddress mac;
  Ipv4Address ip;
  std::optional<std::string> hostname;
};
std::string RenderHostsFile(const std::vector<Reservation>& reservations);

// Writes `text` to a temporary file beside `path`, syncs it and renames it over `path`, so a
// reader sees the old content or the new one, never a part.
void WriteFileAtomically(const std::filesystem::path& path, const std::string& text);

}  // namespace netd::dhcp
