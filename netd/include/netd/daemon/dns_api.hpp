#pragma once

#include <span>

#include "netd/daemon/capability.hpp"
#include "netd/daemon/vm_api.hpp"

namespace netd {

namespace dns {
class FilteredResolver;
}  // namespace dns
namespace firewall {
class GatewayFirewall;
}  // namespace firewall

// The filtered DNS as the control API serves it: its decisions (/v1/dns/log), its counters,
// and the destinations each VM's answers opened (shown with the VM).
class DnsApi final : public Capability, public BindingObserver {
 public:
  DnsApi(const dns::FilteredResolver& resolver, const firewall::GatewayFirewall& firewall)
      : resolver_(resolver), firewall_(firewall) {}

  static std::span<const RouteOf<DnsApi>> Routes();
  void Report(StatusReport& report) const override;
  void Describe(const dhcp::VmBinding& binding, nlohmann::json& body) const override;

 private:
  ApiResponse DnsLog(const ApiCall& call);

  const dns::FilteredResolver& resolver_;
  const firewall::GatewayFirewall& firewall_;
};

}  // namespace netd
