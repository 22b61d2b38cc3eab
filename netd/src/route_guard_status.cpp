#include "netd/daemon/route_guard_status.hpp"

#include <fmt/format.h>

namespace netd {
namespace {

constexpr Metric kRuleRepairs{"netd_route_guard_rule_repairs_total", MetricType::kCounter,
                              "Policy-routing rules of the route guard added or deleted again "
                              "after someone else changed them."};
constexpr Metric kForwardingRepairs{"netd_route_guard_forwarding_repairs_total",
                                    MetricType::kCounter,
                                    "IPv4 forwarding sysctls of netd's interfaces turned on "
                                    "again after someone turned them off."};
constexpr Metric kRepairFailures{"netd_route_guard_repair_failures_total", MetricType::kCounter,
                                 "Route guard repairs the kernel refused."};

}  // namespace

void RouteGuardStatus::Report(StatusReport& report) const {
  auto status = guard_.status();
  nlohmann::json forwarding = nlohmann::json::object();
  for (const auto& [sysctl, on] : status.forwarding) forwarding[sysctl] = on;
  report.Status("/firewall/route_guard", {{"route_mark", fmt::format("{:#x}", status.route_mark)},
                                          {"rules", status.rules},
                                          {"forwarding", forwarding}});
  report.Figure("/firewall/route_guard/rule_repairs", kRuleRepairs, status.counters.rule_repairs);
  report.Figure("/firewall/route_guard/forwarding_repairs", kForwardingRepairs,
                status.counters.forwarding_repairs);
  report.Figure("/firewall/route_guard/repair_failures", kRepairFailures,
                status.counters.repair_failures);
}

}  // namespace netd
