#include "route_guard_report.hpp"

#include <fmt/format.h>

namespace netd {

nlohmann::json RouteGuardStatusJson(const firewall::ForwardingGuard& guard) {
  auto status = guard.status();
  nlohmann::json forwarding = nlohmann::json::object();
  for (const auto& [sysctl, on] : status.forwarding) forwarding[sysctl] = on;
  return {{"route_mark", fmt::format("{:#x}", status.route_mark)},
          {"rules", status.rules},
          {"forwarding", forwarding},
          {"rule_repairs", status.counters.rule_repairs},
          {"forwarding_repairs", status.counters.forwarding_repairs},
          {"repair_failures", status.counters.repair_failures}};
}

std::string RouteGuardMetrics(const firewall::ForwardingGuard& guard) {
  const auto& counters = guard.counters();
  return fmt::format(
      "# HELP netd_route_guard_rule_repairs_total Policy-routing rules of the route guard added "
      "or deleted again after someone else changed them.\n"
      "# TYPE netd_route_guard_rule_repairs_total counter\n"
      "netd_route_guard_rule_repairs_total {}\n"
      "# HELP netd_route_guard_forwarding_repairs_total IPv4 forwarding sysctls of netd's "
      "interfaces turned on again after someone turned them off.\n"
      "# TYPE netd_route_guard_forwarding_repairs_total counter\n"
      "netd_route_guard_forwarding_repairs_total {}\n"
      "# HELP netd_route_guard_repair_failures_total Route guard repairs the kernel refused.\n"
      "# TYPE netd_route_guard_repair_failures_total counter\n"
      "netd_route_guard_repair_failures_total {}\n",
      counters.rule_repairs, counters.forwarding_repairs, counters.repair_failures);
}

}  // namespace netd
