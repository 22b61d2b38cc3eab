#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "netd/allowlist/policy.hpp"
#include "netd/common/address.hpp"

namespace netd::dns {

// What the filtered resolver needs of whoever keeps the firewall: the policy it decides by, and
// a way to open an answer's addresses for a VM before the VM sees the answer. netd's gateway
// firewall implements it; tests fake it.
class AddressOpener {
 public:
  virtual ~AddressOpener() = default;

  // The rules and bound secure VMs, as they are now: read on every query, and again when an
  // answer arrives (they may have changed while the query was out).
  virtual const allowlist::AllowlistPolicy& policy() const = 0;

  // Opens `addresses`, answered for `name`, to `vm` on the ports of `rules` (those that name it)
  // for `lifetime_ms`; returns once they are open. Throws if they cannot be.
  virtual void OpenLearned(const allowlist::SecureVm& vm,
                           const std::vector<const allowlist::AllowlistRule*>& rules,
                           const std::string& name, const std::vector<Ipv4Address>& addresses,
                           std::int64_t lifetime_ms) = 0;
};

}  // namespace netd::dns
