#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace netd {

// The audit chain's arithmetic, shared by netd (which writes and verifies the chain in its
// store) and netctl (which verifies an exported chain elsewhere): docs/api.md, "The audit
// chain".

// Lowercase hex of SHA-256(`data`).
std::string Sha256Hex(std::string_view data);
// The prev_hash of record 1.
inline const std::string kGenesisHash(64, '0');
// A record's hash: SHA-256 of the previous record's hash (as hex text) and the record's bytes.
inline std::string HashRecord(std::string_view prev_hash, std::string_view record) {
  return Sha256Hex(std::string(prev_hash) + std::string(record));
}

// The chain's head at one moment, kept outside the store: an anchor file holds one per line as
// JSON ({"hash":…,"seq":N,"time_ms":T}), appended as the chain grows and shipped off the host,
// and the same line goes to syslog (docs/api.md, "Anchors").
struct AuditAnchor {
  std::int64_t seq = 0;
  std::string hash;
  std::int64_t time_ms = 0;
  friend bool operator==(const AuditAnchor&, const AuditAnchor&) = default;
};
std::string FormatAnchor(const AuditAnchor& anchor);
// The anchors of a file's text, in order; std::invalid_argument naming the line of one that is
// not an anchor.
std::vector<AuditAnchor> ParseAnchors(std::string_view text);

// Checks a chain record by record in stored order, and against anchors of its head kept
// elsewhere; the first failure is kept. Detects a record edited (its hash), inserted or removed
// (the sequence, prev_hash, or an anchor's hash further on), and records cut from the end (an
// anchor past the last record), though the chain that is left is valid in itself.
class ChainCheck {
 public:
  explicit ChainCheck(const std::vector<AuditAnchor>& anchors = {});

  // The next stored record: its row's sequence number, the stored bytes, prev_hash and hash.
  // False once the chain failed, here or before.
  bool Add(std::int64_t seq, std::string_view record, std::string_view prev_hash,
           std::string_view hash);
  // After the last record; false when the chain failed or an anchor names a record past it.
  bool Finish();

  bool ok() const { return reason_.empty(); }
  // The first sequence number that fails, and why (when !ok()).
  std::int64_t first_bad_seq() const { return first_bad_seq_; }
  const std::string& reason() const { return reason_; }
  // The last record that passed.
  std::int64_t last_seq() const { return expected_seq_ - 1; }

 private:
  void Fail(std::int64_t seq, std::string reason);

  std::map<std::int64_t, std::string> anchored_;  // seq -> hash
  std::int64_t expected_seq_ = 1;
  std::string prev_hash_ = kGenesisHash;
  std::int64_t first_bad_seq_ = 0;
  std::string reason_;
};

}  // namespace netd
