#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "netd/firewall/forwarding_guard.hpp"

namespace netd {

// The route guard's part of /v1/status (`firewall.route_guard`): its mark, rules, forwarding
// sysctls and repair counters.
nlohmann::json RouteGuardStatusJson(const firewall::ForwardingGuard& guard);
// The route guard's repair counters in Prometheus' text format, for /metrics.
std::string RouteGuardMetrics(const firewall::ForwardingGuard& guard);

}  // namespace netd
