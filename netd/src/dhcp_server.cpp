#include "netd/daemon/dhcp_server.hpp"

#include <utility>

namespace netd {
namespace {

dhcp::DnsmasqSupervisorOptions SupervisorOptions(const Config& config) {
  dhcp::DnsmasqSupervisorOptions options;
  options.run_dir = config.run_dir;
  options.state_dir = config.state_dir;
  options.lease_time = std::chrono::seconds(config.gateway.dhcp_lease_time_s);
  for (const auto& network : config.networks) {
    bool secure = network.egress == Egress::kAllowlist;
    dhcp::DhcpNetwork served{network.name,    network.bridge,       network.cidr,
                             network.gateway, network.dhcp_first,   network.dhcp_last,
                             secure,          network.dhcp_dynamic, {}};
    // Secure VMs resolve through netd's filtered DNS on their gateway; the others' DNS is not
    // controlled.
    if (secure) {
      served.dns_servers = {network.gateway};
    } else {
      served.dns_servers = config.gateway.upstream_dns;
    }
    options.networks.push_back(std::move(served));
  }
  return options;
}

}  // namespace

DhcpServer::DhcpServer(boost::asio::io_context& io, const Config& config, const dhcp::Ipam& ipam)
    : spawner_(io), clock_(io), supervisor_(SupervisorOptions(config), spawner_, clock_, [&ipam] {
        std::vector<dhcp::Reservation> reservations;
        for (const auto& binding : ipam.List()) {
          reservations.push_back({binding.mac, binding.ip, binding.hostname});
        }
        return reservations;
      }) {}

}  // namespace netd
