// PolicyPublication between the group routes and a scripted ovsdb-server: the groups the store
// holds at start and those the API changes reach the policy database as Group rows.
#include "netd/daemon/policy_publication.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <fstream>
#include <map>
#include <string>

#include "netd/daemon/control_api.hpp"
#include "netd/daemon/group_api.hpp"
#include "netd/policy/schema.hpp"
#include "netd/testing/api_routes_test.hpp"
#include "netd/testing/fake_clock.hpp"
#include "netd/testing/scripted_ovsdb_server.hpp"

namespace netd {
namespace {

using nlohmann::json;

class PolicyPublicationTest : public testing::ApiRoutesTest {
 protected:
  PolicyPublicationTest() {
    config_.policy = PolicyConfig{.remotes = {ovs::Remote::Unix(dir_.path() / "db.sock")}};
  }

  // What a standalone ovsdb-server with an empty database answers a writer that connects.
  void Connect() {
    std::ifstream file(policy::SchemaPath());
    server_.AcceptAndServeSchema(json::parse(file));
    server_.ServeServerRow(testing::ScriptedOvsdbServer::StandaloneServerRow("netd_policy"));
    server_.Reply(server_.Expect("monitor_cond_since"),
                  json::array({false, "00000000-0000-0000-0000-000000000000", json::object()}));
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

  boost::asio::io_context io_;
  // The publication runs on the test's thread: each wait for it turns its loop.
  testing::ScriptedOvsdbServer server_{dir_.path() / "db.sock", &io_};
  testing::FakeClock clock_;
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
  auto transact = server_.Read();
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
