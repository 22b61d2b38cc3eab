#pragma once

#include "netd/common/address.hpp"
#include "netd/dhcp/dnsmasq_config.hpp"

namespace netd::dhcp::testing {

inline Ipv4Address Ip(const char* text) {
  return *Ipv4Address::Parse(text);
}

// The secure network of the examples: reservations only, its gateway as the DNS server.
inline DhcpNetwork SecureNetwork() {
  return {"secure",
          "br-secure",
          *Ipv4Cidr::Parse("192.168.128.0/17"),
          Ip("192.168.128.1"),
          Ip("192.168.129.1"),
          Ip("192.168.255.254"),
          true,
          false,
          {Ip("192.168.128.1")}};
}

}  // namespace netd::dhcp::testing
