#include "netd/dns/filtered_resolver.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/steady_timer.hpp>

#include "netd/allowlist/qtypes.hpp"

namespace netd::dns {
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

std::string_view FilteredResolver::ToString(Verdict verdict) {
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

void FilteredResolver::Histogram::Add(double ms) {
  for (std::size_t i = 0; i < std::size(kBoundsMs); ++i) {
    if (ms <= kBoundsMs[i]) ++buckets[i];
  }
  ++count;
  sum_ms += ms;
}

struct FilteredResolver::Pending {
  Pending(boost::asio::io_context& io, Query query, std::string vm, Ipv4Address source,
          Responder reply)
      : query(std::move(query)),
        vm(std::move(vm)),
        source(source),
        reply(std::move(reply)),
        deadline(io),
        started(std::chrono::steady_clock::now()) {}
  Query query;
  std::string vm;
  Ipv4Address source;
  Responder reply;
  boost::asio::steady_timer deadline;
  std::chrono::steady_clock::time_point started;
  bool done = false;
};

FilteredResolver::FilteredResolver(boost::asio::io_context& io, ResolverOptions options,
                                   AddressOpener& opener)
    : io_(io),
      options_(std::move(options)),
      opener_(opener),
      server_(
          io,
          [this](const Query& query, Ipv4Address source, Responder reply) {
            OnQuery(query, source, std::move(reply));
          },
          options_.server),
      upstream_(std::make_unique<AresUpstream>(
          io, options_.upstream,
          std::chrono::milliseconds(
              std::max<std::int64_t>(50, options_.upstream_timeout_ms / (kUpstreamTries + 1))),
          kUpstreamTries)),
      learned_deny_(options_.learned_deny) {}

FilteredResolver::~FilteredResolver() {
  Stop();
  // Pending queries end through their callbacks while c-ares goes; they find the resolver
  // stopping.
  stopping_ = true;
  upstream_.reset();
}

void FilteredResolver::Start() {
  for (auto address : options_.listen_addresses) server_.Listen(address, options_.listen_port);
}

void FilteredResolver::Stop() {
  server_.Stop();
}

void FilteredResolver::OnQuery(const Query& query, Ipv4Address source, Responder reply) {
  static const std::string kNoVm;
  const auto& policy = opener_.policy();
  const auto* vm = policy.FindVmAt(source);
  if (!vm) {
    reply(BuildResponse(query, Rcode::kRefused));
    return Record(Verdict::kUnknownSource, kNoVm, source, query);
  }
  if (!TakeToken(source)) {
    reply(BuildResponse(query, Rcode::kRefused));
    return Record(Verdict::kRateLimited, vm->id, source, query);
  }
  if (query.plain_name && query.klass == 1) {
    if (auto local = options_.local_names.find(query.name); local != options_.local_names.end()) {
      reply(BuildAddressAnswer(query, {local->second}, kLocalTtlS));
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
        reply(BuildResponse(query, Rcode::kServFail));
        return Record(Verdict::kServfail, vm->id, source, query);
      }
      auto answer = cached->second.answer;
      if (!denied.empty()) {
        auto filtered = Filtered(answer, denied);
        if (!filtered) {
          reply(BuildResponse(query, Rcode::kServFail));
          return Record(Verdict::kServfail, vm->id, source, query);
        }
        answer = std::move(*filtered);
      }
      AdjustTtls(answer, age_s, OpenSeconds(remaining));
      RestoreQuestion(answer, query);  // the cached answer's question is the same name
      SetId(answer, query.id);
      reply(std::move(answer));
      return Record(Verdict::kCached, vm->id, source, query, opened);
    }
    cache_.erase(cached);
  }

  auto& vm_in_flight = in_flight_by_vm_[vm->id];
  if (counters_.in_flight >= options_.max_in_flight || vm_in_flight >= options_.vm_max_in_flight) {
    reply(BuildResponse(query, Rcode::kServFail));
    return Record(Verdict::kOverloaded, vm->id, source, query);
  }
  auto pending = std::make_shared<Pending>(io_, query, vm->id, source, std::move(reply));
  ++counters_.in_flight;
  ++vm_in_flight;
  pending->deadline.expires_after(std::chrono::milliseconds(options_.upstream_timeout_ms));
  pending->deadline.async_wait([this, pending](boost::system::error_code error) {
    if (error || pending->done) return;
    Finish(*pending);
    pending->reply(BuildResponse(pending->query, Rcode::kServFail));
    Record(Verdict::kUpstreamTimeout, pending->vm, pending->source, pending->query);
  });
  upstream_->Send(BuildUpstreamQuery(query), [this, pending](std::span<const std::uint8_t> answer,
                                                             const char* error, bool timed_out) {
    if (!stopping_) OnUpstreamAnswer(pending, answer, error, timed_out);
  });
}

void FilteredResolver::OnUpstreamAnswer(const std::shared_ptr<Pending>& pending,
                                        std::span<const std::uint8_t> answer, const char* error,
                                        bool timed_out) {
  if (pending->done) return;  // answered with SERVFAIL at the deadline
  Finish(*pending);
  pending->deadline.cancel();
  counters_.upstream_ms.Add(MsSince(pending->started));
  const auto& query = pending->query;
  auto fail = [&](const std::string& why) {
    pending->reply(BuildResponse(query, Rcode::kServFail));
    spdlog::debug("dns: vm {}: {} {}: SERVFAIL: {}", pending->vm, query.name,
                  allowlist::QtypeName(query.type), why);
    Record(timed_out ? Verdict::kUpstreamTimeout : Verdict::kServfail, pending->vm, pending->source,
           query);
  };
  if (answer.empty()) return fail(error ? error : "no answer");
  auto summary = ParseResponse(answer, query.name);
  if (!summary) return fail("a damaged answer");
  // The rules may have changed while the query was out.
  const auto* vm = opener_.policy().FindVmAt(pending->source);
  auto rules = vm && vm->id == pending->vm ? opener_.policy().RulesNaming(vm->id, query.name)
                                           : std::vector<const allowlist::AllowlistRule*>();
  std::erase_if(rules, [&](const auto* rule) { return !rule->AllowsQtype(query.type); });
  if (rules.empty()) {
    Refuse(query, pending->reply);
    return Record(Verdict::kRefused, pending->vm, pending->source, query);
  }
  std::vector<std::uint8_t> out(answer.begin(), answer.end());
  if (summary->has_aaaa) {
    auto stripped = Filtered(out);
    if (!stripped) return fail("an answer that cannot be re-encoded");
    out = std::move(*stripped);
  }
  // The VM's own letter case back in the question (netd asked in lower case).
  if (!RestoreQuestion(out, query)) return fail("an answer to another question");
  std::vector<Ipv4Address> addresses;
  auto ttl_s = static_cast<std::uint32_t>(options_.max_ttl_s);
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
  AdjustTtls(out, 0, OpenSeconds(ttl_s));
  // The cache keeps the answer whole: what a VM may have of it depends on the VM's rules.
  auto denied = Denied(*vm, query, addresses);
  std::vector<Ipv4Address> kept;
  if (!denied.empty()) kept = Without(addresses, denied);
  const auto& opened = denied.empty() ? addresses : kept;
  if (!opened.empty() && !Open(*vm, rules, query, opened, ttl_s)) {
    return fail("the kernel refused the addresses");
  }
  if (!addresses.empty() && summary->rcode == Rcode::kNoError && options_.cache_entries > 0) {
    auto now = std::chrono::steady_clock::now();
    if (cache_.size() >= options_.cache_entries) {
      std::erase_if(cache_, [&](const auto& entry) { return entry.second.expires <= now; });
      if (cache_.size() >= options_.cache_entries) cache_.erase(cache_.begin());
    }
    cache_[CacheKeyOf(query)] = {out, now, now + std::chrono::seconds(ttl_s), addresses, ttl_s};
    counters_.cache_entries = cache_.size();
  }
  if (!denied.empty()) {
    auto filtered = Filtered(out, denied);
    if (!filtered) return fail("an answer that cannot be re-encoded");
    out = std::move(*filtered);
  }
  SetId(out, query.id);
  pending->reply(std::move(out));
  Record(Verdict::kAllowed, pending->vm, pending->source, query, opened);
}

void FilteredResolver::Finish(Pending& pending) {
  pending.done = true;
  --counters_.in_flight;
  if (auto it = in_flight_by_vm_.find(pending.vm);
      it != in_flight_by_vm_.end() && --it->second == 0) {
    in_flight_by_vm_.erase(it);
  }
}

const std::string& FilteredResolver::CacheKeyOf(const Query& query) {
  cache_key_.assign(query.name);
  cache_key_ += '\0';
  cache_key_ += static_cast<char>(query.type >> 8);
  cache_key_ += static_cast<char>(query.type);
  cache_key_ += static_cast<char>(query.klass >> 8);
  cache_key_ += static_cast<char>(query.klass);
  cache_key_ += query.edns_udp_size ? 'e' : '-';
  return cache_key_;
}

std::uint32_t FilteredResolver::OpenSeconds(std::uint32_t ttl_s) const {
  return static_cast<std::uint32_t>(
      std::clamp<std::int64_t>(ttl_s, options_.min_ttl_s, options_.max_ttl_s));
}

std::int64_t FilteredResolver::LifetimeMs(std::uint32_t ttl_s) const {
  auto ttl = std::clamp<std::int64_t>(ttl_s, options_.min_ttl_s, options_.max_ttl_s);
  return (ttl + options_.grace_s) * 1000;
}

bool FilteredResolver::Open(const allowlist::SecureVm& vm,
                            const std::vector<const allowlist::AllowlistRule*>& rules,
                            const Query& query, const std::vector<Ipv4Address>& addresses,
                            std::uint32_t ttl_s) {
  if (addresses.empty()) return true;
  auto started = std::chrono::steady_clock::now();
  try {
    opener_.OpenLearned(vm, rules, query.name, addresses, LifetimeMs(ttl_s));
  } catch (const std::exception& failure) {
    spdlog::error("dns: vm {}: cannot open the addresses of {}: {}", vm.id, query.name,
                  failure.what());
    return false;
  }
  counters_.insert_ms.Add(MsSince(started));
  return true;
}

void FilteredResolver::Refuse(const Query& query, const Responder& reply) {
  reply(BuildResponse(query, options_.refuse_with_nxdomain ? Rcode::kNxDomain : Rcode::kRefused));
}

bool FilteredResolver::WithinNameBudget(Ipv4Address source, std::string_view name) {
  auto [it, fresh] = name_budgets_.try_emplace(source.value(), options_.vm_wildcard_names,
                                               std::chrono::seconds(options_.vm_wildcard_window_s));
  return it->second.Admit(name, std::chrono::steady_clock::now());
}

std::vector<Ipv4Address> FilteredResolver::Denied(const allowlist::SecureVm& vm, const Query& query,
                                                  const std::vector<Ipv4Address>& addresses) {
  std::vector<Ipv4Address> denied;
  for (auto address : addresses) {
    if (!learned_deny_.Contains(address) || opener_.policy().NamesAddress(vm.id, address)) {
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

bool FilteredResolver::MayLog() {
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

bool FilteredResolver::TakeToken(Ipv4Address source) {
  auto now = std::chrono::steady_clock::now();
  auto rate = static_cast<double>(options_.vm_queries_per_second);
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

void FilteredResolver::Record(Verdict verdict, const std::string& vm, Ipv4Address source,
                              const Query& query, const std::vector<Ipv4Address>& addresses) {
  ++counters_.verdicts[static_cast<std::size_t>(verdict)];
  bool routine =
      verdict == Verdict::kAllowed || verdict == Verdict::kCached || verdict == Verdict::kLocal;
  if (routine) {
    if (spdlog::should_log(spdlog::level::debug)) {
      spdlog::debug("dns: vm {}: {} {} {}", vm, query.name, allowlist::QtypeName(query.type),
                    ToString(verdict));
    }
  } else if (MayLog()) {
    spdlog::info("dns: vm={} source={} name={} type={} verdict={}", vm.empty() ? "-" : vm,
                 source.ToString(), query.name.empty() ? "-" : query.name,
                 allowlist::QtypeName(query.type), ToString(verdict));
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

std::vector<FilteredResolver::Decision> FilteredResolver::RecentDecisions(const std::string& vm,
                                                                          std::size_t limit) const {
  std::vector<Decision> out;
  for (std::size_t i = 1; i <= decisions_.size() && out.size() < limit; ++i) {
    const auto& decision = decisions_[(next_decision_ + kDecisionsKept - i) % kDecisionsKept];
    if (vm.empty() || decision.vm == vm) out.push_back(decision);
  }
  return out;
}

}  // namespace netd::dns
