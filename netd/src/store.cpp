#include "netd/daemon/store.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <array>
#include <cassert>
#include <nlohmann/json.hpp>

namespace netd {

// A prepared statement, reset after every use so it can be cached.
class Store::Statement {
 public:
  Statement(sqlite3* db, std::string_view sql) : db_(db) {
    if (sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                           &stmt_, nullptr) != SQLITE_OK) {
      throw StoreError(fmt::format("cannot prepare \"{}\": {}", sql, sqlite3_errmsg(db)));
    }
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& Bind(int index, std::int64_t value) {
    Check(sqlite3_bind_int64(stmt_, index, value));
    return *this;
  }
  Statement& Bind(int index, std::string_view value) {
    Check(sqlite3_bind_text(stmt_, index, value.data(), static_cast<int>(value.size()),
                            SQLITE_TRANSIENT));
    return *this;
  }
  Statement& BindNullable(int index, const std::optional<std::string>& value) {
    if (value) return Bind(index, std::string_view(*value));
    Check(sqlite3_bind_null(stmt_, index));
    return *this;
  }

  // Steps once; true while a row is available. Resets at the end of the result.
  bool Step() {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
    if (rc != SQLITE_DONE) {
      throw StoreError(fmt::format("{}: {}", sqlite3_sql(stmt_), sqlite3_errmsg(db_)));
    }
    return false;
  }
  void Run() {
    while (Step()) {
    }
  }
  // For statements read partially: resets so the cached statement is ready again.
  void Reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }

  std::int64_t Int(int column) { return sqlite3_column_int64(stmt_, column); }
  std::string Text(int column) {
    const auto* text = sqlite3_column_text(stmt_, column);
    return text ? std::string(reinterpret_cast<const char*>(text)) : std::string();
  }
  bool IsNull(int column) { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }

 private:
  void Check(int rc) {
    if (rc != SQLITE_OK) throw StoreError(fmt::format("bind: {}", sqlite3_errmsg(db_)));
  }

  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

namespace {

// Forward migrations: entry N brings the schema from version N to N+1.
constexpr std::array<std::string_view, Store::kSchemaVersion> kMigrations = {
    R"(CREATE TABLE vm_binding (
         vm TEXT PRIMARY KEY,
         network TEXT NOT NULL,
         ip INTEGER NOT NULL UNIQUE,
         mac INTEGER NOT NULL UNIQUE,
         hostname TEXT,
         created_ms INTEGER NOT NULL);
       CREATE TABLE audit (
         seq INTEGER PRIMARY KEY,
         record TEXT NOT NULL,
         prev_hash TEXT NOT NULL,
         hash TEXT NOT NULL);)",
    // Allowlist rules are kept whole as the canonical JSON the API returns.
    R"(CREATE TABLE allowlist_rule (
         name TEXT PRIMARY KEY,
         rule TEXT NOT NULL);)",
    // A forward's VM address comes from its binding; unbinding a VM closes its forwards.
    R"(CREATE TABLE forward (
         id TEXT PRIMARY KEY,
         vm TEXT NOT NULL,
         client INTEGER NOT NULL,
         listen_port INTEGER NOT NULL,
         vm_port INTEGER NOT NULL,
         created_ms INTEGER NOT NULL,
         expires_ms INTEGER NOT NULL,
         UNIQUE (client, listen_port));)",
    // Rules carry the DNS query types they let through; the ones stored before had A and AAAA.
    // A netd that does not know the field refuses this version rather than the rules.
    R"(UPDATE allowlist_rule
         SET rule = json_set(rule, '$.qtypes', json('["A","AAAA"]'))
         WHERE json_type(rule, '$.qtypes') IS NULL;)",
    // Segmentation groups (issue 17): members and ports as JSON arrays, sorted, once each.
    R"(CREATE TABLE vm_group (
         name TEXT PRIMARY KEY,
         network TEXT NOT NULL,
         members TEXT NOT NULL,
         protocol TEXT NOT NULL,
         ports TEXT NOT NULL,
         comment TEXT NOT NULL,
         created_ms INTEGER NOT NULL,
         updated_ms INTEGER NOT NULL);)",
};

}  // namespace

Store::Store(const std::filesystem::path& path) : path_(path) {
  if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) !=
      SQLITE_OK) {
    std::string message = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    throw StoreError(fmt::format("cannot open state store {}: {}", path.string(), message));
  }
  sqlite3_busy_timeout(db_, 5000);
  try {
    Execute("PRAGMA journal_mode=WAL");
    Execute("PRAGMA synchronous=FULL");
    Migrate();
  } catch (...) {
    statements_.clear();
    sqlite3_close(db_);
    throw;
  }
}

Store::~Store() {
  statements_.clear();
  sqlite3_close(db_);
}

void Store::Execute(std::string_view sql) {
  char* error = nullptr;
  if (sqlite3_exec(db_, std::string(sql).c_str(), nullptr, nullptr, &error) != SQLITE_OK) {
    std::string message = error ? error : sqlite3_errmsg(db_);
    sqlite3_free(error);
    throw StoreError(fmt::format("{}: {}", path_.string(), message));
  }
}

Store::Statement& Store::Prepared(std::string_view sql) {
  for (auto& [text, statement] : statements_) {
    if (text == sql) return *statement;
  }
  statements_.emplace_back(std::string(sql), std::make_unique<Statement>(db_, sql));
  return *statements_.back().second;
}

int Store::schema_version() {
  auto& statement = Prepared("PRAGMA user_version");
  statement.Step();
  auto version = static_cast<int>(statement.Int(0));
  statement.Reset();
  return version;
}

void Store::Migrate() {
  int version = schema_version();
  if (version > kSchemaVersion) {
    throw StoreError(
        fmt::format("state store {} has schema version {}, newer than this netd understands ({}); "
                    "run the newer netd or restore a backup",
                    path_.string(), version, kSchemaVersion));
  }
  for (; version < kSchemaVersion; ++version) {
    Transact([&] {
      Execute(kMigrations[static_cast<std::size_t>(version)]);
      Execute(fmt::format("PRAGMA user_version={}", version + 1));
    });
    spdlog::info("store {}: migrated schema to version {}", path_.string(), version + 1);
  }
}

void Store::Transact(const std::function<void()>& body) {
  Execute("BEGIN IMMEDIATE");
  try {
    body();
    Execute("COMMIT");
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

std::vector<dhcp::VmBinding> Store::LoadBindings() {
  auto& statement =
      Prepared("SELECT vm, network, ip, mac, hostname, created_ms FROM vm_binding ORDER BY vm");
  std::vector<dhcp::VmBinding> bindings;
  while (statement.Step()) {
    dhcp::VmBinding binding;
    binding.vm = statement.Text(0);
    binding.network = statement.Text(1);
    binding.ip = Ipv4Address(static_cast<std::uint32_t>(statement.Int(2)));
    binding.mac = MacAddress(static_cast<std::uint64_t>(statement.Int(3)));
    if (!statement.IsNull(4)) binding.hostname = statement.Text(4);
    binding.created_ms = statement.Int(5);
    bindings.push_back(std::move(binding));
  }
  return bindings;
}

void Store::InsertBinding(const dhcp::VmBinding& binding) {
  Prepared(
      "INSERT INTO vm_binding (vm, network, ip, mac, hostname, created_ms) "
      "VALUES (?, ?, ?, ?, ?, ?)")
      .Bind(1, binding.vm)
      .Bind(2, binding.network)
      .Bind(3, std::int64_t{binding.ip.value()})
      .Bind(4, static_cast<std::int64_t>(binding.mac.value()))
      .BindNullable(5, binding.hostname)
      .Bind(6, binding.created_ms)
      .Run();
}

void Store::UpdateHostname(std::string_view vm, const std::optional<std::string>& hostname) {
  Prepared("UPDATE vm_binding SET hostname = ? WHERE vm = ?")
      .BindNullable(1, hostname)
      .Bind(2, vm)
      .Run();
}

void Store::DeleteBinding(std::string_view vm) {
  Prepared("DELETE FROM vm_binding WHERE vm = ?").Bind(1, vm).Run();
}

std::vector<std::string> Store::LoadAllowlistRules() {
  auto& statement = Prepared("SELECT rule FROM allowlist_rule ORDER BY name");
  std::vector<std::string> rules;
  while (statement.Step()) rules.push_back(statement.Text(0));
  return rules;
}

void Store::PutAllowlistRule(std::string_view name, std::string_view rule) {
  Prepared("INSERT OR REPLACE INTO allowlist_rule (name, rule) VALUES (?, ?)")
      .Bind(1, name)
      .Bind(2, rule)
      .Run();
}

void Store::DeleteAllowlistRule(std::string_view name) {
  Prepared("DELETE FROM allowlist_rule WHERE name = ?").Bind(1, name).Run();
}

std::vector<StoredGroup> Store::LoadGroups() {
  auto& statement = Prepared(
      "SELECT name, network, members, protocol, ports, comment, created_ms, updated_ms "
      "FROM vm_group ORDER BY name");
  std::vector<StoredGroup> groups;
  while (statement.Step()) {
    StoredGroup stored;
    auto& group = stored.group;
    group.name = statement.Text(0);
    group.network = statement.Text(1);
    group.protocol = statement.Text(3);
    group.comment = statement.Text(5);
    stored.created_ms = statement.Int(6);
    stored.updated_ms = statement.Int(7);
    try {
      group.members = nlohmann::json::parse(statement.Text(2)).get<std::set<std::string>>();
      group.ports = nlohmann::json::parse(statement.Text(4)).get<std::set<std::uint16_t>>();
    } catch (const nlohmann::json::exception& error) {
      statement.Reset();
      throw StoreError(fmt::format("{}: group {} has unreadable members or ports: {}",
                                   path_.string(), group.name, error.what()));
    }
    groups.push_back(std::move(stored));
  }
  return groups;
}

void Store::PutGroup(const StoredGroup& stored) {
  const auto& group = stored.group;
  Prepared(
      "INSERT OR REPLACE INTO vm_group "
      "(name, network, members, protocol, ports, comment, created_ms, updated_ms) "
      "VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
      .Bind(1, group.name)
      .Bind(2, group.network)
      .Bind(3, nlohmann::json(group.members).dump())
      .Bind(4, group.protocol)
      .Bind(5, nlohmann::json(group.ports).dump())
      .Bind(6, group.comment)
      .Bind(7, stored.created_ms)
      .Bind(8, stored.updated_ms)
      .Run();
}

void Store::DeleteGroup(std::string_view name) {
  Prepared("DELETE FROM vm_group WHERE name = ?").Bind(1, name).Run();
}

std::vector<proxy::Forward> Store::LoadForwards() {
  auto& statement = Prepared(
      "SELECT id, vm, client, listen_port, vm_port, created_ms, expires_ms FROM forward "
      "ORDER BY id");
  std::vector<proxy::Forward> forwards;
  while (statement.Step()) {
    proxy::Forward forward;
    forward.id = statement.Text(0);
    forward.vm = statement.Text(1);
    forward.client = Ipv4Address(static_cast<std::uint32_t>(statement.Int(2)));
    forward.listen_port = static_cast<std::uint16_t>(statement.Int(3));
    forward.vm_port = static_cast<std::uint16_t>(statement.Int(4));
    forward.created_ms = statement.Int(5);
    forward.expires_ms = statement.Int(6);
    forwards.push_back(std::move(forward));
  }
  return forwards;
}

void Store::InsertForward(const proxy::Forward& forward) {
  Prepared(
      "INSERT INTO forward (id, vm, client, listen_port, vm_port, created_ms, expires_ms) "
      "VALUES (?, ?, ?, ?, ?, ?, ?)")
      .Bind(1, forward.id)
      .Bind(2, forward.vm)
      .Bind(3, static_cast<std::int64_t>(forward.client.value()))
      .Bind(4, static_cast<std::int64_t>(forward.listen_port))
      .Bind(5, static_cast<std::int64_t>(forward.vm_port))
      .Bind(6, forward.created_ms)
      .Bind(7, forward.expires_ms)
      .Run();
}

void Store::UpdateForwardExpiry(std::string_view id, std::int64_t expires_ms) {
  Prepared("UPDATE forward SET expires_ms = ? WHERE id = ?").Bind(1, expires_ms).Bind(2, id).Run();
}

void Store::DeleteForward(std::string_view id) {
  Prepared("DELETE FROM forward WHERE id = ?").Bind(1, id).Run();
}

void Store::AppendAudit(const AuditEntry& entry) {
  Prepared("INSERT INTO audit (seq, record, prev_hash, hash) VALUES (?, ?, ?, ?)")
      .Bind(1, entry.seq)
      .Bind(2, entry.record)
      .Bind(3, entry.prev_hash)
      .Bind(4, entry.hash)
      .Run();
}

std::optional<AuditEntry> Store::LastAudit() {
  auto& statement =
      Prepared("SELECT seq, record, prev_hash, hash FROM audit ORDER BY seq DESC LIMIT 1");
  if (!statement.Step()) return std::nullopt;
  AuditEntry entry{statement.Int(0), statement.Text(1), statement.Text(2), statement.Text(3)};
  statement.Reset();
  return entry;
}

std::vector<AuditEntry> Store::ReadAudit(std::int64_t after_seq, std::int64_t limit) {
  auto& statement =
      Prepared("SELECT seq, record, prev_hash, hash FROM audit WHERE seq > ? ORDER BY seq LIMIT ?");
  statement.Bind(1, after_seq).Bind(2, limit);
  std::vector<AuditEntry> entries;
  while (statement.Step()) {
    entries.push_back({statement.Int(0), statement.Text(1), statement.Text(2), statement.Text(3)});
  }
  return entries;
}

std::int64_t Store::AuditLength() {
  auto& statement = Prepared("SELECT count(*) FROM audit");
  statement.Step();
  auto count = statement.Int(0);
  statement.Reset();
  return count;
}

}  // namespace netd
