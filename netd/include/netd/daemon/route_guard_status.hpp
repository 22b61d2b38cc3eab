#pragma once

#include "netd/daemon/capability.hpp"
#include "netd/firewall/forwarding_guard.hpp"

namespace netd {

// The route guard in the status (inside the firewall's section) and in /metrics: its rules,
// the forwarding sysctls it keeps, its repairs.
class RouteGuardStatus final : public Capability {
 public:
  explicit RouteGuardStatus(const firewall::ForwardingGuard& guard) : guard_(guard) {}
  void Report(StatusReport& report) const override;

 private:
  const firewall::ForwardingGuard& guard_;
};

}  // namespace netd
