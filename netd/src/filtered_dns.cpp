#include "netd/daemon/filtered_dns.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "netd/daemon/gateway_firewall.hpp"

namespace netd {
namespace {

constexpr std::size_t kDecisionsKept = 1000;
constexpr std::uint64_t kLogLinesPerSecond = 20;
constexpr std::uint32_t kLocalTtlS = 60;
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

std::string TypeName(std::uint16_t type) {
  switch (type) {
    case dns::type::kA:
      return "A";
    case dns::type::kAaaa:
      return "AAAA";
    case dns::type::kCname:
      return "CNAME";
    case dns::type::kTxt:
      return "TXT";
    case dns::type::kMx:
      return "MX";
    case dns::type::kAny:
      return "ANY";
    default:
      return "TYPE" + std::to_string(type);
  }
}

}  // namespace

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
  const auto& policy = firewall_.policy();
  const auto* vm = policy.FindVmAt(source);
  Decision decision{NowMs(), vm ? vm->id : "", source, query.name, query.type, "", {}};
  if (!vm) {
    reply(dns::BuildResponse(query, dns::Rcode::kRefused));
    decision.verdict = "unknown_source";
    return Record(std::move(decision));
  }
  if (!TakeToken(source)) {
    reply(dns::BuildResponse(query, dns::Rcode::kRefused));
    decision.verdict = "rate_limited";
    return Record(std::move(decision));
  }
  if (query.plain_name && query.klass == 1) {
    if (auto local = config_.dns.local_names.find(query.name);
        local != config_.dns.local_names.end()) {
      reply(dns::BuildAddressAnswer(query, {local->second}, kLocalTtlS));
      decision.verdict = "local";
      return Record(std::move(decision));
    }
  }
  if (!query.plain_name || query.klass != 1 || policy.RulesNaming(vm->id, query.name).empty()) {
    Refuse(query, reply);
    ++counters_.refused_by_vm[vm->id];
    decision.verdict = "refused";
    return Record(std::move(decision));
  }

  CacheKey key{query.name, query.type, query.klass, query.edns_udp_size.has_value()};
  auto now = std::chrono::steady_clock::now();
  if (auto cached = cache_.find(key); cached != cache_.end()) {
    if (cached->second.expires > now) {
      auto age_s = static_cast<std::uint32_t>(
          std::chrono::duration_cast<std::chrono::seconds>(now - cached->second.stored).count());
      auto remaining = cached->second.ttl_s > age_s ? cached->second.ttl_s - age_s : 0;
      // The addresses are open for this VM (again) before it sees them.
      if (!Open(vm->id, query, cached->second.addresses, remaining)) {
        reply(dns::BuildResponse(query, dns::Rcode::kServFail));
        decision.verdict = "servfail";
        return Record(std::move(decision));
      }
      auto answer = cached->second.answer;
      dns::AdjustTtls(answer, age_s, static_cast<std::uint32_t>(config_.dns.max_ttl_s));
      std::copy(query.question_wire.begin(), query.question_wire.end(), answer.begin() + 12);
      dns::SetId(answer, query.id);
      reply(std::move(answer));
      decision.verdict = "cached";
      decision.addresses = cached->second.addresses;
      return Record(std::move(decision));
    }
    cache_.erase(cached);
  }

  if (counters_.in_flight >= config_.dns.max_in_flight) {
    reply(dns::BuildResponse(query, dns::Rcode::kServFail));
    decision.verdict = "overloaded";
    return Record(std::move(decision));
  }
  auto pending = std::make_shared<Pending>(io_, query, vm->id, source, std::move(reply));
  ++counters_.in_flight;
  pending->deadline.expires_after(std::chrono::milliseconds(config_.dns.upstream_timeout_ms));
  pending->deadline.async_wait([this, pending](boost::system::error_code error) {
    if (error || pending->done) return;
    pending->done = true;
    --counters_.in_flight;
    pending->reply(dns::BuildResponse(pending->query, dns::Rcode::kServFail));
    Record({NowMs(),
            pending->vm,
            pending->source,
            pending->query.name,
            pending->query.type,
            "upstream_timeout",
            {}});
  });
  upstream_->Send(dns::BuildUpstreamQuery(query),
                  [this, pending](std::span<const std::uint8_t> answer, const char* error) {
                    if (!stopping_) OnUpstreamAnswer(pending, answer, error);
                  });
}

void FilteredDns::OnUpstreamAnswer(const std::shared_ptr<Pending>& pending,
                                   std::span<const std::uint8_t> answer, const char* error) {
  if (pending->done) return;  // answered with SERVFAIL at the deadline
  pending->done = true;
  pending->deadline.cancel();
  --counters_.in_flight;
  counters_.upstream_ms.Add(MsSince(pending->started));
  const auto& query = pending->query;
  Decision decision{NowMs(), pending->vm, pending->source, query.name, query.type, "", {}};
  auto fail = [&](const std::string& why) {
    pending->reply(dns::BuildResponse(query, dns::Rcode::kServFail));
    decision.verdict = "servfail";
    spdlog::debug("dns: vm {}: {} {}: SERVFAIL: {}", pending->vm, query.name, TypeName(query.type),
                  why);
    Record(std::move(decision));
  };
  if (answer.empty()) return fail(error ? error : "no answer");
  auto summary = dns::ParseResponse(answer, query.name);
  if (!summary) return fail("a damaged answer");
  // The rules may have changed while the query was out.
  const auto* vm = firewall_.policy().FindVmAt(pending->source);
  if (!vm || vm->id != pending->vm || firewall_.policy().RulesNaming(vm->id, query.name).empty()) {
    Refuse(query, pending->reply);
    decision.verdict = "refused";
    return Record(std::move(decision));
  }
  std::vector<std::uint8_t> out(answer.begin(), answer.end());
  if (summary->has_aaaa) {
    auto stripped = dns::WithoutAaaa(out);
    if (!stripped) return fail("an answer that cannot be re-encoded");
    out = std::move(*stripped);
  }
  std::vector<Ipv4Address> addresses;
  std::uint32_t ttl_s = UINT32_MAX;
  for (const auto& record : summary->addresses) {
    if (std::find(addresses.begin(), addresses.end(), record.address) == addresses.end()) {
      addresses.push_back(record.address);
    }
    ttl_s = std::min(ttl_s, record.ttl);
  }
  if (!addresses.empty() && !Open(vm->id, query, addresses, ttl_s)) {
    return fail("the kernel refused the addresses");
  }
  dns::AdjustTtls(out, 0, static_cast<std::uint32_t>(config_.dns.max_ttl_s));
  if (!addresses.empty() && summary->rcode == dns::Rcode::kNoError &&
      config_.dns.cache_entries > 0) {
    if (cache_.size() >= config_.dns.cache_entries) {
      auto now = std::chrono::steady_clock::now();
      std::erase_if(cache_, [&](const auto& entry) { return entry.second.expires <= now; });
      if (cache_.size() >= config_.dns.cache_entries) cache_.erase(cache_.begin());
    }
    auto now = std::chrono::steady_clock::now();
    cache_[{query.name, query.type, query.klass, query.edns_udp_size.has_value()}] = {
        out, now, now + std::chrono::seconds(ttl_s), addresses, ttl_s};
    counters_.cache_entries = cache_.size();
  }
  dns::SetId(out, query.id);
  pending->reply(std::move(out));
  decision.verdict = "allowed";
  decision.addresses = std::move(addresses);
  Record(std::move(decision));
}

std::int64_t FilteredDns::LifetimeMs(std::uint32_t ttl_s) const {
  auto ttl = std::clamp<std::int64_t>(ttl_s, config_.dns.min_ttl_s, config_.dns.max_ttl_s);
  return (ttl + config_.dns.grace_s) * 1000;
}

bool FilteredDns::Open(const std::string& vm_id, const dns::Query& query,
                       const std::vector<Ipv4Address>& addresses, std::uint32_t ttl_s) {
  if (addresses.empty()) return true;
  const auto& policy = firewall_.policy();
  const auto* vm = policy.FindVm(vm_id);
  if (!vm) return false;
  auto started = std::chrono::steady_clock::now();
  try {
    firewall_.OpenLearned(*vm, policy.RulesNaming(vm_id, query.name), query.name, addresses,
                          LifetimeMs(ttl_s));
  } catch (const std::exception& failure) {
    spdlog::error("dns: vm {}: cannot open the addresses of {}: {}", vm_id, query.name,
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

void FilteredDns::Record(Decision decision) {
  ++counters_.verdicts[decision.verdict];
  auto now = std::chrono::steady_clock::now();
  if (now - log_window_ >= std::chrono::seconds(1)) {
    if (suppressed_ > 0) spdlog::info("dns: {} more decisions not logged", suppressed_);
    log_window_ = now;
    logged_in_window_ = 0;
    suppressed_ = 0;
  }
  bool routine =
      decision.verdict == "allowed" || decision.verdict == "cached" || decision.verdict == "local";
  if (routine) {
    if (spdlog::should_log(spdlog::level::debug)) {
      spdlog::debug("dns: vm {}: {} {} {}", decision.vm, decision.name, TypeName(decision.type),
                    decision.verdict);
    }
  } else if (logged_in_window_ < kLogLinesPerSecond) {
    ++logged_in_window_;
    spdlog::info("dns: vm={} source={} name={} type={} verdict={}",
                 decision.vm.empty() ? "-" : decision.vm, decision.source.ToString(),
                 decision.name.empty() ? "-" : decision.name, TypeName(decision.type),
                 decision.verdict);
  } else {
    ++suppressed_;
  }
  decisions_.push_front(std::move(decision));
  if (decisions_.size() > kDecisionsKept) decisions_.pop_back();
}

std::vector<FilteredDns::Decision> FilteredDns::RecentDecisions(const std::string& vm,
                                                                std::size_t limit) const {
  std::vector<Decision> out;
  for (const auto& decision : decisions_) {
    if (out.size() >= limit) break;
    if (vm.empty() || decision.vm == vm) out.push_back(decision);
  }
  return out;
}

}  // namespace netd
