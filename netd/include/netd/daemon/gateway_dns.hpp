#pragma once

#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "netd/common/address.hpp"
#include "netd/daemon/config.hpp"
#include "netd/dns/address_opener.hpp"
#include "netd/dns/filtered_resolver.hpp"

namespace netd {

namespace firewall {
class GatewayFirewall;
}  // namespace firewall

// What learned addresses may not be unless a rule of the VM names them literally
// (docs/dns.md): the special-purpose ranges, every network of the enclave and its gateway
// address, the networks of the gateway's external interface, and `dns.learned_deny`.
std::vector<Ipv4Cidr> LearnedDenyRanges(const Config& config,
                                        const std::vector<Ipv4Cidr>& external_networks);

// The resolver's options from the configuration: it listens on the gateway address of every
// allowlisted network, and its deny list holds `external_networks` besides the configured ranges.
dns::ResolverOptions ResolverOptionsOf(const Config& config,
                                       const std::vector<Ipv4Cidr>& external_networks);

// The gateway firewall as the resolver's way to open what answers name.
class FirewallAddressOpener final : public dns::AddressOpener {
 public:
  explicit FirewallAddressOpener(firewall::GatewayFirewall& firewall) : firewall_(firewall) {}
  const allowlist::AllowlistPolicy& policy() const override;
  void OpenLearned(const allowlist::SecureVm& vm,
                   const std::vector<const allowlist::AllowlistRule*>& rules,
                   const std::string& name, const std::vector<Ipv4Address>& addresses,
                   std::int64_t lifetime_ms) override;

 private:
  firewall::GatewayFirewall& firewall_;
};

// The secure networks' filtered resolver as the gateway role runs it (docs/dns.md): configured
// from `[dns]`, its deny list holding the external interface's networks as they are at
// construction, opening addresses through the gateway firewall.
class GatewayDns {
 public:
  GatewayDns(boost::asio::io_context& io, const Config& config,
             firewall::GatewayFirewall& firewall);

  // Listens on the gateway address of every allowlisted network; throws if it cannot.
  void Start();
  void Stop() { resolver_.Stop(); }
  const dns::FilteredResolver& resolver() const { return resolver_; }

 private:
  const Config& config_;
  FirewallAddressOpener opener_;
  dns::FilteredResolver resolver_;
};

}  // namespace netd
