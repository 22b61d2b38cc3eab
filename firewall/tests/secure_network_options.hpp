#pragma once

#include "netd/firewall/gateway_firewall.hpp"

namespace netd::firewall {

// A gateway with one allowlisted network, `secure` (192.168.128.0/17 on br-secure), as the
// firewall's own tests build it without a configuration file.
inline GatewayFirewallOptions SecureNetworkOptions() {
  GatewayFirewallOptions options;
  options.layout.external_interface = "ext0";
  options.layout.networks.push_back({"secure", "br-secure", *Ipv4Cidr::Parse("192.168.128.0/17"),
                                     *Ipv4Address::Parse("192.168.128.1"), true});
  return options;
}

}  // namespace netd::firewall
