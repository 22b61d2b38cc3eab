// PolicyPublication between the group routes and a scripted ovsdb-server: the groups the store
// holds at start and those the API changes reach the policy database as Group rows.
#include "netd/daemon/policy_publication.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "netd/daemon/control_api.hpp"
#include "netd/daemon/group_api.hpp"
#include "netd/lab/temp_dir.hpp"
#include "netd/ovs/json_stream.hpp"
#include "netd/policy/schema.hpp"
#include "netd/testing/fake_clock.hpp"
#include "netd/testing/scripted_peer.hpp"
#include "netd/testing/within.hpp"

namespace netd {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

std::vector<dhcp::IpamNetwork> IpamNetworks(const Config& config) {
  std::vector<dhcp::IpamNetwork> networks;
  for (const auto& n : config.networks) networks.push_back({n.name, n.dhcp_first, n.dhcp_last});
  return networks;
}

class PolicyPublicationTest : public ::testing::Test {
 protected:
  PolicyPublicationTest() {
    config_.policy = PolicyConfig{{ovs::Remote::Unix(dir_.path() / "db.sock")}, {}, {}};
  }

  // The publisher's next whole message; the loop turns until it is there.
  json Read() {
    while (ready_.empty()) {
      EXPECT_TRUE(testing::RunUntil(io_, 5s, [&] { return server_.BytesWaiting() > 0; }))
          << "the publisher sent nothing";
      auto bytes = server_.ReadSome();
      for (auto& text : splitter_.Feed(std::string_view(bytes.data(), bytes.size()))) {
        ready_.push_back(json::parse(text));
      }
    }
    auto message = ready_.front();
    ready_.erase(ready_.begin());
    return message;
  }

  void Answer(const json& request, const json& result) {
    server_.Write(json{{"id", request["id"]}, {"result", result}, {"error", nullptr}}.dump());
  }

  // What a standalone ovsdb-server with an empty database answers a writer that connects.
  void Connect() {
    ASSERT_TRUE(testing::RunUntil(io_, 5s, [&] { return server_.ConnectionWaiting(); }));
    server_.Accept();
    auto schema = Read();
    ASSERT_EQ(schema["method"], "get_schema");
    std::ifstream file(policy::SchemaPath());
    Answer(schema, json::parse(file));
    auto server = Read();
    ASSERT_EQ(server["method"], "monitor");
    Answer(server, {{"Database",
                     {{"5e7e0000-0000-4000-8000-000000000001",
                       {{"new",
                         {{"name", "netd_policy"},
                          {"model", "standalone"},
                          {"connected", true},
                          {"leader", true},
                          {"schema", ""},
                          {"index", json::array({"set", json::array()})}}}}}}}});
    auto monitor = Read();
    ASSERT_EQ(monitor["method"], "monitor_cond_since");
    Answer(monitor, json::array({false, "00000000-0000-0000-0000-000000000000", json::object()}));
  }

  // The Group rows a transaction inserts, by name.
  static std::map<std::string, json> InsertedGroups(const json& transact) {
    std::map<std::string, json> groups;
    for (const auto& operation : transact["params"]) {
      if (operation.is_object() && operation.value("op", "") == "insert" &&
          operation.value("table", "") == "Group") {
        groups[operation["row"]["name"]] = operation["row"];
      }
    }
    return groups;
  }

  json Admin(const std::string& method, const std::string& target, const json& body = nullptr) {
    auto response = api_.Handle({method,
                                 target,
                                 body.is_null() ? "" : body.dump(),
                                 {0, 0, 1, "netctl"},
                                 AccessLevel::kAdmin});
    return {{"status", response.status}, {"body", json::parse(response.body)}};
  }

  lab::TempDir dir_{"unit"};
  Config config_ = ParseConfig(DemoConfigText(), "demo");
  testing::ScriptedPeer server_{dir_.path() / "db.sock"};
  ovs::JsonStreamSplitter splitter_;
  std::vector<json> ready_;
  boost::asio::io_context io_;
  testing::FakeClock clock_;
  Store store_{dir_.path() / "netd.db"};
  AuditChain audit_{store_};
  dhcp::Ipam ipam_{IpamNetworks(config_)};
  ApiMetrics metrics_;
  ControlApi api_{audit_, metrics_};
};

TEST_F(PolicyPublicationTest, StoredGroupsAndTheApisChangesBecomeGroupRows) {
  // A group stored by an earlier run of the gateway.
  store_.Transact([&] {
    store_.PutGroup({{"kept", "secure", {"vm1", "vm2"}, "all", {}, "from before"}, 1, 1});
  });
  GroupApi groups(config_, store_, audit_, ipam_);
  PolicyPublication publication(io_, config_, clock_);
  publication.Start(ipam_, groups.published());
  groups.AddObserver(publication);
  api_.Serve(groups);

  auto slurm = Admin("PUT", "/v1/groups/slurm",
                     {{"network", "secure"},
                      {"members", {"vm1"}},
                      {"protocol", "tcp"},
                      {"ports", {22, 6817}},
                      {"comment", "jobs"}});
  ASSERT_EQ(slurm["status"], 201) << slurm;
  ASSERT_EQ(Admin("PUT", "/v1/groups/slurm/members/vm3")["status"], 200);
  ASSERT_EQ(Admin("PUT", "/v1/groups/gone", {{"network", "secure"}})["status"], 201);
  ASSERT_EQ(Admin("DELETE", "/v1/groups/gone")["status"], 200);
  auto refused = Admin("PUT", "/v1/groups/bad", {{"network", "nowhere"}});
  ASSERT_EQ(refused["status"], 422) << refused;

  Connect();
  auto transact = Read();
  ASSERT_EQ(transact["method"], "transact");
  auto rows = InsertedGroups(transact);
  ASSERT_EQ(rows.size(), 2u) << transact.dump();
  EXPECT_EQ(rows["kept"]["network"], "secure");
  EXPECT_EQ(rows["kept"]["members"], json::parse(R"(["set",["vm1","vm2"]])"));
  EXPECT_EQ(rows["kept"]["protocol"], "all");
  EXPECT_EQ(rows["kept"]["comment"], "from before");
  EXPECT_EQ(rows["slurm"]["members"], json::parse(R"(["set",["vm1","vm3"]])"));
  EXPECT_EQ(rows["slurm"]["protocol"], "tcp");
  EXPECT_EQ(rows["slurm"]["ports"], json::parse(R"(["set",[22,6817]])"));
  EXPECT_EQ(rows["slurm"]["comment"], "jobs");
}

}  // namespace
}  // namespace netd
