#pragma once

#include <string>
#include <vector>

#include "netd/common/address.hpp"

namespace netd::firewall {

// The IPv4 networks of an interface's addresses (each address with its prefix, host bits
// cleared), as the kernel holds them now, read over rtnetlink. Throws std::system_error when
// the interface does not exist or netlink fails.
std::vector<Ipv4Cidr> InterfaceIpv4Networks(const std::string& interface);

}  // namespace netd::firewall
