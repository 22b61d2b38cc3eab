#pragma once

#include "netd/daemon/config.hpp"
#include "netd/dhcp/ipam.hpp"
#include "netd/firewall/gateway_firewall.hpp"
#include "netd/firewall/route_guard.hpp"

namespace netd {

// What the gateway's firewall is built from: the table's layout and limits from `[gateway]`
// and every `[[network]]`.
firewall::GatewayFirewallOptions GatewayFirewallOptionsOf(const Config& config);

// What the route guard protects: every network's bridge and range, the external interface, the
// mark and the rules' priority from `[gateway]`.
firewall::RouteGuardSpec RouteGuardSpecOf(const Config& config);

// A binding as the firewall sees it.
firewall::BoundVm BoundVmOf(const dhcp::VmBinding& binding);

}  // namespace netd
