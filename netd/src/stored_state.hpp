#pragma once

#include "netd/daemon/config.hpp"
#include "netd/daemon/store.hpp"
#include "netd/firewall/gateway_firewall.hpp"

namespace netd {

// What the store says the gateway's table holds: the bindings, the rules and the forwards
// (each with its VM's address). Read at start and for every drift repair. Throws when the
// store holds a forward to a VM that is not bound.
firewall::GatewayFirewall::StoredState LoadStoredState(Store& store, const Config& config);

}  // namespace netd
