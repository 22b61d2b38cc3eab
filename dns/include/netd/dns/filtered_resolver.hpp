#pragma once

#include <array>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "netd/allowlist/policy.hpp"
#include "netd/common/address.hpp"
#include "netd/dns/address_deny_list.hpp"
#include "netd/dns/address_opener.hpp"
#include "netd/dns/message.hpp"
#include "netd/dns/name_budget.hpp"
#include "netd/dns/server.hpp"
#include "netd/dns/upstream.hpp"

namespace netd::dns {

// How the filtered resolver runs (docs/dns.md); netd fills it from its `[dns]` section.
struct ResolverOptions {
  std::vector<Ipv4Address> listen_addresses;  // the gateway address of each allowlisted network
  std::uint16_t listen_port = 53;
  std::vector<AresUpstream::Server> upstream;
  std::int64_t upstream_timeout_ms = 2000;  // an allowed query gets SERVFAIL after this
  // An answer opens its addresses for clamp(TTL, min, max) + grace seconds.
  std::int64_t min_ttl_s = 30;
  std::int64_t max_ttl_s = 3600;
  std::int64_t grace_s = 30;
  bool refuse_with_nxdomain = false;  // REFUSED otherwise
  std::size_t max_in_flight = 1024;   // queries waiting upstream, all VMs together
  std::size_t vm_max_in_flight = 64;
  std::int64_t vm_queries_per_second = 500;  // bursts of twice that
  ServerLimits server;
  std::size_t cache_entries = 10'000;
  // Answer addresses not opened unless a rule of the VM names them literally.
  std::vector<Ipv4Cidr> learned_deny;
  // Distinct names a VM may send upstream under wildcard rules per window.
  std::size_t vm_wildcard_names = 60;
  std::int64_t vm_wildcard_window_s = 60;
  std::map<std::string, Ipv4Address> local_names;  // answered by the resolver itself
};

// The secure networks' resolver (docs/dns.md): a VM gets answers only for names its rules
// allow, and those answers open their addresses for that VM, through the AddressOpener, before
// the VM sees them. Any other name is refused and never leaves the backend.
class FilteredResolver {
 public:
  // `opener` must outlive the resolver.
  FilteredResolver(boost::asio::io_context& io, ResolverOptions options, AddressOpener& opener);
  ~FilteredResolver();
  FilteredResolver(const FilteredResolver&) = delete;
  FilteredResolver& operator=(const FilteredResolver&) = delete;

  // Listens on every listen address; throws if it cannot.
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
  const DnsServer::Counters& server_counters() const { return server_.counters(); }

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

  void OnQuery(const Query& query, Ipv4Address source, Responder reply);
  void OnUpstreamAnswer(const std::shared_ptr<Pending>& pending,
                        std::span<const std::uint8_t> answer, const char* error, bool timed_out);
  bool TakeToken(Ipv4Address source);
  // Opens the addresses for the VM on the ports of `rules`; false if they could not be.
  bool Open(const allowlist::SecureVm& vm,
            const std::vector<const allowlist::AllowlistRule*>& rules, const Query& query,
            const std::vector<Ipv4Address>& addresses, std::uint32_t ttl_s);
  void Refuse(const Query& query, const Responder& reply);
  // Whether a name under a wildcard rule may go upstream for the VM at `source` now.
  bool WithinNameBudget(Ipv4Address source, std::string_view name);
  // The addresses of an answer the VM may not have: on the deny list and not named by one of
  // its rules literally. Each is logged and counted.
  std::vector<Ipv4Address> Denied(const allowlist::SecureVm& vm, const Query& query,
                                  const std::vector<Ipv4Address>& addresses);
  // Whether one more refusal or failure may be logged this second.
  bool MayLog();
  void Record(Verdict verdict, const std::string& vm, Ipv4Address source, const Query& query,
              const std::vector<Ipv4Address>& addresses = {});
  // The cache key of a query, in a buffer reused from query to query.
  const std::string& CacheKeyOf(const Query& query);
  // How long an answer with this TTL opens its addresses: clamp(TTL, min, max) seconds for
  // what the VM is told, plus the grace for the kernel element.
  std::uint32_t OpenSeconds(std::uint32_t ttl_s) const;
  std::int64_t LifetimeMs(std::uint32_t ttl_s) const;
  void Finish(Pending& pending);

  boost::asio::io_context& io_;
  const ResolverOptions options_;
  AddressOpener& opener_;
  DnsServer server_;
  std::unique_ptr<AresUpstream> upstream_;
  bool stopping_ = false;
  Counters counters_;
  // The last decisions, a ring: slots are overwritten in place, so that recording one
  // reuses the memory of the one it replaces.
  std::vector<Decision> decisions_;
  std::size_t next_decision_ = 0;
  std::unordered_map<std::uint32_t, Bucket> buckets_;
  // By source address, like the rate limits: bounded by the secure networks' size.
  std::unordered_map<std::uint32_t, DistinctNameBudget> name_budgets_;
  AddressDenyList learned_deny_;
  std::unordered_map<std::string, std::size_t> in_flight_by_vm_;
  std::unordered_map<std::string, Cached> cache_;
  std::string cache_key_;
  std::chrono::steady_clock::time_point log_window_;
  std::uint64_t logged_in_window_ = 0;
  std::uint64_t suppressed_ = 0;
};

}  // namespace netd::dns
