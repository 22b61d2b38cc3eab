#include "netd/dns/address_deny_list.hpp"

#include <algorithm>

namespace netd::dns {

AddressDenyList::AddressDenyList(std::vector<Ipv4Cidr> ranges) : ranges_(std::move(ranges)) {}

std::vector<Ipv4Cidr> AddressDenyList::SpecialPurpose() {
  return {*Ipv4Cidr::Parse("0.0.0.0/8"), *Ipv4Cidr::Parse("127.0.0.0/8"),
          *Ipv4Cidr::Parse("169.254.0.0/16"), *Ipv4Cidr::Parse("224.0.0.0/4"),
          *Ipv4Cidr::Parse("240.0.0.0/4")};
}

bool AddressDenyList::Contains(Ipv4Address address) const {
  return std::any_of(ranges_.begin(), ranges_.end(),
                     [&](const Ipv4Cidr& range) { return range.Contains(address); });
}

}  // namespace netd::dns
