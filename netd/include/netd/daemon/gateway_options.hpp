#pragma once

#include "netd/allowlist/rule_codec.hpp"
#include "netd/daemon/config.hpp"
#include "netd/dhcp/ipam.hpp"
#include "netd/firewall/gateway_firewall.hpp"
#include "netd/firewall/route_guard.hpp"
#include "netd/proxy/forward_lifecycle.hpp"

namespace netd {

// What the gateway's firewall is built from: the table's layout and limits from `[gateway]`
// and every `[[network]]`.
firewall::GatewayFirewallOptions GatewayFirewallOptionsOf(const Config& config);

// What the route guard protects: every network's bridge and range, the external interface, the
// mark and the rules' priority from `[gateway]`.
firewall::RouteGuardSpec RouteGuardSpecOf(const Config& config);

// What the rules' validation takes from the configuration: rules are checked with it when the
// API takes them and again when they are read back from the store.
allowlist::RuleCodecOptions RuleCodecOptionsOf(const Config& config);

// The forwards' rules: their lives and VM ports from `[gateway]`, the networks a client may not
// be in, the firewall's grace for their elements.
proxy::ForwardOptions ForwardOptionsOf(const Config& config);

// The networks IPAM allocates in: every `[[network]]`'s DHCP range.
std::vector<dhcp::IpamNetwork> IpamNetworksOf(const Config& config);

// A binding as the firewall sees it.
firewall::BoundVm BoundVmOf(const dhcp::VmBinding& binding);

}  // namespace netd
