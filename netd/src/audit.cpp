#include "netd/daemon/audit.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <memory>

namespace netd {
std::int64_t AuditChain::NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

AuditChain::AuditChain(Store& store) : store_(store), head_hash_(kGenesisHash) {
  if (auto last = store_.LastAudit()) {
    head_seq_ = last->seq;
    head_hash_ = last->hash;
  }
}

std::int64_t AuditChain::Record(const AuditEvent& event, const std::function<void()>& mutation) {
  // nlohmann::json orders object keys, and dump() without indent has no whitespace: that is
  // the canonical form that gets hashed.
  nlohmann::json record = {
      {"seq", head_seq_ + 1},
      {"time_ms", NowMs()},
      {"caller",
       {{"uid", event.caller.uid},
        {"gid", event.caller.gid},
        {"pid", event.caller.pid},
        {"exe", event.caller.exe}}},
      {"action", event.action},
      {"object", event.object},
      {"request", event.request},
      {"result", event.error_code.empty() ? "ok" : "refused"},
      {"status", event.status},
  };
  if (!event.error_code.empty()) record["error_code"] = event.error_code;
  // Bytes that are not UTF-8 (a percent-decoded path, say) become U+FFFD instead of failing.
  AuditEntry entry{head_seq_ + 1,
                   record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                   head_hash_, ""};
  entry.hash = HashRecord(entry.prev_hash, entry.record);
  store_.Transact([&] {
    if (mutation) mutation();
    store_.AppendAudit(entry);
  });
  head_seq_ = entry.seq;
  head_hash_ = entry.hash;
  if (on_append_) on_append_();
  return entry.seq;
}

nlohmann::json AuditChain::Read(std::int64_t after_seq, std::int64_t limit) const {
  auto records = nlohmann::json::array();
  for (const auto& entry : store_.ReadAudit(after_seq, limit)) {
    auto record = nlohmann::json::parse(entry.record, nullptr, false);
    if (record.is_discarded()) record = {{"seq", entry.seq}, {"unparsable", entry.record}};
    record["prev_hash"] = entry.prev_hash;
    record["hash"] = entry.hash;
    records.push_back(std::move(record));
  }
  return records;
}

std::optional<std::string> AuditChain::HashOf(std::int64_t seq) const {
  auto entries = store_.ReadAudit(seq - 1, 1);
  if (entries.empty() || entries.front().seq != seq) return std::nullopt;
  return entries.front().hash;
}

AuditAnchor AuditChain::Head() const {
  return {head_seq_, head_hash_, NowMs()};
}

AuditVerification AuditChain::Verify(const std::vector<AuditAnchor>& anchors) const {
  AuditVerification result;
  result.length = store_.AuditLength();
  ChainCheck check(anchors);
  constexpr std::int64_t kPage = 4096;
  for (std::int64_t after = 0;;) {
    auto page = store_.ReadAudit(after, kPage);
    for (const auto& entry : page) {
      if (!check.Add(entry.seq, entry.record, entry.prev_hash, entry.hash)) break;
    }
    if (!check.ok() || static_cast<std::int64_t>(page.size()) < kPage) break;
    after = page.back().seq;
  }
  // Records removed from the end leave a valid chain; an anchor, or the running daemon, still
  // knows how long it was.
  if (check.Finish() && check.last_seq() != head_seq_) {
    result.ok = false;
    result.first_bad_seq = check.last_seq() + 1;
    result.reason = fmt::format("the chain ends at record {} but {} records were written",
                                check.last_seq(), head_seq_);
  } else if (!check.ok()) {
    result.ok = false;
    result.first_bad_seq = check.first_bad_seq();
    result.reason = check.reason();
  }
  return result;
}

}  // namespace netd
