#include "netd/daemon/gateway_dns.hpp"

#include <spdlog/spdlog.h>

#include <system_error>

#include "netd/firewall/gateway_firewall.hpp"
#include "netd/firewall/interface_addresses.hpp"

namespace netd {
namespace {

// The options with the external interface's networks as they are now (none if they cannot be
// read, which is logged); a change of them later needs a restart (docs/dns.md).
dns::ResolverOptions ReadResolverOptions(const Config& config) {
  const auto& interface = config.gateway.external_interface;
  std::vector<Ipv4Cidr> external;
  try {
    external = firewall::InterfaceIpv4Networks(interface);
  } catch (const std::system_error& failure) {
    spdlog::warn("dns: cannot read the addresses of {} for the learned-address deny list: {}",
                 interface, failure.what());
  }
  std::string names;
  for (const auto& network : external) names += (names.empty() ? "" : ",") + network.ToString();
  auto options = ResolverOptionsOf(config, external);
  spdlog::info("dns: learned-address deny list of {} ranges; {} networks: {}",
               options.learned_deny.size(), interface, names.empty() ? "none" : names);
  return options;
}

}  // namespace

std::vector<Ipv4Cidr> LearnedDenyRanges(const Config& config,
                                        const std::vector<Ipv4Cidr>& external_networks) {
  auto ranges = dns::AddressDenyList::SpecialPurpose();
  for (const auto& network : config.networks) {
    ranges.push_back(network.cidr);
    // Inside the network's range already; listed so that the list says what it protects.
    ranges.emplace_back(network.gateway, 32);
  }
  ranges.insert(ranges.end(), external_networks.begin(), external_networks.end());
  ranges.insert(ranges.end(), config.dns.learned_deny.begin(), config.dns.learned_deny.end());
  return ranges;
}

dns::ResolverOptions ResolverOptionsOf(const Config& config,
                                       const std::vector<Ipv4Cidr>& external_networks) {
  const auto& section = config.dns;
  dns::ResolverOptions options;
  for (const auto& network : config.networks) {
    if (network.egress == Egress::kAllowlist) options.listen_addresses.push_back(network.gateway);
  }
  options.listen_port = section.listen_port;
  for (const auto& upstream : section.upstream) {
    options.upstream.push_back({upstream.address, upstream.port});
  }
  options.upstream_timeout_ms = section.upstream_timeout_ms;
  options.min_ttl_s = section.min_ttl_s;
  options.max_ttl_s = section.max_ttl_s;
  options.grace_s = section.grace_s;
  options.refuse_with_nxdomain = section.refuse_with_nxdomain;
  options.max_in_flight = section.max_in_flight;
  options.vm_max_in_flight = section.vm_max_in_flight;
  options.vm_queries_per_second = section.vm_queries_per_second;
  options.server = {std::chrono::milliseconds(section.tcp_idle_timeout_ms),
                    section.tcp_max_connections};
  options.cache_entries = section.cache_entries;
  options.learned_deny = LearnedDenyRanges(config, external_networks);
  options.vm_wildcard_names = section.vm_wildcard_names;
  options.vm_wildcard_window_s = section.vm_wildcard_window_s;
  options.local_names = section.local_names;
  return options;
}

const allowlist::AllowlistPolicy& FirewallAddressOpener::policy() const {
  return firewall_.policy();
}

void FirewallAddressOpener::OpenLearned(const allowlist::SecureVm& vm,
                                        const std::vector<const allowlist::AllowlistRule*>& rules,
                                        const std::string& name,
                                        const std::vector<Ipv4Address>& addresses,
                                        std::int64_t lifetime_ms) {
  firewall_.OpenLearned(vm, rules, name, addresses, lifetime_ms);
}

GatewayDns::GatewayDns(boost::asio::io_context& io, const Config& config,
                       firewall::GatewayFirewall& firewall)
    : config_(config), opener_(firewall), resolver_(io, ReadResolverOptions(config), opener_) {}

void GatewayDns::Start() {
  resolver_.Start();
  if (config_.dns.upstream.empty()) {
    spdlog::warn(
        "dns: no upstream servers (dns.upstream, gateway.upstream_dns): allowed names "
        "get SERVFAIL");
  }
}

}  // namespace netd
