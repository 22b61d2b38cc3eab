// PolicyPublisher against a real standalone ovsdb-server serving the policy database, in a
// network namespace of the test's own (its host listeners open there), with ovsdb-client as
// the judge: what the database holds is read and edited by a process that is not netd.
#include "netd/policy/policy_publisher.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "netd/common/asio_clock.hpp"
#include "netd/lab/command.hpp"
#include "netd/lab/guard.hpp"
#include "netd/lab/namespace.hpp"
#include "netd/lab/temp_dir.hpp"
#include "netd/ovs/remote.hpp"
#include "netd/policy/policy_feed.hpp"
#include "netd/policy/schema.hpp"
#include "netd/testing/within.hpp"

namespace netd::policy {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

// A binding as both sides spell it: network, MAC and address as text, by VM.
using BindingRows = std::map<std::string, std::tuple<std::string, std::string, std::string>>;

// The VM's address is 10.1.0.0 plus `n`.
PublishedBinding Binding(int n) {
  auto ip = Ipv4Address(Ipv4Address::Parse("10.1.0.0")->value() + static_cast<unsigned>(n));
  return {"vm" + std::to_string(n), "secure", MacAddress::ForVmAddress(ip), ip};
}

class PolicyPublisherTest : public ::testing::Test {
 protected:
  static constexpr const char* kListener = "ptcp:16642:127.0.0.1";

  void SetUp() override {
    NETD_REQUIRE_ROOT_OR_SKIP();
    ns_.emplace("policy");
    dir_.emplace("policy");
    lab::RunCommandChecked({"ovsdb-tool", "create", File("policy.db"), SchemaPath().string()},
                           {.env = Environment()});
    StartServer();
  }

  std::string File(const std::string& name) const { return (dir_->path() / name).string(); }
  std::string Remote() const { return "unix:" + File("db.sock"); }

  // Nothing falls back to the system's /run/openvswitch.
  std::vector<std::string> Environment() const {
    auto dir = dir_->path().string();
    return {"OVS_RUNDIR=" + dir, "OVS_DBDIR=" + dir, "OVS_LOGDIR=" + dir, "OVS_SYSCONFDIR=" + dir};
  }

  // ovsdb-server with the remotes the Policy row's connections name, as a gateway runs it.
  void StartServer() {
    server_ = ns_->Start(
        {"ovsdb-server", File("policy.db"), "--remote=punix:" + File("db.sock"),
         "--remote=db:netd_policy,Policy,connections", "--unixctl=" + File("ovsdb-server.ctl"),
         "--pidfile=" + File("ovsdb-server.pid"), "--log-file=" + File("ovsdb-server.log"),
         "--no-chdir", "-vconsole:off"},
        {.env = Environment(), .output = File("ovsdb-server.out")});
    auto ready = testing::Within(10s, [&] {
      return !server_.Running() ||
             lab::RunCommand({"ovsdb-client", "list-dbs", Remote()}, {.env = Environment()}).ok();
    });
    if (!ready || !server_.Running()) {
      throw std::runtime_error("ovsdb-server did not start:\n" + ServerLog());
    }
  }

  void StopServer() { server_ = lab::Process(); }

  std::string ServerLog() const {
    return lab::RunCommand({"tail", "-n", "20", File("ovsdb-server.log"), File("ovsdb-server.out")})
        .out;
  }

  // The judge: one transaction through ovsdb-client at `remote` (run inside the namespace),
  // its results. ovsdb-client exits 0 also when an operation fails: the error is in them.
  json Transact(json operations, const std::string& remote = "") const {
    json params = json::array({std::string(kDatabase)});
    for (auto& operation : operations) params.push_back(std::move(operation));
    auto result =
        ns_->Run({"ovsdb-client", "transact", remote.empty() ? Remote() : remote, params.dump()},
                 {.env = Environment()});
    if (!result.ok()) {
      throw std::runtime_error("ovsdb-client transact failed: " + result.err + "\n" + ServerLog());
    }
    return json::parse(result.out);
  }

  std::vector<json> Select(const std::string& table) const {
    auto results =
        Transact(json::array({{{"op", "select"}, {"table", table}, {"where", json::array()}}}));
    return results.at(0).at("rows").get<std::vector<json>>();
  }

  BindingRows Database() const {
    BindingRows rows;
    for (const auto& row : Select("Binding")) {
      rows[row.at("vm")] = {row.at("network"), row.at("mac"), row.at("ip")};
    }
    return rows;
  }

  BindingRows Store() const {
    BindingRows rows;
    for (const auto& [vm, binding] : store_) {
      rows[vm] = {binding.network, binding.mac.ToString(), binding.ip.ToString()};
    }
    return rows;
  }

  std::int64_t Generation() const {
    auto policies = Select("Policy");
    return policies.size() == 1 ? policies[0].at("generation").get<std::int64_t>() : -1;
  }

  // A publisher of `count` bindings, started.
  PolicyPublisher& StartPublisher(int count, PublisherOptions options = {}) {
    for (int n = 1; n <= count; ++n) store_[Binding(n).vm] = Binding(n);
    options.remotes = {ovs::ParseOvsdbRemote(Remote())};
    options.min_retry = 50ms;
    options.max_retry = 500ms;
    publisher_.emplace(io_, std::move(options), clock_);
    std::vector<PublishedBinding> bindings;
    for (const auto& [vm, binding] : store_) bindings.push_back(binding);
    publisher_->Start(bindings);
    return *publisher_;
  }

  void Bind(const PublishedBinding& binding) {
    store_[binding.vm] = binding;
    publisher_->Bind(binding);
  }
  void Unbind(const std::string& vm) {
    store_.erase(vm);
    publisher_->Unbind(vm);
  }

  // Runs the loop until everything accepted so far is committed.
  bool Published(std::chrono::milliseconds limit = 10s) {
    bool done = false;
    publisher_->WhenPublished([&] { done = true; });
    return RunUntil(limit, [&] { return done; });
  }

  bool RunUntil(std::chrono::milliseconds limit, const std::function<bool()>& check) {
    return testing::RunUntil(io_, limit, check);
  }

  // Destroyed in reverse: the publisher, then ovsdb-server, its files, the namespace.
  std::optional<lab::Namespace> ns_;
  std::optional<lab::TempDir> dir_;
  lab::Process server_;
  boost::asio::io_context io_;
  AsioClock clock_{io_};
  std::map<std::string, PublishedBinding> store_;
  std::optional<PolicyPublisher> publisher_;
};

TEST_F(PolicyPublisherTest, TheStoreIsPublishedAtStart) {
  auto before = std::chrono::system_clock::now();
  auto& publisher = StartPublisher(50);
  ASSERT_TRUE(Published()) << ServerLog();
  EXPECT_EQ(Database(), Store());
  auto policies = Select("Policy");
  ASSERT_EQ(policies.size(), 1u);
  EXPECT_GT(policies[0].at("generation").get<std::int64_t>(), 0);
  auto published_at = std::chrono::system_clock::time_point(
      std::chrono::milliseconds(policies[0].at("published_at").get<std::int64_t>()));
  EXPECT_GE(published_at + 1ms, before);
  EXPECT_LE(published_at, std::chrono::system_clock::now());

  auto status = publisher.status();
  EXPECT_TRUE(status.connected);
  EXPECT_TRUE(status.in_sync);
  EXPECT_EQ(status.remote, Remote());
  EXPECT_EQ(status.generation, static_cast<std::uint64_t>(Generation()));
  EXPECT_EQ(status.rebuild_rows, 51u) << "50 bindings and the Policy row, into an empty database";
  EXPECT_EQ(status.repairs, 0u);
  EXPECT_EQ(status.failed_transactions, 0u);
  EXPECT_EQ(status.pending_rows, 0u);
  EXPECT_TRUE(status.last_publish_latency.has_value());
}

TEST_F(PolicyPublisherTest, BindAndUnbindAreReflectedAndCoalesced) {
  auto& publisher = StartPublisher(3);
  ASSERT_TRUE(Published());
  auto generation = Generation();
  auto transactions = publisher.status().transactions;

  Bind(Binding(4));
  Unbind("vm1");
  // Accepted while nothing ran: one transaction carries them all.
  for (int n = 100; n < 200; ++n) Bind(Binding(n));
  ASSERT_TRUE(Published());
  EXPECT_EQ(Database(), Store());
  EXPECT_EQ(publisher.status().transactions, transactions + 1);
  EXPECT_EQ(Generation(), generation + 1);

  // One in flight (the pass runs, the transaction goes out), the rest coalesced into the next.
  Bind(Binding(5));
  io_.poll();
  io_.restart();
  for (int n = 6; n < 50; ++n) Bind(Binding(n));
  Unbind("vm2");
  ASSERT_TRUE(Published());
  EXPECT_EQ(Database(), Store());
  auto status = publisher.status();
  EXPECT_LE(status.transactions, transactions + 3);
  EXPECT_EQ(status.repairs, 0u);
  EXPECT_TRUE(status.in_sync);
  ASSERT_TRUE(status.last_publish_latency.has_value());
  EXPECT_LT(*status.last_publish_latency, 5s);
}

TEST_F(PolicyPublisherTest, GroupsArePublishedAndRemoved) {
  auto& publisher = StartPublisher(3);
  ASSERT_TRUE(Published());
  auto transactions = publisher.status().transactions;
  publisher.SetGroup({"builders", "secure", {"vm1", "vm2"}, "tcp", {22, 443}, "ci runners"});
  // One member and one port: ovsdb-server writes such sets as bare atoms.
  publisher.SetGroup({"dns", "secure", {"vm3"}, "udp", {53}, ""});
  ASSERT_TRUE(Published());
  std::map<std::string, json> groups;
  for (auto row : Select("Group")) {
    row.erase("_uuid");
    row.erase("_version");
    groups[row.at("name")] = row;
  }
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups["builders"], json::parse(R"({"name": "builders", "network": "secure",
      "members": ["set", ["vm1", "vm2"]], "protocol": "tcp", "ports": ["set", [22, 443]],
      "comment": "ci runners"})"));
  EXPECT_EQ(groups["dns"], json::parse(R"({"name": "dns", "network": "secure", "members": "vm3",
      "protocol": "udp", "ports": 53, "comment": ""})"));

  publisher.RemoveGroup("builders");
  ASSERT_TRUE(Published());
  ASSERT_EQ(Select("Group").size(), 1u);
  EXPECT_EQ(Select("Group")[0].at("name"), "dns");
  // Read back in the server's notation, the rows compare equal: nothing was sent twice.
  auto status = publisher.status();
  EXPECT_EQ(status.transactions, transactions + 2);
  EXPECT_EQ(status.repairs, 0u);
  EXPECT_EQ(Database(), Store());
}

// A host's feed of the same database: the peers each VM's groups give it, as the groups and
// bindings change.
TEST_F(PolicyPublisherTest, AFeedFollowsTheGroupsAndBindingsPublished) {
  StartPublisher(4);
  ASSERT_TRUE(Published());
  PolicyFeed feed(io_, {{ovs::ParseOvsdbRemote(Remote())}, {}}, clock_);
  feed.Start();
  auto peers = [&](const char* vm) {
    std::map<std::string, std::vector<ovs::GroupAllowance>> out;
    for (const auto& peer : feed.PeersOf("secure", vm)) {
      EXPECT_EQ(peer.address, Binding(std::stoi(peer.vm.substr(2))).ip) << peer.vm;
      EXPECT_EQ(peer.mac, Binding(std::stoi(peer.vm.substr(2))).mac) << peer.vm;
      out[peer.vm] = peer.allowances;
    }
    return out;
  };
  using Peers = std::map<std::string, std::vector<ovs::GroupAllowance>>;
  const ovs::GroupAllowance ssh_https{6, {22, 443}};
  const ovs::GroupAllowance all{};
  publisher_->SetGroup({"builders", "secure", {"vm1", "vm2", "vm9"}, "tcp", {22, 443}, ""});
  publisher_->SetGroup({"cluster", "secure", {"vm1", "vm3"}, "all", {}, ""});
  publisher_->SetGroup({"elsewhere", "service", {"vm1", "vm4"}, "all", {}, ""});
  ASSERT_TRUE(Published());
  ASSERT_TRUE(RunUntil(10s, [&] { return feed.status().groups == 3; }));
  EXPECT_EQ(feed.state(), ovs::PortBindings::State::kCurrent);
  // vm9 is not bound and vm4 is bound on another network than the group's: neither is a peer.
  EXPECT_EQ(peers("vm1"), (Peers{{"vm2", {ssh_https}}, {"vm3", {all}}}));
  EXPECT_EQ(peers("vm2"), (Peers{{"vm1", {ssh_https}}}));
  EXPECT_EQ(peers("vm4"), Peers{});

  // A second group joining vm1 and vm2 with all traffic: all of it.
  publisher_->SetGroup({"wide", "secure", {"vm1", "vm2"}, "all", {}, ""});
  ASSERT_TRUE(Published());
  ASSERT_TRUE(RunUntil(10s, [&] { return feed.status().groups == 4; }));
  EXPECT_EQ(peers("vm2"), (Peers{{"vm1", {all}}}));

  publisher_->RemoveGroup("wide");
  publisher_->RemoveGroup("cluster");
  Unbind("vm2");
  ASSERT_TRUE(Published());
  ASSERT_TRUE(
      RunUntil(10s, [&] { return feed.status().groups == 2 && feed.status().bindings == 3; }));
  EXPECT_EQ(peers("vm1"), Peers{});
  EXPECT_EQ(peers("vm3"), Peers{});

  // A group changed in place: the feed gets the members and ports that changed (update2's set
  // diffs), not the whole row.
  publisher_->SetGroup({"builders", "secure", {"vm1", "vm3"}, "tcp", {22}, ""});
  ASSERT_TRUE(Published());
  ASSERT_TRUE(RunUntil(10s, [&] { return !peers("vm3").empty(); }));
  EXPECT_EQ(peers("vm1"), (Peers{{"vm3", {ovs::GroupAllowance{6, {22}}}}}));
  EXPECT_EQ(peers("vm3"), (Peers{{"vm1", {ovs::GroupAllowance{6, {22}}}}}));
  EXPECT_EQ(feed.status().groups, 2u);
  feed.Stop();
}

TEST_F(PolicyPublisherTest, RowsChangedBehindItsBackAreRepairedAndCounted) {
  auto& publisher = StartPublisher(10);
  ASSERT_TRUE(Published());
  auto row = [](const std::string& vm) { return json::array({json::array({"vm", "==", vm})}); };
  auto result =
      Transact(json::array({{{"op", "delete"}, {"table", "Binding"}, {"where", row("vm1")}},
                            {{"op", "update"},
                             {"table", "Binding"},
                             {"where", row("vm2")},
                             {"row", {{"ip", "10.9.9.9"}}}},
                            {{"op", "insert"},
                             {"table", "Binding"},
                             {"row",
                              {{"vm", "stranger"},
                               {"network", "secure"},
                               {"mac", "52:54:0a:09:09:09"},
                               {"ip", "10.9.9.9"}}}}}));
  ASSERT_EQ(result.dump().find("error"), std::string::npos) << result.dump();
  EXPECT_TRUE(
      RunUntil(10s, [&] { return publisher.status().repairs == 3 && publisher.status().in_sync; }))
      << "repairs: " << publisher.status().repairs;
  EXPECT_EQ(Database(), Store());

  // Emptied: every row, and the Policy row, put back; the generation goes on from where it was.
  auto generation = Generation();
  Transact(json::array({{{"op", "delete"}, {"table", "Binding"}, {"where", json::array()}},
                        {{"op", "delete"}, {"table", "Policy"}, {"where", json::array()}}}));
  EXPECT_TRUE(RunUntil(
      10s, [&] { return publisher.status().repairs == 3 + 11 && publisher.status().in_sync; }))
      << "repairs: " << publisher.status().repairs;
  EXPECT_EQ(Database(), Store());
  EXPECT_EQ(Generation(), generation + 1);
  EXPECT_EQ(publisher.status().rebuild_rows, 11u) << "only the first start rebuilt";
}

TEST_F(PolicyPublisherTest, ARestartedServerIsReconnectedAndTheDatabaseMadeEqualToTheStore) {
  auto& publisher = StartPublisher(10);
  ASSERT_TRUE(Published());
  StopServer();
  ASSERT_TRUE(RunUntil(5s, [&] { return !publisher.status().connected; }));
  // The store moves on while the database is away, and the database is edited meanwhile.
  Bind(Binding(11));
  Unbind("vm1");
  bool published = false;
  publisher.WhenPublished([&] { published = true; });
  auto edited =
      lab::RunCommand({"ovsdb-tool", "transact", File("policy.db"),
                       json::array({std::string(kDatabase),
                                    {{"op", "delete"},
                                     {"table", "Binding"},
                                     {"where", json::array({json::array({"vm", "==", "vm2"})})}}})
                           .dump()},
                      {.env = Environment()});
  ASSERT_TRUE(edited.ok()) << edited.err;
  io_.poll();
  io_.restart();
  EXPECT_FALSE(published);
  EXPECT_FALSE(publisher.status().in_sync);

  StartServer();
  EXPECT_TRUE(RunUntil(10s, [&] { return published; })) << ServerLog();
  EXPECT_EQ(Database(), Store());
  auto status = publisher.status();
  EXPECT_TRUE(status.connected);
  EXPECT_TRUE(status.in_sync);
  EXPECT_EQ(status.repairs, 1u) << "vm2, deleted while netd was away";
}

TEST_F(PolicyPublisherTest, AHostListenerIsAReadOnlyRemoteOfTheServer) {
  auto& publisher = StartPublisher(2, {.host_listeners = {kListener}});
  ASSERT_TRUE(Published());
  auto connections = Select("Connection");
  ASSERT_EQ(connections.size(), 1u);
  EXPECT_EQ(connections[0].at("target"), kListener);
  EXPECT_EQ(connections[0].at("read_only"), true);
  EXPECT_EQ(Select("Policy").at(0).at("connections"), connections[0].at("_uuid"));
  EXPECT_EQ(publisher.status().rebuild_rows, 4u) << "2 bindings, the Connection and Policy rows";

  // ovsdb-server opens it on its own (it reads the Connection rows in its main loop).
  std::string listener = "tcp:127.0.0.1:16642";
  json select = json::array({{{"op", "select"}, {"table", "Binding"}, {"where", json::array()}}});
  std::optional<json> read;
  ASSERT_TRUE(testing::Within(10s, [&] {
    try {
      read = Transact(select, listener);
      return true;
    } catch (const std::runtime_error&) {
      return false;
    }
  })) << ServerLog();
  EXPECT_EQ(read->at(0).at("rows").size(), 2u);
  auto write = Transact(
      json::array({{{"op", "delete"}, {"table", "Binding"}, {"where", json::array()}}}), listener);
  EXPECT_EQ(write.at(0).value("error", ""), "not allowed") << write.dump();
  EXPECT_EQ(Database(), Store());
}

TEST_F(PolicyPublisherTest, ARebuildOfFiveThousandBindingsGoesInChunks) {
  auto& publisher = StartPublisher(5000, {.chunk_rows = 1000});
  ASSERT_TRUE(Published(60s)) << ServerLog();
  EXPECT_EQ(Database(), Store());
  auto status = publisher.status();
  EXPECT_GE(status.transactions, 5u);
  EXPECT_EQ(Generation(), static_cast<std::int64_t>(status.transactions));
  EXPECT_EQ(status.rebuild_rows, 5001u);
  EXPECT_EQ(status.repairs, 0u);
  EXPECT_EQ(status.failed_transactions, 0u);
}

}  // namespace
}  // namespace netd::policy
