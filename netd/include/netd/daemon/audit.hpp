#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "netd/audit/chain_check.hpp"
#include "netd/daemon/store.hpp"

namespace netd {

// Who asked, from SO_PEERCRED and /proc.
struct Caller {
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::int32_t pid = 0;
  std::string exe;
};

// One decision to record: a mutation that was applied, or one that was refused.
struct AuditEvent {
  Caller caller;
  std::string action;                                 // e.g. "vm.bind"
  std::string object;                                 // e.g. "vm/vm1"
  nlohmann::json request = nlohmann::json::object();  // what was asked, never secrets
  int status = 0;                                     // the HTTP status of the answer
  std::string error_code;                             // empty when the mutation was applied
};

struct AuditVerification {
  bool ok = true;
  std::int64_t length = 0;
  std::optional<std::int64_t> first_bad_seq;
  std::string reason;
};

// The append-only hash chain of every decision: hash = sha256(prev_hash || canonical JSON of
// the record), the first prev_hash being 64 zeros. A mutation and its record commit in one
// store transaction, so neither exists without the other.
class AuditChain {
 public:
  explicit AuditChain(Store& store);

  // Runs `mutation` (store writes, may throw) and appends the record in one transaction.
  // Returns the record's sequence number.
  std::int64_t Record(const AuditEvent& event, const std::function<void()>& mutation = {});

  std::int64_t length() const { return head_seq_; }
  // The records after `after_seq`, at most `limit`, as JSON objects with seq and hashes.
  nlohmann::json Read(std::int64_t after_seq, std::int64_t limit) const;
  // The chain checked record by record, and against `anchors` (those of the anchor file).
  AuditVerification Verify(const std::vector<AuditAnchor>& anchors = {}) const;
  // The stored hash of record `seq` (none when the store does not hold it). Reads one record.
  std::optional<std::string> HashOf(std::int64_t seq) const;
  // The chain's head as an anchor now.
  AuditAnchor Head() const;
  // Called after every record is committed (one listener: the anchor writer).
  void set_on_append(std::function<void()> on_append) { on_append_ = std::move(on_append); }

  static std::int64_t NowMs();

 private:
  Store& store_;
  std::int64_t head_seq_ = 0;
  std::string head_hash_;
  std::function<void()> on_append_;
};

}  // namespace netd
