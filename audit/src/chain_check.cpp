#include "netd/audit/chain_check.hpp"

#include <fmt/format.h>
#include <openssl/evp.h>

#include <nlohmann/json.hpp>
#include <stdexcept>

namespace netd {

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr) != 1) {
    throw std::runtime_error("SHA-256 failed in OpenSSL");
  }
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(length * 2);
  for (unsigned int i = 0; i < length; ++i) {
    hex += kDigits[digest[i] >> 4];
    hex += kDigits[digest[i] & 0xf];
  }
  return hex;
}

std::string FormatAnchor(const AuditAnchor& anchor) {
  return nlohmann::json{{"seq", anchor.seq}, {"hash", anchor.hash}, {"time_ms", anchor.time_ms}}
      .dump();
}

std::vector<AuditAnchor> ParseAnchors(std::string_view text) {
  std::vector<AuditAnchor> anchors;
  std::size_t number = 0;
  while (!text.empty()) {
    auto end = text.find('\n');
    auto line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    ++number;
    if (line.empty()) continue;
    auto object = nlohmann::json::parse(line, nullptr, false);
    bool valid = object.is_object() && object.contains("seq") &&
                 object["seq"].is_number_integer() && object["seq"].get<std::int64_t>() >= 1 &&
                 object.contains("hash") && object["hash"].is_string() &&
                 object["hash"].get<std::string>().size() == 64;
    if (!valid) {
      throw std::invalid_argument(fmt::format(
          "line {}: expected an anchor such as {{\"hash\":\"<64 hex digits>\",\"seq\":1,"
          "\"time_ms\":1795872369306}}",
          number));
    }
    anchors.push_back({object["seq"].get<std::int64_t>(), object["hash"].get<std::string>(),
                       object.value("time_ms", std::int64_t{0})});
  }
  return anchors;
}

ChainCheck::ChainCheck(const std::vector<AuditAnchor>& anchors) {
  for (const auto& anchor : anchors) anchored_[anchor.seq] = anchor.hash;
}

void ChainCheck::Fail(std::int64_t seq, std::string reason) {
  first_bad_seq_ = seq;
  reason_ = std::move(reason);
}

bool ChainCheck::Add(std::int64_t seq, std::string_view record, std::string_view prev_hash,
                     std::string_view hash) {
  if (!ok()) return false;
  auto parsed = nlohmann::json::parse(record, nullptr, false);
  if (seq != expected_seq_) {
    Fail(expected_seq_,
         fmt::format("record {} is missing (the next stored record is {})", expected_seq_, seq));
  } else if (!parsed.is_object() || !parsed.contains("seq") || parsed["seq"] != seq) {
    Fail(seq, "the record does not carry its own sequence number");
  } else if (prev_hash != prev_hash_) {
    Fail(seq, "prev_hash does not match the hash of the record before it");
  } else if (HashRecord(prev_hash, record) != hash) {
    Fail(seq, "the hash does not match the record's content");
  } else if (auto anchor = anchored_.find(seq);
             anchor != anchored_.end() && anchor->second != hash) {
    Fail(seq, fmt::format("the hash of record {} differs from its anchor (records edited, "
                          "inserted or removed up to it)",
                          seq));
  }
  if (!ok()) return false;
  prev_hash_ = std::string(hash);
  ++expected_seq_;
  return true;
}

bool ChainCheck::Finish() {
  if (!ok()) return false;
  if (!anchored_.empty() && anchored_.rbegin()->first > last_seq()) {
    Fail(last_seq() + 1, fmt::format("the chain ends at record {} but an anchor names record {} "
                                     "(records removed from the end)",
                                     last_seq(), anchored_.rbegin()->first));
  }
  return ok();
}

}  // namespace netd
