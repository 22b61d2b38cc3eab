#pragma once

#include <vector>

#include "netd/common/address.hpp"

namespace netd::dns {

// Addresses an upstream answer may name but netd does not open (docs/dns.md, "Learned
// addresses"): a zone a VM can write to must not make netd open the enclave, the gateway, or
// addresses that are not destinations at all.
class AddressDenyList {
 public:
  AddressDenyList() = default;
  explicit AddressDenyList(std::vector<Ipv4Cidr> ranges);

  // The ranges that are never destinations: "this network" (0/8), loopback (127/8), link-local
  // (169.254/16, also cloud metadata), multicast (224/4), and reserved and broadcast (240/4).
  static std::vector<Ipv4Cidr> SpecialPurpose();

  bool Contains(Ipv4Address address) const;
  const std::vector<Ipv4Cidr>& ranges() const { return ranges_; }

 private:
  std::vector<Ipv4Cidr> ranges_;
};

}  // namespace netd::dns
