#include "netd/daemon/audit.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include "netd/lab/temp_dir.hpp"

namespace netd {
namespace {

class AuditChainTest : public ::testing::Test {
 protected:
  void Append(int count) {
    for (int i = 0; i < count; ++i) {
      audit_.Record({{0, 0, 1, "/bin/test"},
                     "vm.bind",
                     "vm/vm" + std::to_string(i),
                     {{"network", "secure"}},
                     201,
                     ""});
    }
  }

  // Tampers with the database behind the chain's back, as an attacker with file access would.
  void Tamper(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir_.path() / "netd.db").c_str(), &db), SQLITE_OK);
    char* error = nullptr;
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error), SQLITE_OK)
        << (error ? error : "");
    sqlite3_free(error);
    sqlite3_close(db);
  }

  lab::TempDir dir_{"unit"};
  Store store_{dir_.path() / "netd.db"};
  AuditChain audit_{store_};
};

TEST_F(AuditChainTest, HashesChainFromGenesis) {
  Append(3);
  auto records = audit_.Read(0, 10);
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0]["prev_hash"], std::string(64, '0'));
  EXPECT_EQ(records[1]["prev_hash"], records[0]["hash"]);
  EXPECT_EQ(records[2]["seq"], 3);
  EXPECT_EQ(records[2]["result"], "ok");
  EXPECT_EQ(records[2]["caller"]["exe"], "/bin/test");
  // The hash covers prev_hash followed by the canonical record, reproducible by anyone.
  auto canonical = records[0];
  canonical.erase("hash");
  canonical.erase("prev_hash");
  EXPECT_EQ(records[0]["hash"], Sha256Hex(std::string(64, '0') + canonical.dump()));
  auto verification = audit_.Verify();
  EXPECT_TRUE(verification.ok) << verification.reason;
  EXPECT_EQ(verification.length, 3);
}

TEST_F(AuditChainTest, RefusalsAreRecorded) {
  audit_.Record({{1000, 1000, 7, ""}, "vm.bind", "vm/x", {}, 422, "unknown_network"});
  auto record = audit_.Read(0, 1)[0];
  EXPECT_EQ(record["result"], "refused");
  EXPECT_EQ(record["error_code"], "unknown_network");
  EXPECT_EQ(record["status"], 422);
}

TEST_F(AuditChainTest, AFailedMutationRecordsNothing) {
  Append(1);
  EXPECT_THROW(
      audit_.Record({{}, "vm.bind", "vm/y", {}, 201, ""}, [] { throw StoreError("disk full"); }),
      StoreError);
  EXPECT_EQ(audit_.length(), 1);
  Append(1);
  EXPECT_TRUE(audit_.Verify().ok);
}

TEST_F(AuditChainTest, DetectsAnAlteredRecord) {
  Append(5);
  Tamper("UPDATE audit SET record = replace(record, 'vm/vm2', 'vm/evil') WHERE seq = 3");
  auto verification = audit_.Verify();
  EXPECT_FALSE(verification.ok);
  EXPECT_EQ(verification.first_bad_seq, 3);
}

TEST_F(AuditChainTest, DetectsARemovedRecord) {
  Append(5);
  Tamper("DELETE FROM audit WHERE seq = 2");
  auto verification = audit_.Verify();
  EXPECT_FALSE(verification.ok);
  EXPECT_EQ(verification.first_bad_seq, 2);
}

TEST_F(AuditChainTest, DetectsAnInsertedRecord) {
  Append(4);
  // A forger with file access inserts a well-formed record 3, correctly chained to record 2,
  // and renumbers the rest. The forged record itself is consistent; the chain breaks at the
  // first genuine record after it.
  auto previous = audit_.Read(1, 1)[0]["hash"].get<std::string>();
  std::string forged = R"({"action":"vm.unbind","object":"vm/vm1","seq":3})";
  auto hash = Sha256Hex(previous + forged);
  Tamper(
      "UPDATE audit SET seq = seq + 100 WHERE seq >= 3;"
      "UPDATE audit SET seq = seq - 99 WHERE seq >= 103;"
      "INSERT INTO audit (seq, record, prev_hash, hash) VALUES (3, '" +
      forged + "', '" + previous + "', '" + hash + "');");
  auto verification = audit_.Verify();
  EXPECT_FALSE(verification.ok);
  EXPECT_EQ(verification.first_bad_seq, 4);
}

TEST_F(AuditChainTest, DetectsRecordsCutFromTheEnd) {
  Append(4);
  Tamper("DELETE FROM audit WHERE seq >= 3");
  auto verification = audit_.Verify();
  EXPECT_FALSE(verification.ok);
  EXPECT_EQ(verification.first_bad_seq, 3);
}

TEST_F(AuditChainTest, ContinuesTheChainAfterReopening) {
  Append(2);
  Store reopened(dir_.path() / "netd.db");
  AuditChain chain(reopened);
  EXPECT_EQ(chain.length(), 2);
  chain.Record({{}, "vm.unbind", "vm/vm0", {}, 200, ""});
  EXPECT_TRUE(chain.Verify().ok);
}

}  // namespace
}  // namespace netd
