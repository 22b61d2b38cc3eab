// OvsdbClient against scripted JSON-RPC servers on unix sockets: what a real ovsdb-server
// rarely does on demand (echo requests, messages split across reads, a drop mid-transaction, a
// cluster member that is not the leader, a server without monitor_cond_since, silence), the
// remotes tried in turn, and update3's differences applied to the cache; and the remotes it
// connects to, in ovsdb-server's notation.
#include "netd/ovs/ovsdb_client.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <future>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "netd/lab/temp_dir.hpp"
#include "netd/ovs/remote.hpp"
#include "netd/testing/scripted_ovsdb_server.hpp"
#include "netd/testing/within.hpp"

namespace netd::ovs {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

// A scripted ovsdb-server, with the monitor netd's OvsdbClient names "netd".
class ScriptedServer : public testing::ScriptedOvsdbServer {
 public:
  using ScriptedOvsdbServer::ScriptedOvsdbServer;
  // Answers monitor_cond_since, after checking the transaction id the client resumes from.
  void ServeMonitor(const std::string& expected_last_txn, const json& result) {
    auto request = Expect("monitor_cond_since");
    if (request["params"][1] != "netd" || request["params"][3] != expected_last_txn) {
      throw std::runtime_error("unexpected monitor_cond_since: " + request.dump());
    }
    Reply(request, result);
  }
  void SendUpdate3(const std::string& last_txn, const json& updates) {
    Send({{"id", nullptr}, {"method", "update3"}, {"params", {"netd", last_txn, updates}}});
  }
};

// The server's side of a test, on a thread of its own; what failed is kept for the test.
class Script {
 public:
  explicit Script(std::function<void()> steps)
      : thread_([this, steps = std::move(steps)] {
          try {
            steps();
          } catch (const std::exception& error) {
            failure_ = error.what();
          }
          done_ = true;
        }) {}
  ~Script() {
    if (thread_.joinable()) thread_.join();
  }
  bool done() const { return done_; }
  // Waits for the script's end; what failed, or "".
  std::string Finish() {
    if (thread_.joinable()) thread_.join();
    return failure_;
  }

 private:
  std::string failure_;
  std::atomic<bool> done_ = false;
  std::thread thread_;
};

// The script waits at a gate until the test, having checked the client, opens it.
class Gate {
 public:
  void Open() { promise_.set_value(); }
  void Wait() {
    if (future_.wait_for(10s) != std::future_status::ready) {
      throw std::runtime_error("the test never opened the gate");
    }
  }

 private:
  std::promise<void> promise_;
  std::future<void> future_ = promise_.get_future();
};

using testing::RunUntil;

constexpr const char* kNoTxn = "00000000-0000-0000-0000-000000000000";

// A uuid of the test's own, and its atom.
std::string U(int n) {
  return fmt::format("{:08x}-0000-4000-8000-000000000000", n);
}
json Ref(int n) {
  return json::array({"uuid", U(n)});
}
// ["set", [...]] and ["map", [[k, v], ...]], built explicitly: in a braced list nlohmann::json
// takes pairs (and so ["uuid", ...] atoms) for an object's members.
json Set(std::vector<json> elements) {
  return json::array({"set", json(std::move(elements))});
}
json Map(const std::vector<std::pair<std::string, std::string>>& pairs) {
  json items = json::array();
  for (const auto& [key, value] : pairs) items.push_back(json::array({key, value}));
  return json::array({"map", items});
}

// The columns netd monitors, typed as in Open vSwitch's vswitch.ovsschema.
const json kVswitchSchema = json::parse(R"({
  "name": "Open_vSwitch", "version": "8.3.0",
  "tables": {
    "Open_vSwitch": {"columns": {
      "bridges": {"type": {"key": {"type": "uuid", "refTable": "Bridge"},
                           "min": 0, "max": "unlimited"}}}},
    "Bridge": {"columns": {
      "name": {"type": "string"},
      "ports": {"type": {"key": {"type": "uuid", "refTable": "Port"},
                         "min": 0, "max": "unlimited"}},
      "datapath_type": {"type": "string"},
      "fail_mode": {"type": {"key": {"type": "string",
                                     "enum": ["set", ["standalone", "secure"]]},
                             "min": 0, "max": 1}},
      "external_ids": {"type": {"key": "string", "value": "string",
                                "min": 0, "max": "unlimited"}}}},
    "Port": {"columns": {
      "name": {"type": "string"},
      "interfaces": {"type": {"key": {"type": "uuid", "refTable": "Interface"},
                              "min": 1, "max": "unlimited"}},
      "tag": {"type": {"key": {"type": "integer", "minInteger": 0, "maxInteger": 4095},
                       "min": 0, "max": 1}},
      "trunks": {"type": {"key": {"type": "integer", "minInteger": 0, "maxInteger": 4095},
                          "min": 0, "max": 4096}},
      "external_ids": {"type": {"key": "string", "value": "string",
                                "min": 0, "max": "unlimited"}}}},
    "Interface": {"columns": {
      "name": {"type": "string"},
      "type": {"type": "string"},
      "ofport": {"type": {"key": "integer", "min": 0, "max": 1}},
      "mac_in_use": {"type": {"key": {"type": "string"}, "min": 0, "max": 1}},
      "external_ids": {"type": {"key": "string", "value": "string",
                                "min": 0, "max": "unlimited"}}}}}})");

const json kPolicySchema = json::parse(R"({
  "name": "netd_policy", "version": "1.0.0",
  "tables": {"Binding": {"columns": {"vm": {"type": "string"}, "ip": {"type": "string"}}}}})");

OvsdbClient::Options PolicyOptions(OvsdbClient::Cluster cluster) {
  return {.database = "netd_policy",
          .tables = {{"Binding", {"vm", "ip"}}},
          .min_backoff = 10ms,
          .max_backoff = 10ms,
          .tls = {},
          .cluster = cluster};
}

json ServerRow(bool connected, bool leader, int index) {
  return {{"name", "netd_policy"},
          {"model", "clustered"},
          {"connected", connected},
          {"leader", leader},
          {"index", index}};
}

json Initial(const json& rows) {
  return json::array({false, "7a000000-0000-4000-8000-000000000001", rows});
}

TEST(OvsdbClientScripted, AnswersEchoesReadsSplitMessagesAndFailsTransactionsOnADrop) {
  lab::TempDir dir("ovsdbfake");
  auto path = dir.path() / "db.sock";
  ScriptedServer server(path);
  boost::asio::io_context io;
  OvsdbClient client(io, Remote::Unix(path),
                     {.database = "Open_vSwitch",
                      .tables = {{"Bridge", {}}},
                      .min_backoff = 50ms,
                      .max_backoff = 50ms,
                      .tls = {}});
  std::optional<OvsdbClient::TransactionResult> outcome;
  // The monitor's answer comes in two writes, cut inside a string; the second waits until the
  // client has read all of the first, so the client sees the message split across reads.
  std::atomic<bool> first_part_written = false;
  Gate first_part_read;
  Script script([&] {
    server.AcceptAndServeSchema(kVswitchSchema);
    auto monitor = server.Expect("monitor_cond_since");
    if (monitor["params"][1] != "netd" || monitor["params"][3] != kNoTxn) {
      throw std::runtime_error("not netd's first monitor: " + monitor.dump());
    }
    auto answer = json{
        {"id", monitor["id"]},
        {"result", Initial({{"Bridge", {{U(1), {{"initial", {{"name", "br-a"}}}}}}}})},
        {"error",
         nullptr}}.dump();
    server.Write(answer.substr(0, 30));
    first_part_written = true;
    first_part_read.Wait();
    server.Write(answer.substr(30) + R"({"id":"echo","method":"echo","params":["x"]})");
    auto echo = server.Read();
    if (echo["id"] != "echo" || echo["result"] != json::array({"x"})) {
      throw std::runtime_error("bad echo reply: " + echo.dump());
    }
    server.Expect("transact");
    server.Drop();  // before answering
  });
  client.Start();
  EXPECT_TRUE(RunUntil(io, 5s, [&] { return first_part_written && server.BytesUnread() == 0; }));
  EXPECT_FALSE(client.synced()) << "half an answer is not an answer";
  first_part_read.Open();
  ASSERT_TRUE(RunUntil(io, 5s, [&] { return client.synced(); }));
  EXPECT_EQ(client.rows("Bridge").at(U(1))["name"], "br-a");
  EXPECT_EQ(client.rows("Bridge").at(U(1))["ports"], json::parse(R"(["set", []])"))
      << "a column the server left out holds its default";
  EXPECT_TRUE(RunUntil(io, 5s, [&] { return client.counters().echoes == 1; }));
  client.Transact(json::array({{{"op", "comment"}, {"comment", "x"}}}),
                  [&](const auto& result) { outcome = result; });
  EXPECT_TRUE(RunUntil(io, 5s, [&] { return outcome.has_value(); }));
  EXPECT_EQ(script.Finish(), "");
  ASSERT_TRUE(outcome);
  EXPECT_NE(outcome->error.find("may or may not have been committed"), std::string::npos)
      << outcome->error;
  EXPECT_FALSE(client.synced());
  EXPECT_TRUE(client.rows("Bridge").empty()) << "a cache of a lost connection is not current";
  EXPECT_EQ(client.version("Bridge", U(1)), 0u);
}

TEST(OvsdbClientScripted, AttemptsThatNeverConnectAreCountedAndNeverSync) {
  lab::TempDir dir("ovsdbfake");
  boost::asio::io_context io;
  OvsdbClient absent(io, Remote::Unix(dir.path() / "none.sock"),
                     {.min_backoff = 10ms, .max_backoff = 10ms, .tls = {}});
  // Files that are not there: the attempt fails before any connection is opened.
  OvsdbClient without_files(io, ParseOvsdbRemote("ssl:127.0.0.1:6640"),
                            {.min_backoff = 10ms,
                             .max_backoff = 10ms,
                             .tls = {.private_key = dir.path() / "key.pem",
                                     .certificate = dir.path() / "cert.pem",
                                     .ca_certificate = dir.path() / "ca.pem"}});
  absent.Start();
  without_files.Start();
  EXPECT_TRUE(RunUntil(io, 5s, [&] {
    return absent.counters().connect_failures >= 3 &&
           without_files.counters().connect_failures >= 3;
  }));
  EXPECT_FALSE(absent.synced());
  EXPECT_FALSE(without_files.synced());
  EXPECT_EQ(absent.counters().connects + without_files.counters().connects, 0u);
}

TEST(OvsdbClientScripted, TheRemotesAreTriedInTurnWithoutAPauseWithinARound) {
  lab::TempDir dir("ovsdbfake");
  auto dead = Remote::Unix(dir.path() / "dead.sock");
  auto first = Remote::Unix(dir.path() / "a.sock");
  auto second = Remote::Unix(dir.path() / "b.sock");
  ScriptedServer a(first.path);
  ScriptedServer b(second.path);
  boost::asio::io_context io;
  // A pause far longer than the test: the next remote of a round must not wait for it.
  OvsdbClient client(
      io, std::vector<Remote>{dead, first, second},
      {.tables = {{"Bridge", {"name"}}}, .min_backoff = 60s, .max_backoff = 60s, .tls = {}});
  Gate lose_a;
  Script script([&] {
    a.AcceptAndServeSchema(kVswitchSchema);
    a.ServeMonitor(kNoTxn, Initial({{"Bridge", {{U(1), {{"initial", {{"name", "br-a"}}}}}}}}));
    lose_a.Wait();
    a.Drop();
    b.AcceptAndServeSchema(kVswitchSchema);
    b.ServeMonitor("7a000000-0000-4000-8000-000000000001",
                   Initial({{"Bridge", {{U(2), {{"initial", {{"name", "br-b"}}}}}}}}));
  });
  EXPECT_EQ(client.remote(), dead) << "the first remote is tried first";
  client.Start();
  ASSERT_TRUE(RunUntil(io, 5s, [&] { return client.synced(); }));
  EXPECT_EQ(client.remote(), first);
  EXPECT_EQ(client.counters().connect_failures, 1u) << "the dead remote, once";
  lose_a.Open();
  EXPECT_TRUE(RunUntil(io, 5s, [&] { return client.synced() && client.remote() == second; }))
      << "after a lost connection, the next remote";
  EXPECT_EQ(script.Finish(), "");
  EXPECT_EQ(client.counters().disconnects, 1u);
  EXPECT_EQ(client.counters().connects, 2u);
  EXPECT_EQ(client.rows("Bridge").size(), 1u);
  EXPECT_TRUE(client.rows("Bridge").contains(U(2)));
}

TEST(OvsdbClientScripted, ALeaderOnlyClientSkipsMembersThatAreNotTheConnectedLeader) {
  lab::TempDir dir("ovsdbfake");
  std::vector<Remote> remotes;
  std::vector<std::unique_ptr<ScriptedServer>> members;
  for (const char* name : {"m1.sock", "m2.sock", "m3.sock"}) {
    remotes.push_back(Remote::Unix(dir.path() / name));
    members.push_back(std::make_unique<ScriptedServer>(remotes.back().path));
  }
  boost::asio::io_context io;
  OvsdbClient client(io, remotes, PolicyOptions(OvsdbClient::Cluster::kLeader));
  Gate demote;
  Script script([&] {
    members[0]->AcceptAndServeSchema(kPolicySchema);
    members[0]->ServeServerRow(ServerRow(false, false, 5));  // cut off from the cluster
    members[0]->WaitUntilClosed();
    members[1]->AcceptAndServeSchema(kPolicySchema);
    members[1]->ServeServerRow(ServerRow(true, false, 5));  // a follower
    members[1]->WaitUntilClosed();
    members[2]->AcceptAndServeSchema(kPolicySchema);
    members[2]->ServeServerRow(ServerRow(true, true, 5));
    members[2]->ServeMonitor(kNoTxn,
                             Initial({{"Binding", {{U(1), {{"initial", {{"vm", "vm1"}}}}}}}}));
    demote.Wait();
    // The leader loses its leadership: the client must not stay.
    members[2]->Send(
        {{"id", nullptr},
         {"method", "update"},
         {"params",
          {"netd-server",
           {{"Database",
             {{ScriptedServer::ServerRowUuid(),
               {{"old", {{"leader", true}}}, {"new", ServerRow(true, false, 6)}}}}}}}}});
    members[2]->WaitUntilClosed();
  });
  client.Start();
  ASSERT_TRUE(RunUntil(io, 5s, [&] { return client.synced(); }));
  EXPECT_EQ(client.remote(), remotes[2]);
  EXPECT_EQ(client.counters().cluster_refusals, 2u);
  EXPECT_EQ(client.counters().connect_failures, 2u);
  EXPECT_EQ(client.rows("Binding").at(U(1))["ip"], "") << "left out, so the default";
  demote.Open();
  EXPECT_TRUE(RunUntil(io, 5s, [&] { return client.counters().cluster_refusals == 3; }));
  EXPECT_TRUE(RunUntil(io, 5s, [&] { return script.done(); }));
  EXPECT_EQ(script.Finish(), "");
  EXPECT_FALSE(client.synced() && client.remote() == remotes[2]);
  EXPECT_EQ(client.counters().disconnects, 1u);
}

TEST(OvsdbClientScripted, AConnectedClientTakesAFollowerButNotOneBehindWhatItSaw) {
  lab::TempDir dir("ovsdbfake");
  auto ahead = Remote::Unix(dir.path() / "ahead.sock");
  auto behind = Remote::Unix(dir.path() / "behind.sock");
  ScriptedServer a(ahead.path);
  ScriptedServer b(behind.path);
  boost::asio::io_context io;
  OvsdbClient client(io, std::vector<Remote>{ahead, behind},
                     PolicyOptions(OvsdbClient::Cluster::kConnected));
  Gate lose_a;
  Script script([&] {
    a.AcceptAndServeSchema(kPolicySchema);
    a.ServeServerRow(ServerRow(true, false, 9));  // a follower will do
    a.ServeMonitor(kNoTxn, Initial({{"Binding", {{U(1), {{"initial", {{"vm", "vm1"}}}}}}}}));
    lose_a.Wait();
    a.Drop();
    // The other member has applied less than the client has seen from the first.
    b.AcceptAndServeSchema(kPolicySchema);
    b.ServeServerRow(ServerRow(true, true, 7));
    b.WaitUntilClosed();
    a.AcceptAndServeSchema(kPolicySchema);
    a.ServeServerRow(ServerRow(true, false, 10));
    a.ServeMonitor("7a000000-0000-4000-8000-000000000001",
                   json::array({true, "7a000000-0000-4000-8000-000000000002", json::object()}));
  });
  client.Start();
  ASSERT_TRUE(RunUntil(io, 5s, [&] { return client.synced(); }));
  EXPECT_EQ(client.counters().cluster_refusals, 0u);
  lose_a.Open();
  EXPECT_TRUE(RunUntil(io, 5s, [&] { return script.done() && client.synced(); }));
  EXPECT_EQ(script.Finish(), "");
  EXPECT_EQ(client.remote(), ahead);
  EXPECT_EQ(client.counters().cluster_refusals, 1u) << "the member behind";
  EXPECT_EQ(client.counters().resumed_syncs, 1u);
  EXPECT_TRUE(client.rows("Binding").contains(U(1)));
}

TEST(OvsdbClientScripted, Update3DifferencesAreAppliedByColumnType) {
  lab::TempDir dir("ovsdbfake");
  auto path = dir.path() / "db.sock";
  ScriptedServer server(path);
  boost::asio::io_context io;
  OvsdbClient client(io, Remote::Unix(path), {.min_backoff = 10ms, .max_backoff = 10ms, .tls = {}});
  Gate first_checked;
  Script script([&] {
    server.AcceptAndServeSchema(kVswitchSchema);
    server.ServeMonitor(
        kNoTxn,
        Initial({{"Open_vSwitch", {{U(100), {{"initial", {{"bridges", Ref(1)}}}}}}},
                 {"Bridge",
                  {{U(1),
                    {{"initial",
                      {{"name", "br0"},
                       {"ports", Set({Ref(11), Ref(12)})},
                       {"datapath_type", "netdev"},
                       {"external_ids", Map({{"a", "1"}, {"b", "2"}})}}}}}}},
                 {"Port",
                  {{U(11), {{"initial", {{"name", "p1"}, {"interfaces", Ref(21)}, {"tag", 10}}}}},
                   {U(12),
                    {{"initial",
                      {{"name", "p2"}, {"interfaces", Ref(22)}, {"trunks", Set({1, 2})}}}}}}},
                 {"Interface",
                  {{U(21), {{"initial", {{"name", "p1"}, {"ofport", 3}}}}},
                   {U(22), {{"initial", {{"name", "p2"}, {"ofport", 4}}}}}}}}));
    first_checked.Wait();
    server.SendUpdate3(
        "7a000000-0000-4000-8000-000000000002",
        {{"Open_vSwitch", {{U(100), {{"modify", {{"bridges", Ref(2)}}}}}}},
         {"Bridge",
          {{U(1),
            {{"modify",
              {{"ports", Ref(11)},
               {"datapath_type", "system"},
               {"fail_mode", "secure"},
               {"external_ids", Map({{"a", "1"}, {"b", "3"}, {"c", "4"}})}}}}},
           {U(2), {{"insert", {{"name", "br1"}}}}}}},
         {"Port",
          {{U(11), {{"modify", {{"tag", Set({})}}}}},
           {U(12), {{"modify", {{"tag", 20}, {"trunks", Set({2, 3})}}}}}}},
         {"Interface", {{U(21), {{"delete", nullptr}}}, {U(22), {{"modify", {{"ofport", 5}}}}}}}});
    server.SendUpdate3("7a000000-0000-4000-8000-000000000003",
                       {{"Bridge", {{U(1), {{"modify", {{"external_ids", Map({{"c", "4"}})}}}}}}},
                        {"Port", {{U(12), {{"modify", {{"tag", 30}, {"trunks", 1}}}}}}}});
  });
  client.Start();
  ASSERT_TRUE(RunUntil(io, 5s, [&] { return client.synced(); }));
  // What the server left out of the initial rows has the column's default.
  const auto& bridge = client.rows("Bridge").at(U(1));
  EXPECT_EQ(bridge["fail_mode"], json::parse(R"(["set", []])"));
  EXPECT_EQ(client.rows("Port").at(U(11))["trunks"], json::parse(R"(["set", []])"));
  EXPECT_EQ(client.rows("Port").at(U(11))["external_ids"], json::parse(R"(["map", []])"));
  EXPECT_EQ(client.rows("Interface").at(U(21))["type"], "");
  EXPECT_EQ(client.rows("Interface").at(U(21))["mac_in_use"], json::parse(R"(["set", []])"));
  EXPECT_EQ(client.rows("Open_vSwitch").at(U(100))["bridges"], Ref(1)) << "a set of one, bare";
  auto interface_version = client.version("Interface", U(22));
  first_checked.Open();
  ASSERT_TRUE(RunUntil(io, 5s, [&] { return client.counters().updates == 2; }));
  EXPECT_EQ(script.Finish(), "");

  // A set of uuids: the bare element toggled in.
  EXPECT_EQ(client.rows("Open_vSwitch").at(U(100))["bridges"], Set({Ref(1), Ref(2)}));
  const auto& changed = client.rows("Bridge").at(U(1));
  EXPECT_EQ(changed["ports"], Ref(12)) << "one of two toggled out leaves a bare element";
  EXPECT_EQ(changed["datapath_type"], "system") << "a single value is replaced";
  EXPECT_EQ(changed["fail_mode"], "secure") << "an optional value comes whole";
  // a=1 sent again with its value removes it; b replaced; c added; then c removed.
  EXPECT_EQ(changed["external_ids"], json::parse(R"(["map", [["b", "3"]]])"));
  EXPECT_EQ(client.rows("Bridge").at(U(2))["ports"], json::parse(R"(["set", []])"));
  EXPECT_EQ(client.rows("Port").at(U(11))["tag"], json::parse(R"(["set", []])"))
      << "an optional integer emptied";
  // tag 10 -> 20 -> 30 replaced, never toggled; trunks {1,2} ^ {2,3} = {1,3}, then ^ {1} = 3.
  EXPECT_EQ(client.rows("Port").at(U(12))["tag"], 30);
  EXPECT_EQ(client.rows("Port").at(U(12))["trunks"], 3);
  EXPECT_FALSE(client.rows("Interface").contains(U(21)));
  EXPECT_EQ(client.rows("Interface").at(U(22))["ofport"], 5);
  EXPECT_GT(client.version("Interface", U(22)), interface_version);
}

TEST(OvsdbClientScripted, AResumedSyncKeepsTheCacheAndAppliesOnlyWhatChanged) {
  lab::TempDir dir("ovsdbfake");
  auto path = dir.path() / "db.sock";
  ScriptedServer server(path);
  boost::asio::io_context io;
  OvsdbClient client(io, Remote::Unix(path),
                     {.tables = {{"Bridge", {"name", "datapath_type"}}},
                      .min_backoff = 10ms,
                      .max_backoff = 10ms,
                      .tls = {}});
  const std::string t1 = "7a000000-0000-4000-8000-000000000001";
  const std::string t2 = "7a000000-0000-4000-8000-000000000002";
  const std::string t3 = "7a000000-0000-4000-8000-000000000003";
  Gate first_checked;
  Gate resume_checked;
  Script script([&] {
    server.AcceptAndServeSchema(kVswitchSchema);
    server.ServeMonitor(kNoTxn, Initial({{"Bridge",
                                          {{U(1), {{"initial", {{"name", "br-a"}}}}},
                                           {U(2), {{"initial", {{"name", "br-b"}}}}}}}}));
    server.SendUpdate3(t2, {{"Bridge", {{U(2), {{"modify", {{"datapath_type", "netdev"}}}}}}}});
    first_checked.Wait();
    server.Drop();
    // The server still knows t2: only what changed after it.
    server.AcceptAndServeSchema(kVswitchSchema);
    server.ServeMonitor(t2, json::array({true,
                                         t3,
                                         {{"Bridge",
                                           {{U(2), {{"modify", {{"name", "br-b2"}}}}},
                                            {U(3), {{"insert", {{"name", "br-c"}}}}}}}}}));
    resume_checked.Wait();
    server.Drop();
    // It no longer knows t3: everything, which replaces the cache.
    server.AcceptAndServeSchema(kVswitchSchema);
    server.ServeMonitor(t3,
                        json::array({false,
                                     "7a000000-0000-4000-8000-000000000009",
                                     {{"Bridge", {{U(4), {{"initial", {{"name", "br-d"}}}}}}}}}));
  });
  client.Start();
  ASSERT_TRUE(RunUntil(io, 5s, [&] { return client.counters().updates == 1; }));
  auto v1 = client.version("Bridge", U(1));
  auto v2 = client.version("Bridge", U(2));
  auto before = client.last_version();
  EXPECT_EQ(client.rows("Bridge").at(U(2))["datapath_type"], "netdev");
  first_checked.Open();
  ASSERT_TRUE(RunUntil(io, 5s, [&] { return !client.synced(); }));
  EXPECT_TRUE(client.rows("Bridge").empty()) << "hidden while disconnected";
  EXPECT_EQ(client.version("Bridge", U(1)), 0u);
  ASSERT_TRUE(RunUntil(io, 5s, [&] { return client.synced(); }));
  EXPECT_EQ(client.counters().resumed_syncs, 1u);
  EXPECT_EQ(client.counters().full_syncs, 1u);
  EXPECT_EQ(client.version("Bridge", U(1)), v1) << "a row that did not change keeps its version";
  EXPECT_GT(client.version("Bridge", U(2)), v2);
  std::set<std::string> changed;
  client.ForEachChangedSince("Bridge", before, [&](const auto& uuid) { changed.insert(uuid); });
  EXPECT_EQ(changed, (std::set<std::string>{U(2), U(3)}));
  EXPECT_EQ(client.rows("Bridge").at(U(1))["name"], "br-a");
  EXPECT_EQ(client.rows("Bridge").at(U(2))["name"], "br-b2");
  EXPECT_EQ(client.rows("Bridge").at(U(2))["datapath_type"], "netdev");
  EXPECT_EQ(client.rows("Bridge").at(U(3))["name"], "br-c");
  resume_checked.Open();
  ASSERT_TRUE(RunUntil(io, 5s, [&] { return client.counters().full_syncs == 2; }));
  EXPECT_EQ(script.Finish(), "");
  EXPECT_TRUE(client.synced());
  EXPECT_EQ(client.rows("Bridge").size(), 1u);
  EXPECT_TRUE(client.rows("Bridge").contains(U(4)));
  EXPECT_EQ(client.version("Bridge", U(1)), 0u);
  changed.clear();
  client.ForEachChangedSince("Bridge", 0, [&](const auto& uuid) { changed.insert(uuid); });
  EXPECT_EQ(changed, (std::set<std::string>{U(4)})) << "the replaced rows' changes are gone";
}

// A row handler that writes each update as "kind table uuid value".
std::function<void(const OvsdbClient::RowUpdate&)> RecordInto(std::vector<std::string>& lines) {
  return [&lines](const OvsdbClient::RowUpdate& update) {
    static const char* kKinds[] = {"clear", "put", "modify", "remove"};
    lines.push_back(fmt::format("{} {} {} {}", kKinds[static_cast<int>(update.kind)], update.table,
                                update.uuid, update.value.dump()));
  };
}

// A handed table's rows go to the row handler as the server sends them, defaults filled in and
// diffs as sent, and never into the cache; a whole sync after a reconnect clears them first.
TEST(OvsdbClientScripted, HandedTablesGoToTheRowHandlerNotTheCache) {
  lab::TempDir dir("ovsdbfake");
  auto path = dir.path() / "db.sock";
  ScriptedServer server(path);
  boost::asio::io_context io;
  std::vector<std::string> handed;
  OvsdbClient client(io, Remote::Unix(path),
                     {.tables = {{"Bridge", {"name"}}, {"Port", {"name", "trunks"}}},
                      .min_backoff = 10ms,
                      .max_backoff = 10ms,
                      .tls = {},
                      .handed_tables = {"Port"},
                      .row_handler = RecordInto(handed)});
  const std::string t2 = "7a000000-0000-4000-8000-000000000002";
  Gate first_checked;
  Script script([&] {
    server.AcceptAndServeSchema(kVswitchSchema);
    server.ServeMonitor(kNoTxn, Initial({{"Bridge", {{U(1), {{"initial", {{"name", "br-a"}}}}}}},
                                         {"Port", {{U(11), {{"initial", {{"name", "p1"}}}}}}}}));
    server.SendUpdate3(t2, {{"Port",
                             {{U(11), {{"modify", {{"trunks", Set({1, 2})}}}}},
                              {U(12), {{"insert", {{"name", "p2"}}}}}}}});
    server.SendUpdate3("7a000000-0000-4000-8000-000000000003",
                       {{"Port", {{U(11), {{"delete", nullptr}}}}}});
    first_checked.Wait();
    server.Drop();
    // The server no longer knows the last transaction: everything again.
    server.AcceptAndServeSchema(kVswitchSchema);
    server.ServeMonitor("7a000000-0000-4000-8000-000000000003",
                        json::array({false,
                                     "7a000000-0000-4000-8000-000000000009",
                                     {{"Port", {{U(13), {{"initial", {{"name", "p3"}}}}}}}}}));
  });
  client.Start();
  ASSERT_TRUE(RunUntil(io, 5s, [&] { return client.counters().updates == 2; }));
  EXPECT_TRUE(client.rows("Port").empty());
  EXPECT_EQ(client.rows("Bridge").at(U(1))["name"], "br-a");
  EXPECT_EQ(handed, (std::vector<std::string>{
                        "clear Port  null",
                        "put Port " + U(11) + R"( {"name":"p1","trunks":["set",[]]})",
                        "modify Port " + U(11) + R"( {"trunks":["set",[1,2]]})",
                        "put Port " + U(12) + R"( {"name":"p2","trunks":["set",[]]})",
                        "remove Port " + U(11) + " null",
                    }));
  handed.clear();
  first_checked.Open();
  ASSERT_TRUE(RunUntil(io, 5s, [&] { return client.counters().full_syncs == 2; }));
  EXPECT_EQ(script.Finish(), "");
  EXPECT_EQ(handed, (std::vector<std::string>{
                        "clear Port  null",
                        "put Port " + U(13) + R"( {"name":"p3","trunks":["set",[]]})",
                    }));
}

TEST(OvsdbClientScripted, AServerWithoutMonitorCondSinceIsMonitoredWithMonitor) {
  lab::TempDir dir("ovsdbfake");
  auto path = dir.path() / "db.sock";
  ScriptedServer server(path);
  boost::asio::io_context io;
  OvsdbClient client(
      io, Remote::Unix(path),
      {.tables = {{"Bridge", {"name"}}}, .min_backoff = 10ms, .max_backoff = 10ms, .tls = {}});
  Gate first_checked;
  Script script([&] {
    for (int connection = 0; connection < 2; ++connection) {
      server.AcceptAndServeSchema(kVswitchSchema);
      // An old server: the unknown method refused, and the whole cache each time (its answer
      // names no transaction to resume from).
      auto since = server.Expect("monitor_cond_since");
      if (since["params"][3] != kNoTxn) throw std::runtime_error("resumed: " + since.dump());
      server.Send({{"id", since["id"]}, {"result", nullptr}, {"error", "unknown method"}});
      auto monitor = server.Expect("monitor");
      if (monitor["params"][1] != "netd") throw std::runtime_error(monitor.dump());
      server.Reply(monitor, {{"Bridge", {{U(1), {{"new", {{"name", "br-a"}}}}}}}});
      server.Send(
          {{"id", nullptr},
           {"method", "update"},
           {"params",
            {"netd",
             {{"Bridge", {{U(1), {{"old", {{"name", "br-a"}}}, {"new", {{"name", "br-b"}}}}}}}}}}});
      if (connection == 0) {
        first_checked.Wait();
        server.Drop();
      }
    }
  });
  client.Start();
  ASSERT_TRUE(RunUntil(io, 5s, [&] { return client.counters().updates == 1; }));
  EXPECT_EQ(client.rows("Bridge").at(U(1))["name"], "br-b");
  first_checked.Open();
  EXPECT_TRUE(RunUntil(io, 5s, [&] { return client.counters().updates == 2; }));
  EXPECT_EQ(script.Finish(), "");
  EXPECT_EQ(client.counters().full_syncs, 2u);
  EXPECT_EQ(client.counters().resumed_syncs, 0u);
}

// Under the old monitor a handed table's rows come whole: RFC 7047's "new" holds every
// monitored column, also for a modify.
TEST(OvsdbClientScripted, UnderMonitorAHandedTableGetsWholeRows) {
  lab::TempDir dir("ovsdbfake");
  auto path = dir.path() / "db.sock";
  ScriptedServer server(path);
  boost::asio::io_context io;
  std::vector<std::string> handed;
  OvsdbClient client(io, Remote::Unix(path),
                     {.tables = {{"Bridge", {"name"}}},
                      .min_backoff = 10ms,
                      .max_backoff = 10ms,
                      .tls = {},
                      .handed_tables = {"Bridge"},
                      .row_handler = RecordInto(handed)});
  Script script([&] {
    server.AcceptAndServeSchema(kVswitchSchema);
    auto since = server.Expect("monitor_cond_since");
    server.Send({{"id", since["id"]}, {"result", nullptr}, {"error", "unknown method"}});
    server.Reply(server.Expect("monitor"), {{"Bridge", {{U(1), {{"new", {{"name", "br-a"}}}}}}}});
    for (const json& change : {json{{"old", {{"name", "br-a"}}}, {"new", {{"name", "br-b"}}}},
                               json{{"old", {{"name", "br-b"}}}}}) {
      server.Send({{"id", nullptr},
                   {"method", "update"},
                   {"params", {"netd", {{"Bridge", {{U(1), change}}}}}}});
    }
  });
  client.Start();
  ASSERT_TRUE(RunUntil(io, 5s, [&] { return client.counters().updates == 2; }));
  EXPECT_EQ(script.Finish(), "");
  EXPECT_TRUE(client.rows("Bridge").empty());
  EXPECT_EQ(handed, (std::vector<std::string>{
                        "clear Bridge  null",
                        "put Bridge " + U(1) + R"( {"name":"br-a"})",
                        "put Bridge " + U(1) + R"( {"name":"br-b"})",
                        "remove Bridge " + U(1) + " null",
                    }));
}

TEST(OvsdbClientScripted, TheProbeSendsAnEchoAndGivesUpASilentServer) {
  lab::TempDir dir("ovsdbfake");
  auto path = dir.path() / "db.sock";
  ScriptedServer server(path);
  boost::asio::io_context io;
  OvsdbClient client(io, Remote::Unix(path),
                     {.tables = {{"Bridge", {"name"}}},
                      .min_backoff = 10ms,
                      .max_backoff = 10ms,
                      .tls = {},
                      .inactivity_probe = 100ms});
  std::atomic<bool> answered = false;
  Script script([&] {
    server.AcceptAndServeSchema(kVswitchSchema);
    server.ServeMonitor(kNoTxn, Initial(json::object()));
    // The first probe is answered: the client stays.
    auto echo = server.Expect("echo");
    server.Reply(echo, json::array());
    answered = true;
    // The next is not: the client gives the connection up.
    server.Expect("echo");
    server.WaitUntilClosed();
  });
  client.Start();
  ASSERT_TRUE(RunUntil(io, 5s, [&] { return answered.load(); }));
  EXPECT_TRUE(RunUntil(io, 5s, [&] { return script.done(); }));
  EXPECT_EQ(script.Finish(), "");
  EXPECT_TRUE(RunUntil(io, 5s, [&] { return client.counters().probe_timeouts == 1; }));
  EXPECT_EQ(client.counters().disconnects, 1u);
  EXPECT_EQ(client.counters().transactions, 0u) << "the echo's answer is not a transaction's";
}

// A member that answers echoes but never a transaction (one that waits for a commit that does
// not come): the transaction's callback hears the connection given up, not nothing forever.
TEST(OvsdbClientScripted, ATransactionUnansweredPastItsTimeoutGivesTheConnectionUp) {
  lab::TempDir dir("ovsdbfake");
  auto path = dir.path() / "db.sock";
  ScriptedServer server(path);
  boost::asio::io_context io;
  OvsdbClient client(io, Remote::Unix(path),
                     {.tables = {{"Bridge", {"name"}}},
                      .min_backoff = 10s,
                      .max_backoff = 10s,
                      .tls = {},
                      .inactivity_probe = 50ms,
                      .request_timeout = 300ms});
  std::atomic<int> echoes = 0;
  Script script([&] {
    server.AcceptAndServeSchema(kVswitchSchema);
    server.ServeMonitor(kNoTxn, Initial(json::object()));
    server.Expect("transact");
    // Alive all along: every probe is answered, until the client closes.
    try {
      for (;;) {
        server.Reply(server.Expect("echo"), json::array());
        ++echoes;
      }
    } catch (const std::exception&) {
    }
  });
  client.Start();
  ASSERT_TRUE(RunUntil(io, 5s, [&] { return client.synced(); }));
  std::optional<OvsdbClient::TransactionResult> outcome;
  client.Transact(json::array({{{"op", "comment"}, {"comment", "x"}}}),
                  [&](const auto& result) { outcome = result; });
  ASSERT_TRUE(RunUntil(io, 5s, [&] { return outcome.has_value(); }));
  EXPECT_NE(outcome->error.find("no answer to request"), std::string::npos) << outcome->error;
  EXPECT_EQ(client.counters().request_timeouts, 1u);
  EXPECT_EQ(client.counters().probe_timeouts, 0u);
  EXPECT_GE(echoes.load(), 2) << "the server answered its probes meanwhile";
  EXPECT_TRUE(RunUntil(io, 5s, [&] { return script.done(); }));
  script.Finish();
}

TEST(OvsdbRemote, ReadsOvsdbServerNotation) {
  auto socket = ParseOvsdbRemote("unix:/run/openvswitch/db.sock");
  EXPECT_EQ(socket.kind, Remote::Kind::kUnix);
  EXPECT_EQ(socket.path, "/run/openvswitch/db.sock");
  EXPECT_EQ(ParseOvsdbRemote("/run/openvswitch/db.sock"), socket) << "a bare path is a socket";

  auto tcp = ParseOvsdbRemote("tcp:192.0.2.1:6640");
  EXPECT_EQ(tcp.kind, Remote::Kind::kTcp);
  EXPECT_EQ(tcp.address, boost::asio::ip::make_address("192.0.2.1"));
  EXPECT_EQ(tcp.port, 6640);

  auto ssl = ParseOvsdbRemote("ssl:[2001:db8::1]:65535");
  EXPECT_EQ(ssl.kind, Remote::Kind::kSsl);
  EXPECT_EQ(ssl.address, boost::asio::ip::make_address("2001:db8::1"));
  EXPECT_EQ(ssl.port, 65535);

  for (const char* text : {"unix:/run/openvswitch/db.sock", "tcp:192.0.2.1:6640", "tcp:[::1]:1",
                           "ssl:10.0.0.1:6641", "ssl:[2001:db8::1]:6640"}) {
    EXPECT_EQ(ToString(ParseOvsdbRemote(text)), text);
  }
}

struct BadRemote {
  const char* text;
  const char* error;
};

class OvsdbRemoteErrors : public ::testing::TestWithParam<BadRemote> {};

TEST_P(OvsdbRemoteErrors, NameTheRemoteAndWhatIsWrong) {
  const auto& bad = GetParam();
  try {
    ParseOvsdbRemote(bad.text);
    ADD_FAILURE() << bad.text << " was accepted";
  } catch (const std::invalid_argument& error) {
    EXPECT_EQ(error.what(), fmt::format("ovsdb remote \"{}\": {}", bad.text, bad.error));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Remotes, OvsdbRemoteErrors,
    ::testing::Values(
        BadRemote{"tcp:1.2.3.4", "expected tcp:IP:PORT"},
        BadRemote{"ssl:1.2.3.4", "expected ssl:IP:PORT"},
        BadRemote{"tcp::6640", "expected tcp:IP:PORT"},
        BadRemote{"tcp:1.2.3.4:", "expected tcp:IP:PORT"},
        BadRemote{"tcp:[::1]", "expected tcp:IP:PORT"},
        BadRemote{"tcp:[::1:6640", "expected tcp:IP:PORT"},
        BadRemote{"", "expected unix:PATH, tcp:IP:PORT or ssl:IP:PORT"},
        BadRemote{"db.sock", "expected unix:PATH, tcp:IP:PORT or ssl:IP:PORT"},
        // Passive remotes are the server's side.
        BadRemote{"ptcp:6640", "expected unix:PATH, tcp:IP:PORT or ssl:IP:PORT"},
        BadRemote{"unix:db.sock", "expected unix: and an absolute path"},
        BadRemote{"unix:", "expected unix: and an absolute path"},
        BadRemote{"tcp:ovsdb.example:6640", "\"ovsdb.example\" is not an IP address"},
        BadRemote{"tcp:1.2.3:6640", "\"1.2.3\" is not an IP address"},
        BadRemote{"tcp:::1:6640",
                  "expected tcp:IP:PORT, an IPv6 address in brackets (tcp:[::1]:6640)"},
        BadRemote{"ssl:[192.0.2.1]:6640", "\"192.0.2.1\" in brackets is not an IPv6 address"},
        BadRemote{"tcp:192.0.2.1:0", "port \"0\" is not a number 1-65535"},
        BadRemote{"tcp:192.0.2.1:65536", "port \"65536\" is not a number 1-65535"},
        BadRemote{"tcp:192.0.2.1:66x", "port \"66x\" is not a number 1-65535"},
        BadRemote{"tcp:192.0.2.1:-1", "port \"-1\" is not a number 1-65535"}));

}  // namespace
}  // namespace netd::ovs
