#pragma once

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "netd/allowlist/policy.hpp"
#include "netd/common/address.hpp"
#include "netd/daemon/config.hpp"
#include "netd/dns/address_deny_list.hpp"
#include "netd/dns/message.hpp"
#include "netd/dns/name_budget.hpp"
#include "netd/dns/server.hpp"
#include "netd/dns/upstream.hpp"

namespace netd {

class GatewayFirewall;

// What learned addresses may not be unless a rule of the VM names them literally
// (docs/dns.md): the special-purpose ranges, every network of the enclave and its gateway
// address, the networks of the gateway's external interface, and `dns.learned_deny`.
std::vector<Ipv4Cidr> LearnedDenyRanges(const Config& config,
                                        const std::vector<Ipv4Cidr>& external_networks);

// The secure networks' resolver (docs/dns.md): a VM gets answers only for names its rules
// allow, and those answers open their addresses for that VM before the VM sees them. Any
// other name is refused and never leaves the backend.
class FilteredDns {
 public:
  FilteredDns(boost::asio::io_context& io, const Config& config, GatewayFirewall& firewall);
  ~FilteredDns();
  FilteredDns(const FilteredDns&) = delete;
  FilteredDns& operator=(const FilteredDns&) = delete;

  // Reads the external interface's networks for the learned-address deny list, and listens on
  // the gateway address of every allowlisted network; throws if it cannot listen.
  void Start();
  void Stop();

  enum class Verdict {
    kAllowed,
    kCached,
    kLocal,
    kRefused,
    kUnknownSource,
    kRateLimited,
    kServfail,
    kUpstreamTimeout,
    kOverloaded,
    kQtypeRefused,    // an allowed name, a type its rules do not allow
    kOverNameBudget,  // a new name under a wildcard rule beyond the VM's budget
  };
  static constexpr std::size_t kVerdicts = 11;
  static std::string_view ToString(Verdict verdict);

  // One decision, for `netctl dns log` and the API.
  struct Decision {
    std::int64_t at_ms = 0;
    std::string vm;  // empty for an unknown source
    Ipv4Address source;
    std::string name;
    std::uint16_t type = 0;
    Verdict verdict = Verdict::kRefused;
    std::vector<Ipv4Address> addresses;  // what an allowed answer opened
  };
  // The most recent decisions first, at most `limit`, of one VM when `vm` is not empty.
  std::vector<Decision> RecentDecisions(const std::string& vm, std::size_t limit) const;

  struct Histogram {
    static constexpr double kBoundsMs[] = {0.25, 0.5, 1, 2, 5, 10, 25, 50, 100, 250, 1000};
    std::uint64_t buckets[std::size(kBoundsMs)] = {};
    std::uint64_t count = 0;
    double sum_ms = 0;
    void Add(double ms);
  };
  struct Counters {
    std::array<std::uint64_t, kVerdicts> verdicts{};
    std::map<std::string, std::uint64_t> refused_by_vm;
    Histogram upstream_ms;  // query sent to answer received
    Histogram insert_ms;    // kernel transaction of an answer's addresses, to its ACK
    std::size_t cache_entries = 0;
    std::size_t in_flight = 0;
    std::uint64_t learned_denied = 0;  // answer addresses not opened: on the deny list
  };
  const Counters& counters() const { return counters_; }
  const dns::DnsServer::Counters& server_counters() const { return server_.counters(); }

 private:
  struct Pending;
  struct Cached {
    std::vector<std::uint8_t> answer;  // as received, AAAA removed
    std::chrono::steady_clock::time_point stored;
    std::chrono::steady_clock::time_point expires;
    std::vector<Ipv4Address> addresses;
    std::uint32_t ttl_s = 0;
  };
  struct Bucket {
    double tokens = 0;
    std::chrono::steady_clock::time_point refilled;
  };

  void OnQuery(const dns::Query& query, Ipv4Address source, dns::Responder reply);
  void OnUpstreamAnswer(const std::shared_ptr<Pending>& pending,
                        std::span<const std::uint8_t> answer, const char* error, bool timed_out);
  bool TakeToken(Ipv4Address source);
  // Opens the addresses for the VM on the ports of `rules`; false if the kernel refused.
  bool Open(const allowlist::SecureVm& vm,
            const std::vector<const allowlist::AllowlistRule*>& rules, const dns::Query& query,
            const std::vector<Ipv4Address>& addresses, std::uint32_t ttl_s);
  void Refuse(const dns::Query& query, const dns::Responder& reply);
  // Whether a name under a wildcard rule may go upstream for the VM at `source` now.
  bool WithinNameBudget(Ipv4Address source, std::string_view name);
  // The addresses of an answer the VM may not have: on the deny list and not named by one of
  // its rules literally. Each is logged and counted.
  std::vector<Ipv4Address> Denied(const allowlist::SecureVm& vm, const dns::Query& query,
                                  const std::vector<Ipv4Address>& addresses);
  // Whether one more refusal or failure may be logged this second.
  bool MayLog();
  void Record(Verdict verdict, const std::string& vm, Ipv4Address source, const dns::Query& query,
              const std::vector<Ipv4Address>& addresses = {});
  // The cache key of a query, in a buffer reused from query to query.
  const std::string& CacheKeyOf(const dns::Query& query);
  // How long an answer with this TTL opens its addresses: clamp(TTL, min, max) seconds for
  // what the VM is told, plus the grace for the kernel element.
  std::uint32_t OpenSeconds(std::uint32_t ttl_s) const;
  std::int64_t LifetimeMs(std::uint32_t ttl_s) const;
  void Finish(Pending& pending);

  boost::asio::io_context& io_;
  const Config& config_;
  GatewayFirewall& firewall_;
  dns::DnsServer server_;
  std::unique_ptr<dns::AresUpstream> upstream_;
  bool stopping_ = false;
  Counters counters_;
  // The last decisions, a ring: slots are overwritten in place, so that recording one
  // reuses the memory of the one it replaces.
  std::vector<Decision> decisions_;
  std::size_t next_decision_ = 0;
  std::unordered_map<std::uint32_t, Bucket> buckets_;
  // By source address, like the rate limits: bounded by the secure networks' size.
  std::unordered_map<std::uint32_t, dns::DistinctNameBudget> name_budgets_;
  dns::AddressDenyList learned_deny_;
  std::unordered_map<std::string, std::size_t> in_flight_by_vm_;
  std::unordered_map<std::string, Cached> cache_;
  std::string cache_key_;
  std::chrono::steady_clock::time_point log_window_;
  std::uint64_t logged_in_window_ = 0;
  std::uint64_t suppressed_ = 0;
};

}  // namespace netd
