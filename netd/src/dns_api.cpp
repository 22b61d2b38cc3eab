// The control API's view of the filtered DNS: decisions, learned destinations, counters.
#include "netd/daemon/dns_api.hpp"

#include <fmt/format.h>

#include <chrono>

#include "api_support.hpp"
#include "netd/dns/filtered_resolver.hpp"
#include "netd/firewall/gateway_firewall.hpp"

namespace netd {

using nlohmann::json;

namespace {

std::string ProtocolName(std::uint8_t protocol) {
  return protocol == 6 ? "tcp" : protocol == 17 ? "udp" : std::to_string(protocol);
}

constexpr Metric kQueries{"netd_dns_queries_total", MetricType::kCounter,
                          "Filtered DNS queries by verdict."};
constexpr Metric kRefused{"netd_dns_refused_total", MetricType::kCounter,
                          "Queries refused per VM (names not allowlisted for it)."};
constexpr Metric kLearnedDenied{"netd_dns_learned_denied_total", MetricType::kCounter,
                                "Answer addresses not opened: on the learned-address deny list."};
constexpr Metric kUpstream{"netd_dns_upstream_seconds", MetricType::kHistogram,
                           "Time from a query sent upstream to its answer."};
constexpr Metric kInsert{"netd_dns_insert_seconds", MetricType::kHistogram,
                         "Time to open an answer's addresses in the kernel (transaction to ACK)."};
constexpr Metric kLearned{"netd_dns_learned_destinations", MetricType::kGauge,
                          "allow4 elements opened by DNS answers."};

void ReportHistogram(StatusReport& report, const Metric& metric,
                     const dns::FilteredResolver::Histogram& histogram) {
  report.Histogram(metric, dns::FilteredResolver::Histogram::kBoundsMs, histogram.buckets,
                   histogram.count, histogram.sum_ms);
}

}  // namespace

std::span<const RouteOf<DnsApi>> DnsApi::Routes() {
  static constexpr RouteOf<DnsApi> kRoutes[] = {
      {"GET", "/v1/dns/log", AccessLevel::kAdmin, "", "", &DnsApi::DnsLog},
  };
  return kRoutes;
}

ApiResponse DnsApi::DnsLog(const ApiCall& call) {
  std::string vm;
  if (auto it = call.query.find("vm"); it != call.query.end()) {
    vm = it->second;
    RequireValidVmId(vm);
  }
  auto limit = QueryNumber(call.query, "limit", 100, 1, 1000);
  json decisions = json::array();
  for (const auto& decision : resolver_.RecentDecisions(vm, static_cast<std::size_t>(limit))) {
    json addresses = json::array();
    for (auto address : decision.addresses) addresses.push_back(address.ToString());
    decisions.push_back({{"at", IsoTime(decision.at_ms)},
                         {"vm", decision.vm.empty() ? json(nullptr) : json(decision.vm)},
                         {"source", decision.source.ToString()},
                         {"name", decision.name},
                         {"type", decision.type},
                         {"verdict", dns::FilteredResolver::ToString(decision.verdict)},
                         {"opened", addresses}});
  }
  return JsonResponse(200, {{"decisions", decisions}});
}

void DnsApi::Describe(const dhcp::VmBinding& binding, json& body) const {
  json learned = json::array();
  // Learned expiries are on the monotonic clock; the API tells wall-clock time.
  auto wall_minus_monotonic = std::chrono::duration_cast<std::chrono::milliseconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count() -
                              std::chrono::duration_cast<std::chrono::milliseconds>(
                                  std::chrono::steady_clock::now().time_since_epoch())
                                  .count();
  for (const auto& [key, entry] : firewall_.learned().entries()) {
    if (key.vm != binding.ip) continue;
    learned.push_back({{"destination", key.destination.ToString()},
                       {"protocol", ProtocolName(key.protocol)},
                       {"port", key.port},
                       {"name", entry.name},
                       {"expires_at", IsoTime(entry.expires_ms + wall_minus_monotonic)}});
  }
  body["dns_learned"] = learned;
}

void DnsApi::Report(StatusReport& report) const {
  const auto& counters = resolver_.counters();
  report.Status("/dns/verdicts", json::object());
  report.Declare(kQueries);
  for (std::size_t i = 0; i < dns::FilteredResolver::kVerdicts; ++i) {
    if (counters.verdicts[i] == 0) continue;
    auto verdict = dns::FilteredResolver::ToString(static_cast<dns::FilteredResolver::Verdict>(i));
    report.Figure(fmt::format("/dns/verdicts/{}", verdict), kQueries, counters.verdicts[i],
                  {{"verdict", verdict}});
  }
  report.Declare(kRefused);
  for (const auto& [vm, count] : counters.refused_by_vm) {
    report.Sample(kRefused, count, {{"vm", vm}});
  }
  report.Figure("/dns/learned_denied", kLearnedDenied, counters.learned_denied);
  ReportHistogram(report, kUpstream, counters.upstream_ms);
  ReportHistogram(report, kInsert, counters.insert_ms);
  report.Figure("/dns/learned_destinations", kLearned, firewall_.learned().entries().size());
  report.Status("/dns/in_flight", counters.in_flight);
  report.Status("/dns/cache_entries", counters.cache_entries);
}

}  // namespace netd
