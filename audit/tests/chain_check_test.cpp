#include "netd/audit/chain_check.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace netd {
namespace {

struct Entry {
  std::int64_t seq;
  std::string record;
  std::string prev_hash;
  std::string hash;
};

// A valid chain of `count` records, as netd stores it.
std::vector<Entry> Chain(int count) {
  std::vector<Entry> chain;
  std::string prev = kGenesisHash;
  for (int seq = 1; seq <= count; ++seq) {
    auto record = nlohmann::json{{"seq", seq}, {"action", "vm.bind"}, {"object", "vm/x"}}.dump();
    chain.push_back({seq, record, prev, HashRecord(prev, record)});
    prev = chain.back().hash;
  }
  return chain;
}

// Re-hashes from `from` on, as someone who rewrote the chain consistently would.
void Rehash(std::vector<Entry>& chain, std::size_t from) {
  for (auto i = from; i < chain.size(); ++i) {
    chain[i].prev_hash = i == 0 ? kGenesisHash : chain[i - 1].hash;
    chain[i].hash = HashRecord(chain[i].prev_hash, chain[i].record);
  }
}

ChainCheck Checked(const std::vector<Entry>& chain, const std::vector<AuditAnchor>& anchors) {
  ChainCheck check(anchors);
  for (const auto& entry : chain) {
    if (!check.Add(entry.seq, entry.record, entry.prev_hash, entry.hash)) break;
  }
  check.Finish();
  return check;
}

AuditAnchor AnchorOf(const std::vector<Entry>& chain, std::size_t index) {
  return {chain[index].seq, chain[index].hash, 0};
}

TEST(ChainCheck, AnIntactChainPassesWithItsAnchors) {
  auto chain = Chain(10);
  auto check = Checked(chain, {AnchorOf(chain, 3), AnchorOf(chain, 9)});
  EXPECT_TRUE(check.ok()) << check.reason();
  EXPECT_EQ(check.last_seq(), 10);
}

TEST(ChainCheck, RecordsCutFromTheEndPassAloneButNotAgainstAnAnchor) {
  auto chain = Chain(10);
  auto anchor = AnchorOf(chain, 9);
  chain.resize(7);
  EXPECT_TRUE(Checked(chain, {}).ok()) << "a shorter chain is valid in itself";
  auto check = Checked(chain, {anchor});
  ASSERT_FALSE(check.ok());
  EXPECT_EQ(check.first_bad_seq(), 8);
  EXPECT_EQ(check.reason(),
            "the chain ends at record 7 but an anchor names record 10 (records removed from the "
            "end)");
}

TEST(ChainCheck, ARecordEditedAndRehashedIsFoundByTheNextAnchor) {
  auto chain = Chain(10);
  auto anchor = AnchorOf(chain, 7);
  chain[4].record = nlohmann::json{{"seq", 5}, {"action", "vm.unbind"}, {"object", "vm/x"}}.dump();
  EXPECT_EQ(Checked(chain, {}).first_bad_seq(), 5) << "edited in place: its hash";
  Rehash(chain, 4);
  EXPECT_TRUE(Checked(chain, {}).ok()) << "rewritten consistently, the chain alone cannot tell";
  auto check = Checked(chain, {anchor});
  EXPECT_FALSE(check.ok());
  EXPECT_EQ(check.first_bad_seq(), 8);
  EXPECT_NE(check.reason().find("differs from its anchor"), std::string::npos);
}

TEST(ChainCheck, ARecordInsertedIsFound) {
  auto chain = Chain(6);
  auto anchor = AnchorOf(chain, 5);
  auto forged = nlohmann::json{{"seq", 4}, {"action", "allowlist.put"}}.dump();
  chain.insert(chain.begin() + 3, {4, forged, "", ""});
  for (std::size_t i = 4; i < chain.size(); ++i) {
    chain[i].seq = static_cast<std::int64_t>(i) + 1;
    chain[i].record = nlohmann::json{{"seq", chain[i].seq}, {"action", "vm.bind"}}.dump();
  }
  Rehash(chain, 3);
  EXPECT_TRUE(Checked(chain, {}).ok());
  auto check = Checked(chain, {anchor});
  EXPECT_FALSE(check.ok());
  EXPECT_EQ(check.first_bad_seq(), 6);
}

TEST(ChainCheck, GapsBrokenLinksAndForeignRecordsAreNamed) {
  auto chain = Chain(5);
  auto gap = chain;
  gap.erase(gap.begin() + 2);
  EXPECT_EQ(Checked(gap, {}).reason(), "record 3 is missing (the next stored record is 4)");
  auto link = chain;
  link[3].prev_hash = std::string(64, 'a');
  EXPECT_EQ(Checked(link, {}).reason(),
            "prev_hash does not match the hash of the record before it");
  auto foreign = chain;
  foreign[1].record = "not json";
  EXPECT_EQ(Checked(foreign, {}).reason(), "the record does not carry its own sequence number");
}

TEST(ChainCheck, AnchorsAreReadLineByLineAndABadLineIsNamed) {
  AuditAnchor first{3, std::string(64, 'b'), 1795872369306};
  AuditAnchor second{9, std::string(64, 'c'), 1795872370000};
  auto text = FormatAnchor(first) + "\n\n" + FormatAnchor(second) + "\n";
  EXPECT_EQ(ParseAnchors(text), (std::vector<AuditAnchor>{first, second}));
  EXPECT_EQ(FormatAnchor(first),
            R"({"hash":"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb","seq":3,)"
            R"("time_ms":1795872369306})");
  try {
    ParseAnchors(text + "{\"seq\":0,\"hash\":\"x\"}\n");
    FAIL() << "a bad anchor was taken";
  } catch (const std::invalid_argument& error) {
    EXPECT_NE(std::string(error.what()).find("line 4: expected an anchor"), std::string::npos)
        << error.what();
  }
}

}  // namespace
}  // namespace netd
