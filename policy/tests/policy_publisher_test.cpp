// PolicyPublisher against a scripted ovsdb-server, on a fake clock: what a real server rarely
// does on demand (refusing transaction after transaction, dropping the connection before its
// answer), and the retries timed by the Clock seam.
#include "netd/policy/policy_publisher.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <fstream>
#include <string>

#include "netd/lab/temp_dir.hpp"
#include "netd/policy/schema.hpp"
#include "netd/testing/fake_clock.hpp"
#include "netd/testing/scripted_ovsdb_server.hpp"
#include "netd/testing/within.hpp"

namespace netd::policy {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

PublishedBinding Binding(int n) {
  auto ip = Ipv4Address(Ipv4Address::Parse("10.1.0.0")->value() + static_cast<unsigned>(n));
  return {"vm" + std::to_string(n), "secure", MacAddress::ForVmAddress(ip), ip};
}

constexpr const char* kNoTransaction = "00000000-0000-0000-0000-000000000000";

// The rows a monitor shows once `bindings` and the Policy row at `generation` are committed, as
// monitor_cond_since's table-updates2 name them: `change` is "initial" in its answer, "insert"
// in an update3.
json TableUpdates(const std::vector<PublishedBinding>& bindings, int generation,
                  const std::string& change = "initial") {
  json updates = {{"Policy",
                   {{"10000000-0000-0000-0000-000000000000",
                     {{change,
                       {{"generation", generation},
                        {"published_at", 1},
                        {"connections", json::array({"set", json::array()})}}}}}}}};
  for (std::size_t i = 0; i < bindings.size(); ++i) {
    const auto& binding = bindings[i];
    auto uuid = fmt::format("20000000-0000-0000-0000-{:012d}", i);
    updates["Binding"][uuid][change] = {{"vm", binding.vm},
                                        {"network", binding.network},
                                        {"mac", binding.mac.ToString()},
                                        {"ip", binding.ip.ToString()}};
  }
  return updates;
}

class PolicyPublisherScriptedTest : public ::testing::Test {
 protected:
  // Accepts the publisher's connection and takes it through what a standalone ovsdb-server
  // answers: the schema, `_Server`'s row for the database (a writer looks for the leader), and
  // the monitor, with `tables`.
  void Connect(const json& tables = json::object()) {
    std::ifstream file(SchemaPath());
    server_.AcceptAndServeSchema(json::parse(file));
    server_.ServeServerRow(testing::ScriptedOvsdbServer::StandaloneServerRow("netd_policy"));
    auto monitor = server_.Expect("monitor_cond_since");
    ASSERT_EQ(monitor["params"][0], "netd_policy");
    monitor_id_ = monitor["params"][1];
    server_.Reply(monitor, json::array({false, kNoTransaction, tables}));
  }
  // An update3 notification of the monitor, as ovsdb-server sends after a commit.
  void SendUpdate(const json& updates) {
    server_.Send({{"id", nullptr},
                  {"method", "update3"},
                  {"params", json::array({monitor_id_, kNoTransaction, updates})}});
  }

  // The loop's turns that are due now, none that wait.
  void Turn() {
    io_.poll();
    io_.restart();
  }

  lab::TempDir dir_{"policypub"};
  boost::asio::io_context io_;
  // The publisher runs on the test's thread: each wait for it turns its loop.
  testing::ScriptedOvsdbServer server_{dir_.path() / "db.sock", &io_};
  json monitor_id_;
  testing::FakeClock clock_;
  PolicyPublisher publisher_{io_,
                             {.remotes = {ovs::Remote::Unix(dir_.path() / "db.sock")},
                              .min_retry = 100ms,
                              .max_retry = 300ms},
                             clock_};
};

TEST_F(PolicyPublisherScriptedTest, ARefusedTransactionIsPlannedAgainAfterABackoffOnTheClock) {
  publisher_.Start({Binding(1)});
  Connect();
  auto first = server_.Read();
  ASSERT_EQ(first["method"], "transact");
  EXPECT_EQ(first["params"][0], "netd_policy");

  // One transaction in flight: a change accepted meanwhile waits for its answer.
  publisher_.Bind(Binding(2));
  Turn();
  EXPECT_EQ(server_.BytesWaiting(), 0u);
  EXPECT_FALSE(publisher_.status().in_sync);

  // Refused, again and again: 100 ms, 200 ms, then 300 ms (the maximum) apart.
  auto refuse = [&](const json& request) {
    server_.Reply(
        request,
        json::array({{{"error", "timed out"}, {"details", "\"where\" clause test failed"}}}));
  };
  refuse(first);
  ASSERT_TRUE(
      testing::RunUntil(io_, 5s, [&] { return publisher_.status().failed_transactions == 1; }));
  json last;
  const std::vector<std::chrono::milliseconds> waits = {100ms, 200ms, 300ms, 300ms};
  for (std::size_t i = 0; i < waits.size(); ++i) {
    clock_.Advance(waits[i] - 1ms);
    Turn();
    EXPECT_EQ(server_.BytesWaiting(), 0u) << "planned again before " << waits[i].count() << " ms";
    clock_.Advance(1ms);
    last = server_.Read();
    ASSERT_EQ(last["method"], "transact");
    // Planned again: the change accepted meanwhile goes with it.
    EXPECT_NE(last.dump().find("\"vm2\""), std::string::npos) << last.dump();
    if (i + 1 == waits.size()) break;
    refuse(last);
    ASSERT_TRUE(testing::RunUntil(
        io_, 5s, [&] { return publisher_.status().failed_transactions == i + 2; }));
  }

  // Committed: the server shows its rows first, then answers, as ovsdb-server does.
  bool published = false;
  publisher_.WhenPublished([&] { published = true; });
  SendUpdate(TableUpdates({Binding(1), Binding(2)}, 1, "insert"));
  server_.Reply(last,
                json::array({json::object(), json::object(), json::object(), json::object()}));
  ASSERT_TRUE(testing::RunUntil(io_, 5s, [&] { return published; }));
  auto status = publisher_.status();
  EXPECT_EQ(status.failed_transactions, 4u);
  EXPECT_EQ(status.transactions, 1u);
  EXPECT_EQ(status.rebuild_rows, 2u) << "vm1 and the Policy row; vm2 is a change, bound since";
  EXPECT_TRUE(status.in_sync);
  EXPECT_EQ(status.generation, 1u);
}

TEST_F(PolicyPublisherScriptedTest, AfterALostConnectionNothingIsAssumedAndTheDiffIsRedone) {
  publisher_.Start({Binding(1)});
  Connect();
  auto first = server_.Read();
  ASSERT_EQ(first["method"], "transact");
  bool published = false;
  publisher_.WhenPublished([&] { published = true; });
  // Gone before the answer: the transaction may or may not have committed.
  server_.Drop();
  ASSERT_TRUE(
      testing::RunUntil(io_, 5s, [&] { return publisher_.status().failed_transactions == 1; }));
  EXPECT_FALSE(published);
  EXPECT_FALSE(publisher_.status().connected);

  // It had: the fresh monitor shows the rows, and the diff finds nothing left to send.
  Connect(TableUpdates({Binding(1)}, 1));
  clock_.Advance(100ms);
  ASSERT_TRUE(testing::RunUntil(io_, 5s, [&] { return published; }));
  EXPECT_EQ(server_.BytesWaiting(), 0u);
  auto status = publisher_.status();
  EXPECT_TRUE(status.connected);
  EXPECT_TRUE(status.in_sync);
  EXPECT_EQ(status.transactions, 0u);
  EXPECT_EQ(status.repairs, 0u);
}

}  // namespace
}  // namespace netd::policy
