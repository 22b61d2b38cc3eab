#include "netd/daemon/audit.hpp"

#include <fmt/format.h>
#include <openssl/evp.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <memory>

namespace netd {
namespace {

const std::string kGenesisHash(64, '0');

std::string HashRecord(const std::string& prev_hash, const std::string& record) {
  return AuditChain::Sha256Hex(prev_hash + record);
}

}  // namespace

std::string AuditChain::Sha256Hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr) != 1) {
    throw std::runtime_error("SHA-256 failed in OpenSSL");
  }
  std::string hex;
  hex.reserve(length * 2);
  for (unsigned int i = 0; i < length; ++i) hex += fmt::format("{:02x}", digest[i]);
  return hex;
}

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

AuditVerification AuditChain::Verify() const {
  AuditVerification result;
  result.length = store_.AuditLength();
  auto fail = [&](std::int64_t seq, std::string reason) {
    result.ok = false;
    result.first_bad_seq = seq;
    result.reason = std::move(reason);
  };
  std::string prev_hash = kGenesisHash;
  std::int64_t expected_seq = 1;
  constexpr std::int64_t kPage = 4096;
  for (std::int64_t after = 0; result.ok;) {
    auto page = store_.ReadAudit(after, kPage);
    for (const auto& entry : page) {
      auto record = nlohmann::json::parse(entry.record, nullptr, false);
      if (entry.seq != expected_seq) {
        fail(expected_seq, fmt::format("record {} is missing (the next stored record is {})",
                                       expected_seq, entry.seq));
      } else if (record.is_discarded() || !record.contains("seq") || record["seq"] != entry.seq) {
        fail(entry.seq, "the record does not carry its own sequence number");
      } else if (entry.prev_hash != prev_hash) {
        fail(entry.seq, "prev_hash does not match the hash of the record before it");
      } else if (HashRecord(entry.prev_hash, entry.record) != entry.hash) {
        fail(entry.seq, "the hash does not match the record's content");
      }
      if (!result.ok) break;
      prev_hash = entry.hash;
      ++expected_seq;
    }
    if (static_cast<std::int64_t>(page.size()) < kPage) break;
    after = page.back().seq;
  }
  // Records removed from the end leave a valid chain; the running daemon still knows how long
  // its chain was.
  if (result.ok && expected_seq - 1 != head_seq_) {
    fail(expected_seq, fmt::format("the chain ends at record {} but {} records were written",
                                   expected_seq - 1, head_seq_));
  }
  return result;
}

}  // namespace netd
