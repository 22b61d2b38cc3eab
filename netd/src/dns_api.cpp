// The control API's view of the filtered DNS: decisions, learned destinations, counters.
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

}  // namespace

ApiResponse ControlApi::DnsLog(const Call& call) {
  if (!dns_) {
    throw ApiError{409, "no_filtered_dns", "this netd does not run the gateway role", ""};
  }
  std::string vm;
  if (auto it = call.query.find("vm"); it != call.query.end()) {
    vm = it->second;
    RequireValidVmId(vm);
  }
  auto limit = QueryNumber(call.query, "limit", 100, 1, 1000);
  json decisions = json::array();
  for (const auto& decision : dns_->RecentDecisions(vm, static_cast<std::size_t>(limit))) {
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

json ControlApi::DnsLearnedJson(Ipv4Address vm) const {
  json learned = json::array();
  if (!firewall_) return learned;
  // Learned expiries are on the monotonic clock; the API tells wall-clock time.
  auto wall_minus_monotonic = std::chrono::duration_cast<std::chrono::milliseconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count() -
                              std::chrono::duration_cast<std::chrono::milliseconds>(
                                  std::chrono::steady_clock::now().time_since_epoch())
                                  .count();
  for (const auto& [key, entry] : firewall_->learned().entries()) {
    if (key.vm != vm) continue;
    learned.push_back({{"destination", key.destination.ToString()},
                       {"protocol", ProtocolName(key.protocol)},
                       {"port", key.port},
                       {"name", entry.name},
                       {"expires_at", IsoTime(entry.expires_ms + wall_minus_monotonic)}});
  }
  return learned;
}

json ControlApi::DnsStatusJson() const {
  if (!dns_) return nullptr;
  const auto& counters = dns_->counters();
  json verdicts = json::object();
  for (std::size_t i = 0; i < dns::FilteredResolver::kVerdicts; ++i) {
    if (counters.verdicts[i] > 0) {
      verdicts[std::string(dns::FilteredResolver::ToString(
          static_cast<dns::FilteredResolver::Verdict>(i)))] = counters.verdicts[i];
    }
  }
  return {{"verdicts", verdicts},
          {"in_flight", counters.in_flight},
          {"cache_entries", counters.cache_entries},
          {"learned_destinations", firewall_ ? firewall_->learned().entries().size() : 0},
          {"learned_denied", counters.learned_denied}};
}

std::string ControlApi::DnsMetrics() const {
  if (!dns_) return "";
  const auto& counters = dns_->counters();
  std::string out =
      "# HELP netd_dns_queries_total Filtered DNS queries by verdict.\n"
      "# TYPE netd_dns_queries_total counter\n";
  for (std::size_t i = 0; i < dns::FilteredResolver::kVerdicts; ++i) {
    if (counters.verdicts[i] == 0) continue;
    out +=
        fmt::format("netd_dns_queries_total{{verdict=\"{}\"}} {}\n",
                    dns::FilteredResolver::ToString(static_cast<dns::FilteredResolver::Verdict>(i)),
                    counters.verdicts[i]);
  }
  out +=
      "# HELP netd_dns_refused_total Queries refused per VM (names not allowlisted for it).\n"
      "# TYPE netd_dns_refused_total counter\n";
  for (const auto& [vm, count] : counters.refused_by_vm) {
    out += fmt::format("netd_dns_refused_total{{vm=\"{}\"}} {}\n", vm, count);
  }
  out += fmt::format(
      "# HELP netd_dns_learned_denied_total Answer addresses not opened: on the learned-address "
      "deny list.\n# TYPE netd_dns_learned_denied_total counter\nnetd_dns_learned_denied_total "
      "{}\n",
      counters.learned_denied);
  auto histogram = [&](const char* name, const char* help,
                       const dns::FilteredResolver::Histogram& h) {
    out += fmt::format("# HELP {} {}\n# TYPE {} histogram\n", name, help, name);
    for (std::size_t i = 0; i < std::size(dns::FilteredResolver::Histogram::kBoundsMs); ++i) {
      out += fmt::format("{}_bucket{{le=\"{}\"}} {}\n", name,
                         dns::FilteredResolver::Histogram::kBoundsMs[i] / 1000, h.buckets[i]);
    }
    out += fmt::format("{}_bucket{{le=\"+Inf\"}} {}\n{}_sum {}\n{}_count {}\n", name, h.count, name,
                       h.sum_ms / 1000, name, h.count);
  };
  histogram("netd_dns_upstream_seconds", "Time from a query sent upstream to its answer.",
            counters.upstream_ms);
  histogram("netd_dns_insert_seconds",
            "Time to open an answer's addresses in the kernel (transaction to ACK).",
            counters.insert_ms);
  out += fmt::format(
      "# HELP netd_dns_learned_destinations allow4 elements opened by DNS answers.\n"
      "# TYPE netd_dns_learned_destinations gauge\nnetd_dns_learned_destinations {}\n",
      firewall_ ? firewall_->learned().entries().size() : 0);
  return out;
}

}  // namespace netd
