// OvsdbClient against a real ovsdb-server and ovs-vswitchd (a private userspace Open vSwitch in a
// network namespace of the test's own): the monitor cache, transactions and their
// per-operation errors, the wait guard, reconnecting after ovsdb-server restarts. And over the
// other remotes, tcp: and ssl:, to an ovsdb-server listening on the loopback of a network
// namespace of the test's own, with certificates the test makes.
#include "netd/ovs/ovsdb_client.hpp"

#include <gtest/gtest.h>
#include <signal.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <list>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "netd/lab/command.hpp"
#include "netd/lab/guard.hpp"
#include "netd/lab/namespace.hpp"
#include "netd/lab/ovs.hpp"
#include "netd/lab/temp_dir.hpp"
#include "netd/lab/test_pki.hpp"
#include "netd/ovs/openflow_client.hpp"
#include "netd/ovs/remote.hpp"
#include "netd/testing/within.hpp"

namespace netd::ovs {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

OvsdbClient::TransactionResult Transact(boost::asio::io_context& io, OvsdbClient& client,
                                        json operations) {
  std::optional<OvsdbClient::TransactionResult> outcome;
  client.Transact(std::move(operations), [&](const auto& result) { outcome = result; });
  EXPECT_TRUE(testing::RunUntil(io, 5s, [&] { return outcome.has_value(); }));
  return outcome.value_or(OvsdbClient::TransactionResult{json(), "no answer"});
}

std::optional<std::string> BridgeNamed(const OvsdbClient& client, const std::string& name) {
  for (const auto& [uuid, row] : client.rows("Bridge")) {
    if (row.value("name", "") == name) return uuid;
  }
  return std::nullopt;
}

// A bridge with its internal port and interface, tagged as netd's, added to the Open_vSwitch
// row: what the host role sends.
json AddBridge(const OvsdbClient& client, const std::string& name) {
  const auto& root = client.rows("Open_vSwitch").begin()->first;
  json tag = json::array({"map", json::array({json::array({"netd-managed", "true"})})});
  return json::array(
      {{{"op", "insert"},
        {"table", "Interface"},
        {"row", {{"name", name}, {"type", "internal"}}},
        {"uuid-name", "iface"}},
       {{"op", "insert"},
        {"table", "Port"},
        {"row",
         {{"name", name},
          {"interfaces", json::array({"named-uuid", "iface"})},
          {"external_ids", tag}}},
        {"uuid-name", "port"}},
       {{"op", "insert"},
        {"table", "Bridge"},
        {"row",
         {{"name", name},
          {"ports", json::array({"named-uuid", "port"})},
          {"datapath_type", "netdev"},
          {"fail_mode", "secure"},
          {"external_ids", tag}}},
        {"uuid-name", "bridge"}},
       {{"op", "mutate"},
        {"table", "Open_vSwitch"},
        {"where", json::array({json::array({"_uuid", "==", json::array({"uuid", root})})})},
        {"mutations",
         json::array({json::array(
             {"bridges", "insert",
              json::array({"set", json::array({json::array({"named-uuid", "bridge"})})})})})}}});
}

class OvsdbClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    NETD_REQUIRE_ROOT_OR_SKIP();
    ns_.emplace("ovsdb");
    ovs_.emplace(*ns_);
    client_.emplace(io_, ParseOvsdbRemote(ovs_->db_remote()), OvsdbClient::Options{});
    client_->Start();
    ASSERT_TRUE(RunUntil(5s, [&] { return client_->synced(); })) << "never synced";
  }

  bool RunUntil(std::chrono::milliseconds limit, const std::function<bool()>& done) {
    return testing::RunUntil(io_, limit, done);
  }
  OvsdbClient::TransactionResult Transact(json operations) {
    return ovs::Transact(io_, *client_, std::move(operations));
  }
  std::optional<std::string> BridgeNamed(const std::string& name) const {
    return ovs::BridgeNamed(*client_, name);
  }
  json AddBridge(const std::string& name) const { return ovs::AddBridge(*client_, name); }

  boost::asio::io_context io_;
  std::optional<lab::Namespace> ns_;
  std::optional<lab::OvsInstance> ovs_;
  std::optional<OvsdbClient> client_;
};

TEST_F(OvsdbClientTest, TheCacheFollowsTheDatabase) {
  EXPECT_EQ(client_->rows("Open_vSwitch").size(), 1u);
  EXPECT_TRUE(client_->rows("Bridge").empty());
  ovs_->Vsctl({"add-br", "br-outside"});
  EXPECT_TRUE(RunUntil(5s, [&] { return BridgeNamed("br-outside").has_value(); }))
      << "an update never reached the cache";
  ovs_->Vsctl({"del-br", "br-outside"});
  EXPECT_TRUE(RunUntil(5s, [&] { return !BridgeNamed("br-outside").has_value(); }));
}

TEST_F(OvsdbClientTest, ATransactionCreatesTaggedRowsAndEveryOperationIsChecked) {
  auto created = Transact(AddBridge("br-netd"));
  ASSERT_TRUE(created.ok()) << created.error;
  EXPECT_EQ(created.results.size(), 4u);
  EXPECT_TRUE(ovs_->Vsctl({"br-exists", "br-netd"}).ok());
  EXPECT_EQ(ovs_->Vsctl({"get", "Bridge", "br-netd", "external_ids:netd-managed"}).out,
            "\"true\"\n");
  EXPECT_TRUE(RunUntil(5s, [&] { return BridgeNamed("br-netd").has_value(); }));

  // The same bridge again: the name index refuses it, and the error names the operation.
  auto again = Transact(AddBridge("br-netd"));
  EXPECT_FALSE(again.ok());
  EXPECT_NE(again.error.find("constraint violation"), std::string::npos) << again.error;
  EXPECT_EQ(client_->counters().failed_transactions, 1u);
}

TEST_F(OvsdbClientTest, AWaitOnStaleStateFailsAndNothingIsApplied) {
  // A guard on what netd read: no bridge named br-x. Someone else adds it first.
  ovs_->Vsctl({"add-br", "br-x"});
  json guarded = json::array({{{"op", "wait"},
                               {"table", "Bridge"},
                               {"timeout", 0},
                               {"where", json::array({json::array({"name", "==", "br-x"})})},
                               {"columns", json::array({"name"})},
                               {"until", "=="},
                               {"rows", json::array()}}});
  for (const auto& operation : AddBridge("br-y")) guarded.push_back(operation);
  auto result = Transact(guarded);
  EXPECT_FALSE(result.ok());
  EXPECT_NE(result.error.find("operation 0 (wait Bridge)"), std::string::npos) << result.error;
  EXPECT_NE(result.error.find("timed out"), std::string::npos) << result.error;
  EXPECT_FALSE(ovs_->Vsctl({"br-exists", "br-y"}).ok()) << "part of a refused transaction";
}

TEST_F(OvsdbClientTest, ARestartedServerIsReconnectedAndTheCacheBuiltAgain) {
  ovs_->Vsctl({"add-br", "br-before"});
  ASSERT_TRUE(RunUntil(5s, [&] { return BridgeNamed("br-before").has_value(); }));
  ovs_->RestartOvsdbServer();
  EXPECT_TRUE(RunUntil(5s, [&] { return client_->counters().disconnects == 1; }));
  EXPECT_TRUE(RunUntil(10s, [&] { return client_->synced() && client_->counters().connects == 2; }))
      << "never reconnected";
  EXPECT_TRUE(BridgeNamed("br-before").has_value()) << "the cache was not built again";
  auto created = Transact(AddBridge("br-after"));
  EXPECT_TRUE(created.ok()) << created.error;
}

// Stops a process as a hung daemon would be (SIGSTOP: its sockets stay open and silent), and
// lets it go on when the scope ends, also on a failed assertion.
class Stopped {
 public:
  explicit Stopped(pid_t pid) : pid_(pid) { ::kill(pid_, SIGSTOP); }
  ~Stopped() { Resume(); }
  Stopped(const Stopped&) = delete;
  Stopped& operator=(const Stopped&) = delete;
  void Resume() {
    if (pid_ > 0) ::kill(pid_, SIGCONT);
    pid_ = -1;
  }

 private:
  pid_t pid_;
};

// A real ovsdb-server that hangs without closing its connections: the echo probe gives the
// connection up within two probe intervals (and a quarter), a transaction sent meanwhile hears
// it, and once the server goes on the client syncs again.
TEST_F(OvsdbClientTest, AHungServerIsProbedAndGivenUpThenFollowedWhenItGoesOn) {
  OvsdbClient client(io_, ParseOvsdbRemote(ovs_->db_remote()),
                     {.min_backoff = 50ms,
                      .max_backoff = 200ms,
                      .tls = {},
                      .inactivity_probe = 200ms,
                      .request_timeout = 2000ms});
  client.Start();
  ASSERT_TRUE(RunUntil(5s, [&] { return client.synced(); }));
  Stopped hung(ovs_->ovsdb_server_pid());
  std::optional<OvsdbClient::TransactionResult> outcome;
  client.Transact(AddBridge("br-hung"), [&](const auto& result) { outcome = result; });
  ASSERT_TRUE(RunUntil(3s, [&] { return outcome.has_value(); }));
  EXPECT_NE(outcome->error.find("not even an answer to an echo request"), std::string::npos)
      << outcome->error;
  EXPECT_EQ(client.counters().probe_timeouts, 1u);
  EXPECT_FALSE(client.synced());
  hung.Resume();
  EXPECT_TRUE(RunUntil(10s, [&] { return client.synced(); })) << "never followed it again";
  EXPECT_TRUE(Transact(AddBridge("br-after")).ok());
}

// A real ovs-vswitchd that hangs: the bridge's OpenFlow connection is probed and given up, the
// batch in flight hears it, and the connection is made again once the switch goes on.
TEST_F(OvsdbClientTest, AHungSwitchsOpenFlowConnectionIsProbedAndGivenUp) {
  ASSERT_TRUE(
      ovs_->Vsctl({"add-br", "br-hung", "--", "set", "Bridge", "br-hung", "datapath_type=netdev"})
          .ok());
  OpenFlowClient openflow(io_, ovs_->dir() / "br-hung.mgmt",
                          {.min_backoff = 50ms,
                           .max_backoff = 200ms,
                           .inactivity_probe = 200ms,
                           .request_timeout = 2000ms});
  openflow.Start();
  ASSERT_TRUE(RunUntil(5s, [&] { return openflow.ready(); }));
  Stopped hung(ovs_->vswitchd_pid());
  std::optional<OpenFlowClient::BatchResult> outcome;
  openflow.Send({FlowChange::Delete(0, 0)}, [&](const auto& result) { outcome = result; });
  ASSERT_TRUE(RunUntil(3s, [&] { return outcome.has_value(); }));
  EXPECT_NE(outcome->lost.find("not even an answer to an echo request"), std::string::npos)
      << outcome->lost;
  EXPECT_EQ(openflow.counters().probe_timeouts, 1u);
  hung.Resume();
  EXPECT_TRUE(RunUntil(10s, [&] { return openflow.ready(); })) << "never connected again";
  openflow.Stop();
}

TEST_F(OvsdbClientTest, WithoutAConnectionATransactionFailsAtOnce) {
  auto operations = AddBridge("br-z");
  client_->Stop();
  auto result = Transact(operations);
  EXPECT_EQ(result.error, "not connected to ovsdb-server");
}

// An ovsdb-server of the test's own in a network namespace of the test's own, with only a
// database (the client needs no ovs-vswitchd): a unix socket for ovs-vsctl, and the remote under
// test on that namespace's loopback. The client runs on the test's thread, which stays inside
// the namespace while the test runs, so its sockets reach that loopback and nothing else.
class OvsdbRemoteTest : public ::testing::Test {
 protected:
  static constexpr const char* kPort = "6640";

  void SetUp() override {
    NETD_REQUIRE_ROOT_OR_SKIP();
    ns_.emplace("ovsdbremote");
    dir_.emplace("ovsdbremote");
    lab::RunCommandChecked(
        {"ovsdb-tool", "create", File("conf.db"), "/usr/share/openvswitch/vswitch.ovsschema"},
        {.env = Environment()});
    scope_.emplace(*ns_);
  }

  std::string File(const std::string& name) const { return (dir_->path() / name).string(); }

  // The OVS tools derive their default paths from these: nothing falls back to the system's
  // /run/openvswitch.
  std::vector<std::string> Environment() const {
    auto dir = dir_->path().string();
    return {"OVS_RUNDIR=" + dir, "OVS_DBDIR=" + dir, "OVS_LOGDIR=" + dir, "OVS_SYSCONFDIR=" + dir};
  }

  // Starts ovsdb-server with `remote` (and its options), or again with the last ones.
  void StartServer(std::vector<std::string> remote = {}) {
    if (!remote.empty()) remote_ = std::move(remote);
    std::vector<std::string> argv = {"ovsdb-server",
                                     File("conf.db"),
                                     "--remote=punix:" + File("db.sock"),
                                     "--unixctl=" + File("ovsdb-server.ctl"),
                                     "--pidfile=" + File("ovsdb-server.pid"),
                                     "--log-file=" + File("ovsdb-server.log"),
                                     "--no-chdir",
                                     "-vconsole:off"};
    argv.insert(argv.end(), remote_.begin(), remote_.end());
    server_ = ns_->Start(argv, {.env = Environment(), .output = File("ovsdb-server.out")});
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!Vsctl({"init"}).ok()) {
      if (!server_.Running() || std::chrono::steady_clock::now() > deadline) {
        throw std::runtime_error("ovsdb-server did not start:\n" + ServerLog());
      }
      std::this_thread::sleep_for(20ms);
    }
  }

  std::string ServerLog() const {
    return lab::RunCommand({"tail", "-n", "20", File("ovsdb-server.log"), File("ovsdb-server.out")})
        .out;
  }

  void RestartServer() {
    server_ = lab::Process();
    StartServer();
  }

  lab::CommandResult Vsctl(const std::vector<std::string>& args) const {
    std::vector<std::string> argv = {"ovs-vsctl", "--db=unix:" + File("db.sock"), "--timeout=10",
                                     "--no-wait"};
    argv.insert(argv.end(), args.begin(), args.end());
    return lab::RunCommand(argv, {.env = Environment()});
  }

  // A CA, a certificate for the server and one for the client that it signed, and another CA
  // that signed a stranger's, which ovsdb-server does not trust.
  void MakeCertificates() {
    lab::TestPki ca(dir_->path(), "ca");
    lab::TestPki other_ca(dir_->path(), "other-ca");
    ca.Issue("server");
    ca.Issue("client");
    other_ca.Issue("stranger");
  }

  // ovsdb-server on pssl: with the server's certificate, trusting clients the CA signed.
  void StartTlsServer() {
    MakeCertificates();
    StartServer({std::string("--remote=pssl:") + kPort + ":127.0.0.1",
                 "--private-key=" + File("server.key"), "--certificate=" + File("server.pem"),
                 "--ca-cert=" + File("ca.pem")});
  }

  TlsFiles ClientFiles(const std::string& ca) const {
    return {.private_key = File("client.key"),
            .certificate = File("client.pem"),
            .ca_certificate = File(ca + ".pem")};
  }

  OvsdbClient& AddClient(const std::string& remote, TlsFiles tls = {}) {
    return clients_.emplace_back(
        io_, ParseOvsdbRemote(remote),
        OvsdbClient::Options{.min_backoff = 50ms, .max_backoff = 500ms, .tls = std::move(tls)});
  }

  bool RunUntil(std::chrono::milliseconds limit, const std::function<bool()>& done) {
    return testing::RunUntil(io_, limit, done);
  }

  // Syncs, transacts, sees a change made by someone else, and after ovsdb-server restarts
  // connects again and rebuilds its cache.
  void SyncTransactAndFollowARestart(OvsdbClient& client) {
    client.Start();
    ASSERT_TRUE(RunUntil(10s, [&] { return client.synced(); })) << "never synced\n" << ServerLog();
    auto created = Transact(io_, client, AddBridge(client, "br-netd"));
    ASSERT_TRUE(created.ok()) << created.error;
    EXPECT_TRUE(Vsctl({"br-exists", "br-netd"}).ok());
    ASSERT_TRUE(Vsctl({"add-br", "br-outside"}).ok());
    EXPECT_TRUE(RunUntil(5s, [&] { return BridgeNamed(client, "br-outside").has_value(); }))
        << "an update never reached the cache";

    RestartServer();
    EXPECT_TRUE(RunUntil(10s,
                         [&] {
                           return client.counters().disconnects == 1 &&
                                  client.counters().connects == 2 && client.synced();
                         }))
        << "never reconnected\n"
        << ServerLog();
    EXPECT_TRUE(BridgeNamed(client, "br-netd").has_value()) << "the cache was not built again";
    auto after = Transact(io_, client, AddBridge(client, "br-after"));
    EXPECT_TRUE(after.ok()) << after.error;
  }

  // Destroyed in reverse: the clients, then the thread leaves the namespace, then ovsdb-server
  // stops, its files go, and the namespace.
  std::optional<lab::Namespace> ns_;
  std::optional<lab::TempDir> dir_;
  lab::Process server_;
  std::vector<std::string> remote_;
  std::optional<lab::NamespaceScope> scope_;
  boost::asio::io_context io_;
  std::list<OvsdbClient> clients_;
};

TEST_F(OvsdbRemoteTest, OverTcpTheClientSyncsTransactsAndFollowsARestart) {
  StartServer({std::string("--remote=ptcp:") + kPort + ":127.0.0.1"});
  SyncTransactAndFollowARestart(AddClient(std::string("tcp:127.0.0.1:") + kPort));
}

TEST_F(OvsdbRemoteTest, OverTcpToAnIpv6AddressTheClientSyncs) {
  StartServer({std::string("--remote=ptcp:") + kPort + ":[::1]"});
  auto& client = AddClient(std::string("tcp:[::1]:") + kPort);
  client.Start();
  EXPECT_TRUE(RunUntil(10s, [&] { return client.synced(); })) << "never synced\n" << ServerLog();
  EXPECT_EQ(client.rows("Open_vSwitch").size(), 1u);
}

TEST_F(OvsdbRemoteTest, OverTlsTheClientSyncsTransactsAndFollowsARestart) {
  StartTlsServer();
  SyncTransactAndFollowARestart(
      AddClient(std::string("ssl:127.0.0.1:") + kPort, ClientFiles("ca")));
}

TEST_F(OvsdbRemoteTest, OverTlsAServerThatTheCaDidNotSignIsRefused) {
  StartTlsServer();
  auto remote = std::string("ssl:127.0.0.1:") + kPort;
  auto& wrong_ca = AddClient(remote, ClientFiles("other-ca"));
  auto& right_ca = AddClient(remote, ClientFiles("ca"));
  wrong_ca.Start();
  right_ca.Start();
  EXPECT_TRUE(
      RunUntil(10s, [&] { return right_ca.synced() && wrong_ca.counters().connect_failures >= 3; }))
      << "right CA synced: " << right_ca.synced()
      << ", wrong CA's failed attempts: " << wrong_ca.counters().connect_failures << "\n"
      << ServerLog();
  EXPECT_FALSE(wrong_ca.synced());
  EXPECT_EQ(wrong_ca.counters().connects, 0u) << "a handshake with an unverified server passed";
  EXPECT_TRUE(wrong_ca.rows("Open_vSwitch").empty());
  EXPECT_EQ(right_ca.rows("Open_vSwitch").size(), 1u);
}

TEST_F(OvsdbRemoteTest, OverTlsAClientCertificateTheServerDoesNotTrustIsRefused) {
  StartTlsServer();
  // The client trusts the server; the server does not trust the client's certificate. Under
  // TLS 1.3 the client's handshake completes before the server refuses.
  auto& stranger =
      AddClient(std::string("ssl:127.0.0.1:") + kPort, {.private_key = File("stranger.key"),
                                                        .certificate = File("stranger.pem"),
                                                        .ca_certificate = File("ca.pem")});
  stranger.Start();
  EXPECT_TRUE(RunUntil(10s, [&] { return stranger.counters().connect_failures >= 3; }))
      << "failed attempts: " << stranger.counters().connect_failures << "\n"
      << ServerLog();
  EXPECT_FALSE(stranger.synced());
  EXPECT_EQ(stranger.counters().connects, 0u);
  EXPECT_EQ(stranger.counters().disconnects, 0u) << "refused attempts counted as connections";
}

}  // namespace
}  // namespace netd::ovs
