#include "netd/daemon/filtered_dns.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <system_error>

#include "netd/daemon/gateway_firewall.hpp"
#include "netd/firewall/interface_addresses.hpp"

namespace netd {
namespace {

constexpr std::size_t kDecisionsKept = 1000;
constexpr std::uint64_t kLogLinesPerSecond = 20;
constexpr std::uint32_t kLocalTtlS = 60;
// An answer with more addresses gets SERVFAIL: each address is opened port by port, on the
// loop, and a zone a VM can write to must not make it open thousands.
constexpr std::size_t kMaxAddressesPerAnswer = 64;
// Queries a server gets before c-ares tries the next one; netd's own deadline bounds the whole.
constexpr int kUpstreamTries = 2;

std::int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

double MsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

std::vector<dns::AresUpstream::Server> UpstreamServers(const Config& config) {
  std::vector<dns::AresUpstream::Server> servers;
  for (const auto& upstream : config.dns.upstream) {
    servers.push_back({upstream.address, upstream.port});
  }
  return servers;
}

// Addresses `addresses` without those in `removed`.
std::vector<Ipv4Address> Without(const std::vector<Ipv4Address>& addresses,
                                 const std::vector<Ipv4Address>& removed) {
  std::vector<Ipv4Address> kept;
  for (auto address : addresses) {
    if (std::find(removed.begin(), removed.end(), address) == removed.end()) {
      kept.push_back(address);
    }
  }
  return kept;
}

}  // namespace

using dns::TypeName;

std::vector<Ipv4Cidr> LearnedDenyRanges(const Config& config,
                                        const std::vector<Ipv4Cidr>& external_networks) {
  auto ranges = dns::AddressDenyList::SpecialPurpose();
  for (const auto& network : config.networks) {
    ranges.push_back(network.cidr);
    // Inside the network's range already; listed so that the list says what it protects.
    ranges.emplace_back(network.gateway, 32);
  }
  ranges.insert(ranges.end(), external_networks.begin(), external_networks.end());
  ranges.insert(ranges.end(), config.dns.learned_deny.begin(), config.dns.learned_deny.end());
  return ranges;
}

std::string_view FilteredDns::ToString(Verdict verdict) {
  switch (verdict) {
    case Verdict::kAllowed:
      return "allowed";
    case Verdict::kCached:
      return "cached";
    case Verdict::kLocal:
      return "local";
    case Verdict::kRefused:
      return "refused";
    case Verdict::kUnknownSource:
      return "unknown_source";
    case Verdict::kRateLimited:
      return "rate_limited";
    case Verdict::kServfail:
      return "servfail";
    case Verdict::kUpstreamTimeout:
      return "upstream_timeout";
    case Verdict::kOverloaded:
      return "overloaded";
    case Verdict::kQtypeRefused:
      return "qtype_refused";
    case Verdict::kOverNameBudget:
      break;
  }
  return "over_name_budget";
}

void FilteredDns::Histogram::Add(double ms) {
  for (std::size_t i = 0; i < std::size(kBoundsMs); ++i) {
    if (ms <= kBoundsMs[i]) ++buckets[i];
  }
  ++count;
  sum_ms += ms;
}

struct FilteredDns::Pending {
  Pending(boost::asio::io_context& io, dns::Query query, std::string vm, Ipv4Address source,
          dns::Responder reply)
      : query(std::move(query)),
        vm(std::move(vm)),
        source(source),
        reply(std::move(reply)),
        deadline(io),
        started(std::chrono::steady_clock::now()) {}
  dns::Query query;
  std::string vm;
  Ipv4Address source;
  dns::Responder reply;
  boost::asio::steady_timer deadline;
  std::chrono::steady_clock::time_point started;
  bool done = false;
};

FilteredDns::FilteredDns(boost::asio::io_context& io, const Config& config,
                         GatewayFirewall& firewall)
    : io_(io),
      config_(config),
      firewall_(firewall),
      server_(io,
              [this](const dns::Query& query, Ipv4Address source, dns::Responder reply) {
                OnQuery(query, source, std::move(reply));
              },
              {std::chrono::milliseconds(config.dns.tcp_idle_timeout_ms),
               config.dns.tcp_max_connections}),
      upstream_(std::make_unique<dns::AresUpstream>(
          io, UpstreamServers(config),
          std::chrono::milliseconds(
              std::max<std::int64_t>(50, config.dns.upstream_timeout_ms / (kUpstreamTries + 1))),
          kUpstreamTries)) {}

FilteredDns::~FilteredDns() {
  Stop();
  // Pending queries end through their callbacks while c-ares goes; they find netd stopping.
  stopping_ = true;
  upstream_.reset();
}

void FilteredDns::Start() {
  std::vector<Ipv4Cidr> external;
  try {
    external = firewall::InterfaceIpv4Networks(config_.gateway.external_interface);
  } catch (const std::system_error& failure) {
    spdlog::warn("dns: cannot read the addresses of {} for the learned-address deny list: {}",
                 config_.gateway.external_interface, failure.what());
  }
  std::string names;
  for (const auto& network : external) names += (names.empty() ? "" : ",") + network.ToString();
  learned_deny_ = dns::AddressDenyList(LearnedDenyRanges(config_, external));
  spdlog::info("dns: learned-address deny list of {} ranges; {} networks: {}",
               learned_deny_.ranges().size(), config_.gateway.external_interface,
               names.empty() ? "none" : names);
  for (const auto& network : config_.networks) {
    if (network.egress != Egress::kAllowlist) continue;
    server_.Listen(network.gateway, config_.dns.listen_port);
  }
  if (config_.dns.upstream.empty()) {
    spdlog::warn(
        "dns: no upstream servers (dns.upstream, gateway.upstream_dns): allowed names "
        "get SERVFAIL");
  }
}

void FilteredDns::Stop() {
  server_.Stop();
}

void FilteredDns::OnQuery(const dns::Query& query, Ipv4Address source, dns::Responder reply) {
  static const std::string kNoVm;
  const auto& policy = firewall_.policy();
  const auto* vm = policy.FindVmAt(source);
  if (!vm) {
    reply(dns::BuildResponse(query, dns::Rcode::kRefused));
    return Record(Verdict::kUnknownSource, kNoVm, source, query);
  }
  if (!TakeToken(source)) {
    reply(dns::BuildResponse(query, dns::Rcode::kRefused));
    return Record(Verdict::kRateLimited, vm->id, source, query);
  }
  if (query.plain_name && query.klass == 1) {
    if (auto local = config_.dns.local_names.find(query.name);
        local != config_.dns.local_names.end()) {
      reply(dns::BuildAddressAnswer(query, {local->second}, kLocalTtlS));
      return Record(Verdict::kLocal, vm->id, source, query);
    }
  }
  auto rules = query.plain_name && query.klass == 1
                   ? policy.RulesNaming(vm->id, query.name)
                   : std::vector<const allowlist::AllowlistRule*>();
  if (rules.empty()) {
    Refuse(query, reply);
    ++counters_.refused_by_vm[vm->id];
    return Record(Verdict::kRefused, vm->id, source, query);
  }
  // Only the types a rule allows go upstream, and only those rules open the answer's addresses.
  std::erase_if(rules, [&](const auto* rule) { return !rule->AllowsQtype(query.type); });
  if (rules.empty()) {
    Refuse(query, reply);
    return Record(Verdict::kQtypeRefused, vm->id, source, query);
  }
  bool named_exactly = std::any_of(
      rules.begin(), rules.end(), [&](const auto* rule) { return rule->NamesExactly(query.name); });
  if (!named_exactly && !WithinNameBudget(source, query.name)) {
    Refuse(query, reply);
    return Record(Verdict::kOverNameBudget, vm->id, source, query);
  }

  auto now = std::chrono::steady_clock::now();
  if (auto cached = cache_.find(CacheKeyOf(query)); cached != cache_.end()) {
    if (cached->second.expires > now) {
      auto age_s = static_cast<std::uint32_t>(
          std::chrono::duration_cast<std::chrono::seconds>(now - cached->second.stored).count());
      auto remaining = cached->second.ttl_s > age_s ? cached->second.ttl_s - age_s : 0;
      const auto& addresses = cached->second.addresses;
      auto denied = Denied(*vm, query, addresses);
      std::vector<Ipv4Address> kept;  // allocated only when something is denied
      if (!denied.empty()) kept = Without(addresses, denied);
      const auto& opened = denied.empty() ? addresses : kept;
      // The addresses are open for this VM (again) before it sees them.
      if (!Open(*vm, rules, query, opened, remaining)) {
        reply(dns::BuildResponse(query, dns::Rcode::kServFail));
        return Record(Verdict::kServfail, vm->id, source, query);
      }
      auto answer = cached->second.answer;
      if (!denied.empty()) {
        auto filtered = dns::Filtered(answer, denied);
        if (!filtered) {
          reply(dns::BuildResponse(query, dns::Rcode::kServFail));
          return Record(Verdict::kServfail, vm->id, source, query);
        }
        answer = std::move(*filtered);
      }
      dns::AdjustTtls(answer, age_s, OpenSeconds(remaining));
      dns::RestoreQuestion(answer, query);  // the cached answer's question is the same name
      dns::SetId(answer, query.id);
      reply(std::move(answer));
      return Record(Verdict::kCached, vm->id, source, query, opened);
    }
    cache_.erase(cached);
  }

  auto& vm_in_flight = in_flight_by_vm_[vm->id];
  if (counters_.in_flight >= config_.dns.max_in_flight ||
      vm_in_flight >= config_.dns.vm_max_in_flight) {
    reply(dns::BuildResponse(query, dns::Rcode::kServFail));
    return Record(Verdict::kOverloaded, vm->id, source, query);
  }
  auto pending = std::make_shared<Pending>(io_, query, vm->id, source, std::move(reply));
  ++counters_.in_flight;
  ++vm_in_flight;
  pending->deadline.expires_after(std::chrono::milliseconds(config_.dns.upstream_timeout_ms));
  pending->deadline.async_wait([this, pending](boost::system::error_code error) {
    if (error || pending->done) return;
    Finish(*pending);
    pending->reply(dns::BuildResponse(pending->query, dns::Rcode::kServFail));
    Record(Verdict::kUpstreamTimeout, pending->vm, pending->source, pending->query);
  });
  upstream_->Send(
      dns::BuildUpstreamQuery(query),
      [this, pending](std::span<const std::uint8_t> answer, const char* error, bool timed_out) {
        if (!stopping_) OnUpstreamAnswer(pending, answer, error, timed_out);
      });
}

void FilteredDns::OnUpstreamAnswer(const std::shared_ptr<Pending>& pending,
                                   std::span<const std::uint8_t> answer, const char* error,
                                   bool timed_out) {
  if (pending->done) return;  // answered with SERVFAIL at the deadline
  Finish(*pending);
  pending->deadline.cancel();
  counters_.upstream_ms.Add(MsSince(pending->started));
  const auto& query = pending->query;
  auto fail = [&](const std::string& why) {
    pending->reply(dns::BuildResponse(query, dns::Rcode::kServFail));
    spdlog::debug("dns: vm {}: {} {}: SERVFAIL: {}", pending->vm, query.name, TypeName(query.type),
                  why);
    Record(timed_out ? Verdict::kUpstreamTimeout : Verdict::kServfail, pending->vm, pending->source,
           query);
  };
  if (answer.empty()) return fail(error ? error : "no answer");
  auto summary = dns::ParseResponse(answer, query.name);
  if (!summary) return fail("a damaged answer");
  // The rules may have changed while the query was out.
  const auto* vm = firewall_.policy().FindVmAt(pending->source);
  auto rules = vm && vm->id == pending->vm ? firewall_.policy().RulesNaming(vm->id, query.name)
                                           : std::vector<const allowlist::AllowlistRule*>();
  std::erase_if(rules, [&](const auto* rule) { return !rule->AllowsQtype(query.type); });
  if (rules.empty()) {
    Refuse(query, pending->reply);
    return Record(Verdict::kRefused, pending->vm, pending->source, query);
  }
  std::vector<std::uint8_t> out(answer.begin(), answer.end());
  if (summary->has_aaaa) {
    auto stripped = dns::Filtered(out);
    if (!stripped) return fail("an answer that cannot be re-encoded");
    out = std::move(*stripped);
  }
  // The VM's own letter case back in the question (netd asked in lower case).
  if (!dns::RestoreQuestion(out, query)) return fail("an answer to another question");
  std::vector<Ipv4Address> addresses;
  auto ttl_s = static_cast<std::uint32_t>(config_.dns.max_ttl_s);
  for (const auto& record : summary->addresses) {
    if (std::find(addresses.begin(), addresses.end(), record.address) == addresses.end()) {
      addresses.push_back(record.address);
    }
    ttl_s = std::min(ttl_s, record.ttl);
  }
  if (addresses.size() > kMaxAddressesPerAnswer) {
    return fail(fmt::format("{} addresses in one answer, more than {}", addresses.size(),
                            kMaxAddressesPerAnswer));
  }
  // No record outlives what the answer opened.
  dns::AdjustTtls(out, 0, OpenSeconds(ttl_s));
  // The cache keeps the answer whole: what a VM may have of it depends on the VM's rules.
  auto denied = Denied(*vm, query, addresses);
  std::vector<Ipv4Address> kept;
  if (!denied.empty()) kept = Without(addresses, denied);
  const auto& opened = denied.empty() ? addresses : kept;
  if (!opened.empty() && !Open(*vm, rules, query, opened, ttl_s)) {
    return fail("the kernel refused the addresses");
  }
  if (!addresses.empty() && summary->rcode == dns::Rcode::kNoError &&
      config_.dns.cache_entries > 0) {
    auto now = std::chrono::steady_clock::now();
    if (cache_.size() >= config_.dns.cache_entries) {
      std::erase_if(cache_, [&](const auto& entry) { return entry.second.expires <= now; });
      if (cache_.size() >= config_.dns.cache_entries) cache_.erase(cache_.begin());
    }
    cache_[CacheKeyOf(query)] = {out, now, now + std::chrono::seconds(ttl_s), addresses, ttl_s};
    counters_.cache_entries = cache_.size();
  }
  if (!denied.empty()) {
    auto filtered = dns::Filtered(out, denied);
    if (!filtered) return fail("an answer that cannot be re-encoded");
    out = std::move(*filtered);
  }
  dns::SetId(out, query.id);
  pending->reply(std::move(out));
  Record(Verdict::kAllowed, pending->vm, pending->source, query, opened);
}

void FilteredDns::Finish(Pending& pending) {
  pending.done = true;
  --counters_.in_flight;
  if (auto it = in_flight_by_vm_.find(pending.vm);
      it != in_flight_by_vm_.end() && --it->second == 0) {
    in_flight_by_vm_.erase(it);
  }
}

const std::string& FilteredDns::CacheKeyOf(const dns::Query& query) {
  cache_key_.assign(query.name);
  cache_key_ += '\0';
  cache_key_ += static_cast<char>(query.type >> 8);
  cache_key_ += static_cast<char>(query.type);
  cache_key_ += static_cast<char>(query.klass >> 8);
  cache_key_ += static_cast<char>(query.klass);
  cache_key_ += query.edns_udp_size ? 'e' : '-';
  return cache_key_;
}

std::uint32_t FilteredDns::OpenSeconds(std::uint32_t ttl_s) const {
  return static_cast<std::uint32_t>(
      std::clamp<std::int64_t>(ttl_s, config_.dns.min_ttl_s, config_.dns.max_ttl_s));
}

std::int64_t FilteredDns::LifetimeMs(std::uint32_t ttl_s) const {
  auto ttl = std::clamp<std::int64_t>(ttl_s, config_.dns.min_ttl_s, config_.dns.max_ttl_s);
  return (ttl + config_.dns.grace_s) * 1000;
}

bool FilteredDns::Open(const allowlist::SecureVm& vm,
                       const std::vector<const allowlist::AllowlistRule*>& rules,
                       const dns::Query& query, const std::vector<Ipv4Address>& addresses,
                       std::uint32_t ttl_s) {
  if (addresses.empty()) return true;
  auto started = std::chrono::steady_clock::now();
  try {
    firewall_.OpenLearned(vm, rules, query.name, addresses, LifetimeMs(ttl_s));
  } catch (const std::exception& failure) {
    spdlog::error("dns: vm {}: cannot open the addresses of {}: {}", vm.id, query.name,
                  failure.what());
    return false;
  }
  counters_.insert_ms.Add(MsSince(started));
  return true;
}

void FilteredDns::Refuse(const dns::Query& query, const dns::Responder& reply) {
  reply(dns::BuildResponse(
      query, config_.dns.refuse_with_nxdomain ? dns::Rcode::kNxDomain : dns::Rcode::kRefused));
}

bool FilteredDns::WithinNameBudget(Ipv4Address source, std::string_view name) {
  auto [it, fresh] =
      name_budgets_.try_emplace(source.value(), config_.dns.vm_wildcard_names,
                                std::chrono::seconds(config_.dns.vm_wildcard_window_s));
  return it->second.Admit(name, std::chrono::steady_clock::now());
}

std::vector<Ipv4Address> FilteredDns::Denied(const allowlist::SecureVm& vm, const dns::Query& query,
                                             const std::vector<Ipv4Address>& addresses) {
  std::vector<Ipv4Address> denied;
  for (auto address : addresses) {
    if (!learned_deny_.Contains(address) || firewall_.policy().NamesAddress(vm.id, address)) {
      continue;
    }
    denied.push_back(address);
    ++counters_.learned_denied;
    if (MayLog()) {
      spdlog::warn("dns: vm={} name={} address={}: not opened, on the learned-address deny list",
                   vm.id, query.name, address.ToString());
    }
  }
  return denied;
}

bool FilteredDns::MayLog() {
  auto now = std::chrono::steady_clock::now();
  if (now - log_window_ >= std::chrono::seconds(1)) {
    if (suppressed_ > 0) spdlog::info("dns: {} more decisions not logged", suppressed_);
    log_window_ = now;
    logged_in_window_ = 0;
    suppressed_ = 0;
  }
  if (logged_in_window_ < kLogLinesPerSecond) {
    ++logged_in_window_;
    return true;
  }
  ++suppressed_;
  return false;
}

bool FilteredDns::TakeToken(Ipv4Address source) {
  auto now = std::chrono::steady_clock::now();
  auto rate = static_cast<double>(config_.dns.vm_queries_per_second);
  auto [it, fresh] = buckets_.try_emplace(source.value(), Bucket{2 * rate, now});
  auto& bucket = it->second;
  if (!fresh) {
    bucket.tokens =
        std::min(2 * rate, bucket.tokens +
                               rate * std::chrono::duration<double>(now - bucket.refilled).count());
    bucket.refilled = now;
  }
  if (bucket.tokens < 1) return false;
  bucket.tokens -= 1;
  return true;
}

void FilteredDns::Record(Verdict verdict, const std::string& vm, Ipv4Address source,
                         const dns::Query& query, const std::vector<Ipv4Address>& addresses) {
  ++counters_.verdicts[static_cast<std::size_t>(verdict)];
  bool routine =
      verdict == Verdict::kAllowed || verdict == Verdict::kCached || verdict == Verdict::kLocal;
  if (routine) {
    if (spdlog::should_log(spdlog::level::debug)) {
      spdlog::debug("dns: vm {}: {} {} {}", vm, query.name, TypeName(query.type),
                    ToString(verdict));
    }
  } else if (MayLog()) {
    spdlog::info("dns: vm={} source={} name={} type={} verdict={}", vm.empty() ? "-" : vm,
                 source.ToString(), query.name.empty() ? "-" : query.name, TypeName(query.type),
                 ToString(verdict));
  }
  if (decisions_.size() < kDecisionsKept) decisions_.emplace_back();
  auto& slot = decisions_[next_decision_];
  next_decision_ = (next_decision_ + 1) % kDecisionsKept;
  slot.at_ms = NowMs();
  slot.vm.assign(vm);
  slot.source = source;
  slot.name.assign(query.name);
  slot.type = query.type;
  slot.verdict = verdict;
  slot.addresses.assign(addresses.begin(), addresses.end());
}

std::vector<FilteredDns::Decision> FilteredDns::RecentDecisions(const std::string& vm,
                                                                std::size_t limit) const {
  std::vector<Decision> out;
  for (std::size_t i = 1; i <= decisions_.size() && out.size() < limit; ++i) {
    const auto& decision = decisions_[(next_decision_ + kDecisionsKept - i) % kDecisionsKept];
    if (vm.empty() || decision.vm == vm) out.push_back(decision);
  }
  return out;
}

}  // namespace netd
