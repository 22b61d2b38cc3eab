#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "netd/dhcp/ipam.hpp"
#include "netd/policy/published.hpp"
#include "netd/proxy/forward_table.hpp"

namespace netd {

class StoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// One stored audit record: `record` is the canonical JSON that was hashed.
struct AuditEntry {
  std::int64_t seq = 0;
  std::string record;
  std::string prev_hash;
  std::string hash;
};

// A segmentation group as the gateway keeps it: what it publishes, and when it was created and
// last changed.
struct StoredGroup {
  policy::PublishedGroup group;
  std::int64_t created_ms = 0;
  std::int64_t updated_ms = 0;
  friend bool operator==(const StoredGroup&, const StoredGroup&) = default;
};

// The desired state on disk: SQLite in WAL mode with synchronous=FULL, so a commit that
// returned survives kill -9 and power loss. Single-threaded use from the daemon's loop.
class Store {
 public:
  // Opens (creating if needed) and migrates the schema forward to the current version.
  explicit Store(const std::filesystem::path& path);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  static constexpr int kSchemaVersion = 5;
  int schema_version();

  // Runs `body` in one immediate transaction: committed if it returns, rolled back if it
  // throws (the exception propagates).
  void Transact(const std::function<void()>& body);

  std::vector<dhcp::VmBinding> LoadBindings();
  void InsertBinding(const dhcp::VmBinding& binding);
  void UpdateHostname(std::string_view vm, const std::optional<std::string>& hostname);
  void DeleteBinding(std::string_view vm);

  // Allowlist rules as canonical JSON text, ordered by name.
  std::vector<std::string> LoadAllowlistRules();
  void PutAllowlistRule(std::string_view name, std::string_view rule);
  void DeleteAllowlistRule(std::string_view name);

  // Segmentation groups, ordered by name. Throws StoreError for a row that is not a group.
  std::vector<StoredGroup> LoadGroups();
  void PutGroup(const StoredGroup& group);
  void DeleteGroup(std::string_view name);

  // Forwards without their VM's address (that is the binding's), ordered by id.
  std::vector<proxy::Forward> LoadForwards();
  void InsertForward(const proxy::Forward& forward);
  void UpdateForwardExpiry(std::string_view id, std::int64_t expires_ms);
  void DeleteForward(std::string_view id);

  void AppendAudit(const AuditEntry& entry);
  std::optional<AuditEntry> LastAudit();
  std::vector<AuditEntry> ReadAudit(std::int64_t after_seq, std::int64_t limit);
  std::int64_t AuditLength();

 private:
  class Statement;
  void Execute(std::string_view sql);
  Statement& Prepared(std::string_view sql);
  void Migrate();

  std::filesystem::path path_;
  sqlite3* db_ = nullptr;
  std::vector<std::pair<std::string, std::unique_ptr<Statement>>> statements_;
};

}  // namespace netd
