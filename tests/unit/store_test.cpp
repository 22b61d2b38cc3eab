#include "netd/daemon/store.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include "netd/lab/temp_dir.hpp"

namespace netd {
namespace {

dhcp::VmBinding Binding(const std::string& vm, const char* ip) {
  auto address = *Ipv4Address::Parse(ip);
  return {vm, "secure", address, MacAddress::ForVmAddress(address), std::nullopt, 1234};
}

TEST(Store, CreatesTheCurrentSchemaAndKeepsBindingsAcrossReopen) {
  lab::TempDir dir("unit");
  {
    Store store(dir.path() / "netd.db");
    EXPECT_EQ(store.schema_version(), Store::kSchemaVersion);
    store.Transact([&] { store.InsertBinding(Binding("vm1", "192.168.129.1")); });
    auto named = Binding("vm2", "192.168.129.2");
    named.hostname = "h2";
    store.Transact([&] { store.InsertBinding(named); });
    store.Transact([&] { store.UpdateHostname("vm1", "h1"); });
  }
  Store store(dir.path() / "netd.db");
  auto bindings = store.LoadBindings();
  ASSERT_EQ(bindings.size(), 2u);
  EXPECT_EQ(bindings[0].hostname, "h1");
  EXPECT_EQ(bindings[1], [] {
    auto b = Binding("vm2", "192.168.129.2");
    b.hostname = "h2";
    return b;
  }());
}

TEST(Store, AFailedTransactionLeavesNothing) {
  lab::TempDir dir("unit");
  Store store(dir.path() / "netd.db");
  store.Transact([&] { store.InsertBinding(Binding("vm1", "192.168.129.1")); });
  // The same IP twice violates the UNIQUE constraint: the whole transaction rolls back.
  EXPECT_THROW(store.Transact([&] {
    store.InsertBinding(Binding("vm2", "192.168.129.2"));
    store.InsertBinding(Binding("vm3", "192.168.129.1"));
  }),
               StoreError);
  EXPECT_EQ(store.LoadBindings().size(), 1u);
}

TEST(Store, RefusesASchemaFromTheFuture) {
  lab::TempDir dir("unit");
  { Store store(dir.path() / "netd.db"); }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir.path() / "netd.db").c_str(), &db), SQLITE_OK);
  sqlite3_exec(db, "PRAGMA user_version=99", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  try {
    Store store(dir.path() / "netd.db");
    FAIL() << "opened a store with schema version 99";
  } catch (const StoreError& error) {
    EXPECT_NE(std::string(error.what()).find("schema version 99"), std::string::npos);
  }
}

TEST(Store, RulesStoredBeforeQtypesGetAAndAaaa) {
  lab::TempDir dir("unit");
  { Store store(dir.path() / "netd.db"); }
  // A version-3 store: its rules have no qtypes, and it has no groups yet.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir.path() / "netd.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db,
                         "PRAGMA user_version=3; DROP TABLE vm_group; "
                         "INSERT INTO allowlist_rule (name, rule) VALUES "
                         "('lic', '{\"destinations\":[\"lic.example.org\"],\"rule\":\"lic\"}'), "
                         "('txt', '{\"qtypes\":[\"TXT\"],\"rule\":\"txt\"}')",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  Store store(dir.path() / "netd.db");
  EXPECT_EQ(store.schema_version(), Store::kSchemaVersion);
  auto rules = store.LoadAllowlistRules();
  ASSERT_EQ(rules.size(), 2u);
  EXPECT_EQ(rules[0], R"({"destinations":["lic.example.org"],"rule":"lic","qtypes":["A","AAAA"]})");
  EXPECT_EQ(rules[1], R"({"qtypes":["TXT"],"rule":"txt"})") << "a rule that has them keeps them";
}

TEST(Store, GroupsKeepTheirMembersPortsAndTimesAcrossReopen) {
  lab::TempDir dir("unit");
  StoredGroup slurm{{"slurm", "secure", {"vm1", "vm2"}, "tcp", {22, 6817}, "jobs"}, 100, 200};
  StoredGroup cluster{{"cluster", "secure", {}, "all", {}, ""}, 300, 300};
  {
    Store store(dir.path() / "netd.db");
    store.Transact([&] {
      store.PutGroup(slurm);
      store.PutGroup(cluster);
    });
    slurm.group.members.insert("vm3");
    slurm.updated_ms = 400;
    store.Transact([&] { store.PutGroup(slurm); });
  }
  Store store(dir.path() / "netd.db");
  EXPECT_EQ(store.LoadGroups(), (std::vector<StoredGroup>{cluster, slurm})) << "ordered by name";
  store.Transact([&] { store.DeleteGroup("cluster"); });
  EXPECT_EQ(store.LoadGroups(), std::vector<StoredGroup>{slurm});
}

TEST(Store, AVersion4StoreGainsTheGroupsTable) {
  lab::TempDir dir("unit");
  { Store store(dir.path() / "netd.db"); }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir.path() / "netd.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(
      sqlite3_exec(db, "PRAGMA user_version=4; DROP TABLE vm_group", nullptr, nullptr, nullptr),
      SQLITE_OK);
  sqlite3_close(db);
  Store store(dir.path() / "netd.db");
  EXPECT_EQ(store.schema_version(), 5);
  EXPECT_TRUE(store.LoadGroups().empty());
}

TEST(Store, UsesWriteAheadLogging) {
  lab::TempDir dir("unit");
  Store store(dir.path() / "netd.db");
  store.Transact([&] { store.InsertBinding(Binding("vm1", "192.168.129.1")); });
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "netd.db-wal"));
}

}  // namespace
}  // namespace netd
