// OvsdbClient against a clustered ovsdb-server (Raft, three members) of netd's policy database,
// in a network namespace of the test's own: a leader-only client finds the leader among the
// members it is given and transacts, a client content with a connected member monitors a
// follower, both move on when the leader is killed (the follower's client resuming its cache
// from the last transaction it saw) and the old leader restarted catches up, a dead remote is
// skipped, and a leader-only client over TLS.
#include "netd/lab/ovsdb_cluster.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <list>
#include <optional>
#include <string>
#include <vector>

#include "netd/lab/guard.hpp"
#include "netd/lab/namespace.hpp"
#include "netd/lab/temp_dir.hpp"
#include "netd/lab/test_pki.hpp"
#include "netd/ovs/ovsdb_client.hpp"
#include "netd/ovs/remote.hpp"
#include "netd/testing/within.hpp"

namespace netd::ovs {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using Cluster = OvsdbClient::Cluster;

// A VM's binding; `host` 1-9.
json InsertBinding(const std::string& vm, int host) {
  auto ip = "10.0.0." + std::to_string(host);
  return json::array({{{"op", "insert"},
                       {"table", "Binding"},
                       {"row",
                        {{"vm", vm},
                         {"network", "secure"},
                         {"mac", "52:54:0a:00:00:0" + std::to_string(host)},
                         {"ip", ip}}}}});
}

bool HasVm(const OvsdbClient& client, const std::string& vm) {
  for (const auto& [uuid, row] : client.rows("Binding")) {
    if (row.value("vm", "") == vm) return true;
  }
  return false;
}

class OvsdbClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    NETD_REQUIRE_ROOT_OR_SKIP();
    ns_.emplace("ovsdbcluster");
  }

  // The cluster, and the test's thread inside the namespace for the clients' sockets.
  void StartCluster(std::optional<lab::OvsdbCluster::Tls> tls = std::nullopt) {
    cluster_.emplace(*ns_, NETD_POLICY_SCHEMA, lab::OvsdbCluster::Options{.tls = std::move(tls)});
    scope_.emplace(*ns_);
  }

  OvsdbClient& AddClient(const std::vector<std::string>& remotes, Cluster cluster,
                         TlsFiles tls = {}) {
    std::vector<Remote> parsed;
    for (const auto& remote : remotes) parsed.push_back(ParseOvsdbRemote(remote));
    auto& client = clients_.emplace_back(
        io_, std::move(parsed),
        OvsdbClient::Options{.database = "netd_policy",
                             .tables = {{"Binding", {"vm", "network", "mac", "ip"}}},
                             .min_backoff = 50ms,
                             .max_backoff = 500ms,
                             .tls = std::move(tls),
                             .cluster = cluster});
    client.Start();
    return client;
  }

  bool RunUntil(std::chrono::milliseconds limit, const std::function<bool()>& done) {
    return testing::RunUntil(io_, limit, done);
  }

  OvsdbClient::TransactionResult Transact(OvsdbClient& client, json operations) {
    std::optional<OvsdbClient::TransactionResult> outcome;
    client.Transact(std::move(operations), [&](const auto& result) { outcome = result; });
    EXPECT_TRUE(RunUntil(10s, [&] { return outcome.has_value(); }));
    return outcome.value_or(OvsdbClient::TransactionResult{json(), "no answer"});
  }

  // The members' remotes with `first` first, then the others in order.
  std::vector<std::string> RemotesFrom(int first) const {
    std::vector<std::string> remotes = {cluster_->tcp_remote(first)};
    for (int member = 0; member < cluster_->size(); ++member) {
      if (member != first) remotes.push_back(cluster_->tcp_remote(member));
    }
    return remotes;
  }

  std::string Diagnostics() const {
    std::string text;
    for (int member = 0; member < cluster_->size(); ++member) {
      text += cluster_->Status(member);
    }
    return text;
  }

  // Destroyed in reverse: the clients, then the thread leaves the namespace, then the members
  // stop, and the namespace goes.
  std::optional<lab::Namespace> ns_;
  std::optional<lab::TempDir> dir_;
  std::optional<lab::OvsdbCluster> cluster_;
  std::optional<lab::NamespaceScope> scope_;
  boost::asio::io_context io_;
  std::list<OvsdbClient> clients_;
};

TEST_F(OvsdbClusterTest, ALeaderOnlyClientFindsTheLeaderAndTransacts) {
  StartCluster();
  auto leader = cluster_->WaitForLeader(10s);
  // The followers first: the client must pass them by.
  auto remotes = RemotesFrom(leader);
  std::rotate(remotes.begin(), remotes.begin() + 1, remotes.end());
  auto& writer = AddClient(remotes, Cluster::kLeader);
  ASSERT_TRUE(RunUntil(10s, [&] { return writer.synced(); })) << Diagnostics();
  EXPECT_EQ(ToString(writer.remote()), cluster_->tcp_remote(leader));
  EXPECT_EQ(writer.counters().cluster_refusals, 2u) << "both followers";
  auto inserted = Transact(writer, InsertBinding("vm1", 1));
  ASSERT_TRUE(inserted.ok()) << inserted.error;
  EXPECT_TRUE(RunUntil(5s, [&] { return HasVm(writer, "vm1"); }));
}

TEST_F(OvsdbClusterTest, AConnectedClientMonitorsAFollower) {
  StartCluster();
  auto leader = cluster_->WaitForLeader(10s);
  auto follower = (leader + 1) % cluster_->size();
  auto& reader = AddClient(RemotesFrom(follower), Cluster::kConnected);
  auto& writer = AddClient(RemotesFrom(leader), Cluster::kLeader);
  ASSERT_TRUE(RunUntil(10s, [&] { return reader.synced() && writer.synced(); })) << Diagnostics();
  EXPECT_EQ(ToString(reader.remote()), cluster_->tcp_remote(follower));
  EXPECT_EQ(reader.counters().cluster_refusals, 0u);
  auto inserted = Transact(writer, InsertBinding("vm1", 1));
  ASSERT_TRUE(inserted.ok()) << inserted.error;
  EXPECT_TRUE(RunUntil(5s, [&] { return HasVm(reader, "vm1"); }))
      << "a follower's client never saw the leader's transaction";
}

TEST_F(OvsdbClusterTest, WhenTheLeaderDiesTheWriterFindsTheNewOneAndTheReaderResumes) {
  StartCluster();
  auto leader = cluster_->WaitForLeader(10s);
  auto& writer = AddClient(cluster_->tcp_remotes(), Cluster::kLeader);
  // The reader is on the leader too, so that the leader's death moves it.
  auto& reader = AddClient(RemotesFrom(leader), Cluster::kConnected);
  ASSERT_TRUE(RunUntil(10s, [&] { return reader.synced() && writer.synced(); })) << Diagnostics();
  ASSERT_EQ(ToString(reader.remote()), cluster_->tcp_remote(leader));
  for (int host = 1; host <= 4; ++host) {
    auto inserted = Transact(writer, InsertBinding("vm" + std::to_string(host), host));
    ASSERT_TRUE(inserted.ok()) << inserted.error;
  }
  ASSERT_TRUE(RunUntil(5s, [&] { return HasVm(reader, "vm4"); }));
  auto uuid = reader.rows("Binding").begin()->first;
  auto version = reader.version("Binding", uuid);

  cluster_->Kill(leader);
  auto moved = [&](const OvsdbClient& client) {
    return client.synced() && ToString(client.remote()) != cluster_->tcp_remote(leader);
  };
  ASSERT_TRUE(RunUntil(20s, [&] { return moved(writer) && moved(reader); }))
      << "writer synced: " << writer.synced() << ", reader synced: " << reader.synced() << "\n"
      << Diagnostics();
  auto new_leader = cluster_->WaitForLeader(10s);
  EXPECT_NE(new_leader, leader);
  EXPECT_EQ(ToString(writer.remote()), cluster_->tcp_remote(new_leader));
  EXPECT_GE(reader.counters().resumed_syncs, 1u) << "the reader's cache was sent whole again";
  EXPECT_EQ(reader.version("Binding", uuid), version) << "a row that did not change is the same";
  EXPECT_EQ(reader.rows("Binding").size(), 4u);

  auto inserted = Transact(writer, InsertBinding("vm5", 5));
  ASSERT_TRUE(inserted.ok()) << inserted.error;
  EXPECT_TRUE(RunUntil(5s, [&] { return HasVm(reader, "vm5"); }))
      << "the reader missed a change made after the failover";

  // The old leader, restarted, rejoins as a follower and catches up.
  cluster_->Restart(leader);
  EXPECT_NE(cluster_->WaitForLeader(10s), leader);
  auto& late = AddClient({cluster_->tcp_remote(leader)}, Cluster::kConnected);
  EXPECT_TRUE(RunUntil(10s, [&] { return late.synced() && HasVm(late, "vm5"); })) << Diagnostics();
}

TEST_F(OvsdbClusterTest, ADeadRemoteIsSkippedWithoutAPause) {
  StartCluster();
  std::vector<std::string> remotes = {"tcp:127.0.0.1:6699"};  // nothing listens there
  for (const auto& remote : cluster_->tcp_remotes()) remotes.push_back(remote);
  std::vector<Remote> parsed;
  for (const auto& remote : remotes) parsed.push_back(ParseOvsdbRemote(remote));
  // A pause far longer than the test: the next remote must not wait for it.
  OvsdbClient client(io_, std::move(parsed),
                     {.database = "netd_policy",
                      .tables = {{"Binding", {"vm"}}},
                      .min_backoff = 60s,
                      .max_backoff = 60s,
                      .tls = {},
                      .cluster = Cluster::kConnected});
  client.Start();
  ASSERT_TRUE(RunUntil(10s, [&] { return client.synced(); })) << Diagnostics();
  EXPECT_EQ(client.counters().connect_failures, 1u);
  EXPECT_EQ(ToString(client.remote()), cluster_->tcp_remote(0));
}

TEST_F(OvsdbClusterTest, OverTlsALeaderOnlyClientFindsTheLeader) {
  dir_.emplace("ovsdbpki");
  lab::TestPki ca(dir_->path(), "ca");
  auto server = ca.Issue("server");
  auto client = ca.Issue("client");
  StartCluster(lab::OvsdbCluster::Tls{.private_key = server.private_key,
                                      .certificate = server.certificate,
                                      .ca_certificate = ca.ca_certificate()});
  auto leader = cluster_->WaitForLeader(10s);
  std::vector<std::string> remotes;
  for (int member = 0; member < cluster_->size(); ++member) {
    remotes.push_back(cluster_->ssl_remote(member));
  }
  auto& writer = AddClient(remotes, Cluster::kLeader,
                           {.private_key = client.private_key,
                            .certificate = client.certificate,
                            .ca_certificate = ca.ca_certificate()});
  ASSERT_TRUE(RunUntil(10s, [&] { return writer.synced(); })) << Diagnostics();
  EXPECT_EQ(ToString(writer.remote()), cluster_->ssl_remote(leader));
  auto inserted = Transact(writer, InsertBinding("vm1", 1));
  EXPECT_TRUE(inserted.ok()) << inserted.error;
}

TEST_F(OvsdbClusterTest, TheElectionTimerIsRaisedInDoublingSteps) {
  StartCluster();
  // 1000 ms by default; 4000 takes two steps, as ovsdb-server refuses more than double.
  cluster_->SetElectionTimer(4000ms);
  for (int member = 0; member < cluster_->size(); ++member) {
    EXPECT_NE(cluster_->Status(member).find("Election timer: 4000\n"), std::string::npos)
        << cluster_->Status(member);
  }
}

}  // namespace
}  // namespace netd::ovs
