#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "netd/common/address.hpp"

namespace netd::dhcp {

// A DHCPRELEASE on a client's behalf: its MAC as chaddr, its address as ciaddr, `server` as
// the server identifier (what dnsmasq's own dhcp_release tool sends).
std::vector<std::uint8_t> BuildDhcpRelease(MacAddress client, Ipv4Address client_ip,
                                           Ipv4Address server, std::uint32_t xid);

// Sends `message` to `server`'s DHCP port from a socket bound to `interface`. Throws
// std::system_error.
void SendDhcpRelease(const std::vector<std::uint8_t>& message, const std::string& interface,
                     Ipv4Address server);

}  // namespace netd::dhcp
