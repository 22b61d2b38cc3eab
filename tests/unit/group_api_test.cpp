// The segmentation groups' routes: validation, the store, the audit chain, the observers.
#include "netd/daemon/group_api.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "netd/daemon/control_api.hpp"
#include "netd/daemon/gateway_options.hpp"
#include "netd/daemon/vm_api.hpp"
#include "netd/testing/api_routes_test.hpp"

namespace netd {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

// What an observer was told, and when: `committed` only runs after the commit.
class RecordingObserver final : public GroupObserver {
 public:
  std::function<void()> PlanSetGroup(const policy::PublishedGroup& group, Mutation&) override {
    ++planned;
    return [this, group] { committed.push_back("set " + group.name); };
  }
  std::function<void()> PlanRemoveGroup(const std::string& name, Mutation&) override {
    ++planned;
    return [this, name] { committed.push_back("remove " + name); };
  }
  int planned = 0;
  std::vector<std::string> committed;
};

class GroupApiTest : public testing::ApiRoutesTest {
 protected:
  GroupApiTest() {
    group_api_.AddObserver(observer_);
    api_.Serve(vm_api_);
    api_.Serve(group_api_);
  }

  Answer Call(const std::string& method, const std::string& target, const json& body = nullptr,
              AccessLevel access = AccessLevel::kAdmin) {
    return CallOn(api_, method, target, body, access);
  }
  Answer CallOn(ControlApi& api, const std::string& method, const std::string& target,
                const json& body = nullptr, AccessLevel access = AccessLevel::kAdmin) {
    return AnswerOf(api.Handle({method,
                                target,
                                body.is_null() ? "" : body.dump(),
                                {1000, 1000, 42, "/usr/bin/netctl"},
                                access}));
  }

  static json Slurm() {
    return {{"network", "secure"},
            {"members", {"vm2", "vm1"}},
            {"protocol", "tcp"},
            {"ports", {6817, 22}},
            {"comment", "Slurm jobs"}};
  }

  VmApi vm_api_{config_, store_, audit_, ipam_};
  GroupApi group_api_{config_, store_, audit_, ipam_};
  RecordingObserver observer_;
};

TEST_F(GroupApiTest, APutCreatesThenReplacesAndIsStoredAuditedAndTold) {
  auto created = Call("PUT", "/v1/groups/slurm", Slurm());
  ASSERT_EQ(created.status, 201) << created.text;
  EXPECT_EQ(created.body["group"], "slurm");
  EXPECT_EQ(created.body["network"], "secure");
  EXPECT_EQ(created.body["members"], json({"vm1", "vm2"})) << "sorted";
  EXPECT_EQ(created.body["protocol"], "tcp");
  EXPECT_EQ(created.body["ports"], json({22, 6817})) << "sorted";
  EXPECT_EQ(created.body["comment"], "Slurm jobs");
  EXPECT_EQ(created.body["bound_members"], 0) << "members need not be bound";
  EXPECT_TRUE(created.body["created_at"].is_string());
  EXPECT_EQ(LastAudit()["action"], "group.put");
  EXPECT_EQ(LastAudit()["object"], "group/slurm");
  EXPECT_EQ(LastAudit()["result"], "ok");
  EXPECT_EQ(LastAudit()["status"], 201);
  EXPECT_EQ(LastAudit()["request"], Slurm());
  EXPECT_EQ(observer_.committed, std::vector<std::string>{"set slurm"});

  auto stored = store_.LoadGroups();
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_EQ(
      stored[0].group,
      (policy::PublishedGroup{"slurm", "secure", {"vm1", "vm2"}, "tcp", {22, 6817}, "Slurm jobs"}));

  auto same = Call("PUT", "/v1/groups/slurm", Slurm());
  EXPECT_EQ(same.status, 200) << same.text;
  EXPECT_EQ(same.body, created.body) << "unchanged: same times too";
  EXPECT_EQ(LastAudit()["status"], 200) << "an unchanged PUT is audited";
  EXPECT_EQ(observer_.committed.size(), 1u) << "and tells no one";

  auto replaced = Call("PUT", "/v1/groups/slurm", {{"network", "secure"}, {"members", {"vm3"}}});
  ASSERT_EQ(replaced.status, 200) << replaced.text;
  EXPECT_EQ(replaced.body["members"], json({"vm3"})) << "replaced whole, not merged";
  EXPECT_EQ(replaced.body["protocol"], "all") << "the default";
  EXPECT_EQ(replaced.body["ports"], json::array());
  EXPECT_EQ(replaced.body["comment"], "");
  EXPECT_EQ(replaced.body["created_at"], created.body["created_at"]);
  EXPECT_EQ(observer_.committed.back(), "set slurm");
  EXPECT_EQ(store_.LoadGroups()[0].group.members, std::set<std::string>{"vm3"});
  EXPECT_TRUE(audit_.Verify().ok);
}

TEST_F(GroupApiTest, ListShowAndBoundMembers) {
  ASSERT_EQ(Call("PUT", "/v1/vms/vm1", {{"network", "secure"}}).status, 201);
  ASSERT_EQ(Call("PUT", "/v1/vms/vm2", {{"network", "service"}}).status, 201);
  ASSERT_EQ(Call("PUT", "/v1/groups/slurm", Slurm()).status, 201);
  ASSERT_EQ(Call("PUT", "/v1/groups/all-of-it", {{"network", "service"}}).status, 201);
  auto list = Call("GET", "/v1/groups", nullptr, AccessLevel::kService);
  ASSERT_EQ(list.status, 200) << list.text;
  ASSERT_EQ(list.body["groups"].size(), 2u);
  EXPECT_EQ(list.body["groups"][0]["group"], "all-of-it") << "ordered by name";
  EXPECT_EQ(list.body["groups"][1]["bound_members"], 1) << "vm2 is bound on another network";
  auto shown = Call("GET", "/v1/groups/slurm", nullptr, AccessLevel::kService);
  ASSERT_EQ(shown.status, 200) << shown.text;
  EXPECT_EQ(shown.body["members_bound"], json({"vm1"}));
  ExpectError(Call("GET", "/v1/groups/nothing"), 404, "no_such_group", "group");
  ExpectError(Call("GET", "/v1/groups/bad%20name"), 422, "invalid_group_name", "group");
}

TEST_F(GroupApiTest, BadInputNamesTheFieldIsAuditedAndChangesNothing) {
  auto with = [](const std::string& key, json value) {
    auto body = Slurm();
    body[key] = std::move(value);
    return body;
  };
  auto without = [](const std::string& key) {
    auto body = Slurm();
    body.erase(key);
    return body;
  };
  struct Case {
    json body;
    int status;
    std::string code, field;
  };
  std::vector<Case> cases = {
      {without("network"), 400, "missing_field", "network"},
      {with("network", 7), 400, "invalid_type", "network"},
      {with("network", "nowhere"), 422, "unknown_network", "network"},
      {with("members", "vm1"), 400, "invalid_type", "members"},
      {with("members", {"vm1", 5}), 400, "invalid_type", "members[1]"},
      {with("members", {"vm1", "bad id"}), 422, "invalid_vm_id", "members[1]"},
      {with("members", {std::string(65, 'a')}), 422, "invalid_vm_id", "members[0]"},
      {with("members", json(std::vector<std::string>(1025, "vm"))), 422, "invalid_members",
       "members"},
      {with("protocol", 6), 400, "invalid_type", "protocol"},
      {with("protocol", "sctp"), 422, "invalid_protocol", "protocol"},
      {with("ports", 22), 400, "invalid_type", "ports"},
      {with("ports", {22, "6817"}), 400, "invalid_type", "ports[1]"},
      {with("ports", {22, 2.5}), 400, "invalid_type", "ports[1]"},
      {with("ports", {0}), 422, "invalid_port", "ports[0]"},
      {with("ports", {22, 65536}), 422, "invalid_port", "ports[1]"},
      {with("ports", json(std::vector<int>(65, 22))), 422, "invalid_ports", "ports"},
      {[] {
         auto body = Slurm();
         body["protocol"] = "icmp";
         return body;
       }(),
       422, "invalid_ports", "ports"},
      {without("protocol"), 422, "invalid_ports", "ports"},
      {with("comment", 1), 400, "invalid_type", "comment"},
      {with("comment", std::string(257, 'x')), 422, "invalid_comment", "comment"},
      {with("colour", "red"), 400, "unknown_field", "colour"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.body.dump().substr(0, 200));
    auto before = audit_.length();
    auto answer = Call("PUT", "/v1/groups/slurm", c.body);
    ExpectError(answer, c.status, c.code, c.field);
    EXPECT_FALSE(answer.body["error"]["message"].get<std::string>().empty());
    EXPECT_EQ(audit_.length(), before + 1);
    EXPECT_EQ(LastAudit()["action"], "group.put");
    EXPECT_EQ(LastAudit()["result"], "refused");
    EXPECT_EQ(LastAudit()["error_code"], c.code);
  }
  auto missing = Call("PUT", "/v1/groups/slurm", without("network"));
  EXPECT_EQ(missing.body["error"]["message"], "field \"network\" is required");
  ExpectError(Call("PUT", "/v1/groups/slurm", json::array({1})), 400, "invalid_type", "");
  auto not_json = api_.Handle({"PUT", "/v1/groups/slurm", "{no", {}, AccessLevel::kAdmin});
  EXPECT_EQ(not_json.status, 400);
  EXPECT_THAT(not_json.body, HasSubstr("malformed_json"));
  ExpectError(Call("PUT", "/v1/groups/bad%20name", Slurm()), 422, "invalid_group_name", "group");
  ExpectError(Call("PUT", "/v1/groups/" + std::string(65, 'g'), Slurm()), 422, "invalid_group_name",
              "group");
  EXPECT_TRUE(store_.LoadGroups().empty());
  EXPECT_TRUE(group_api_.published().empty());
  EXPECT_EQ(observer_.planned, 0);
  EXPECT_TRUE(observer_.committed.empty());
  EXPECT_TRUE(audit_.Verify().ok);
}

TEST_F(GroupApiTest, DuplicateMembersAndPortsAreFolded) {
  auto body = Slurm();
  body["members"] = {"vm1", "vm1", "vm2"};
  body["ports"] = {22, 22};
  auto created = Call("PUT", "/v1/groups/slurm", body);
  ASSERT_EQ(created.status, 201) << created.text;
  EXPECT_EQ(created.body["members"], json({"vm1", "vm2"}));
  EXPECT_EQ(created.body["ports"], json({22}));
  body["protocol"] = "udp";
  body["ports"] = json::array();
  auto every_port = Call("PUT", "/v1/groups/slurm", body);
  ASSERT_EQ(every_port.status, 200) << every_port.text;
  EXPECT_EQ(every_port.body["ports"], json::array()) << "no ports: every port of the protocol";
}

TEST_F(GroupApiTest, MembersJoinAndLeaveOneAtATime) {
  ASSERT_EQ(Call("PUT", "/v1/groups/slurm", Slurm()).status, 201);
  auto joined = Call("PUT", "/v1/groups/slurm/members/vm3");
  ASSERT_EQ(joined.status, 200) << joined.text;
  EXPECT_EQ(joined.body["members"], json({"vm1", "vm2", "vm3"}));
  EXPECT_EQ(joined.body["protocol"], "tcp") << "the rest of the group is kept";
  EXPECT_EQ(LastAudit()["action"], "group.assign");
  EXPECT_EQ(LastAudit()["object"], "group/slurm");
  EXPECT_EQ(LastAudit()["request"], json({{"vm", "vm3"}}));
  EXPECT_EQ(store_.LoadGroups()[0].group.members.size(), 3u);
  EXPECT_EQ(observer_.committed.back(), "set slurm");

  auto again = Call("PUT", "/v1/groups/slurm/members/vm3");
  EXPECT_EQ(again.status, 200) << "a member already: unchanged";
  EXPECT_EQ(observer_.committed.size(), 2u);

  auto left = Call("DELETE", "/v1/groups/slurm/members/vm1");
  ASSERT_EQ(left.status, 200) << left.text;
  EXPECT_EQ(left.body["members"], json({"vm2", "vm3"}));
  EXPECT_EQ(LastAudit()["action"], "group.unassign");
  EXPECT_EQ(store_.LoadGroups()[0].group.members, (std::set<std::string>{"vm2", "vm3"}));

  ExpectError(Call("DELETE", "/v1/groups/slurm/members/vm1"), 404, "vm_not_member", "vm");
  EXPECT_EQ(LastAudit()["result"], "refused");
  EXPECT_EQ(LastAudit()["object"], "group/slurm/vm/vm1");
  ExpectError(Call("PUT", "/v1/groups/nothing/members/vm1"), 404, "no_such_group", "group");
  ExpectError(Call("DELETE", "/v1/groups/nothing/members/vm1"), 404, "no_such_group", "group");
  ExpectError(Call("PUT", "/v1/groups/slurm/members/bad%20vm"), 422, "invalid_vm_id", "vm");
  ExpectError(Call("PUT", "/v1/groups/bad%20name/members/vm1"), 422, "invalid_group_name", "group");
  EXPECT_EQ(store_.LoadGroups()[0].group.members, (std::set<std::string>{"vm2", "vm3"}));
  EXPECT_EQ(observer_.committed.size(), 3u);
}

TEST_F(GroupApiTest, AGroupHoldsAtMost1024Members) {
  std::vector<std::string> members;
  for (int i = 0; i < 1024; ++i) members.push_back("vm" + std::to_string(i));
  ASSERT_EQ(Call("PUT", "/v1/groups/big", {{"network", "secure"}, {"members", members}}).status,
            201);
  ExpectError(Call("PUT", "/v1/groups/big/members/one-more"), 422, "invalid_members", "vm");
  EXPECT_EQ(Call("PUT", "/v1/groups/big/members/vm7").status, 200) << "a member already";
}

TEST_F(GroupApiTest, DeleteRemovesTheGroupAndASecondDeleteIs404) {
  ASSERT_EQ(Call("PUT", "/v1/groups/slurm", Slurm()).status, 201);
  auto deleted = Call("DELETE", "/v1/groups/slurm");
  ASSERT_EQ(deleted.status, 200) << deleted.text;
  EXPECT_EQ(deleted.body["deleted"]["members"], json({"vm1", "vm2"}));
  EXPECT_EQ(LastAudit()["action"], "group.delete");
  EXPECT_EQ(LastAudit()["object"], "group/slurm");
  EXPECT_EQ(observer_.committed.back(), "remove slurm");
  EXPECT_TRUE(store_.LoadGroups().empty());
  ExpectError(Call("DELETE", "/v1/groups/slurm"), 404, "no_such_group", "group");
  EXPECT_EQ(LastAudit()["result"], "refused");
  EXPECT_EQ(Call("GET", "/v1/groups").body["groups"], json::array());
}

TEST_F(GroupApiTest, ChangesNeedTheAdminRoleReadsTheServiceRole) {
  ExpectError(Call("PUT", "/v1/groups/slurm", Slurm(), AccessLevel::kService), 403, "forbidden",
              "");
  EXPECT_EQ(LastAudit()["action"], "group.put");
  EXPECT_EQ(LastAudit()["error_code"], "forbidden");
  ASSERT_EQ(Call("PUT", "/v1/groups/slurm", Slurm()).status, 201);
  ExpectError(Call("DELETE", "/v1/groups/slurm", nullptr, AccessLevel::kService), 403, "forbidden",
              "");
  ExpectError(Call("PUT", "/v1/groups/slurm/members/vm9", nullptr, AccessLevel::kService), 403,
              "forbidden", "");
  ExpectError(Call("DELETE", "/v1/groups/slurm/members/vm1", nullptr, AccessLevel::kService), 403,
              "forbidden", "");
  ExpectError(Call("GET", "/v1/groups", nullptr, AccessLevel::kNone), 403, "forbidden", "");
  EXPECT_EQ(Call("GET", "/v1/groups", nullptr, AccessLevel::kService).status, 200);
  EXPECT_EQ(Call("GET", "/v1/groups/slurm", nullptr, AccessLevel::kService).status, 200);
  EXPECT_EQ(store_.LoadGroups()[0].group.members, (std::set<std::string>{"vm1", "vm2"}));
}

// A netd without the gateway role answers the group routes with its refusal, before looking at
// the request, and audits a refused change.
TEST_F(GroupApiTest, ANetdWithoutTheGatewayRoleRefusesWith409) {
  ControlApi host_only{audit_, metrics_};
  host_only.Serve(vm_api_);
  host_only.Refuse<GroupApi>({409, "not_a_gateway", "no gateway here", ""});
  ExpectError(CallOn(host_only, "PUT", "/v1/groups/slurm", Slurm()), 409, "not_a_gateway", "");
  EXPECT_EQ(LastAudit()["action"], "group.put");
  EXPECT_EQ(LastAudit()["error_code"], "not_a_gateway");
  ExpectError(CallOn(host_only, "PUT", "/v1/groups/bad%20name", Slurm()), 409, "not_a_gateway", "");
  ExpectError(CallOn(host_only, "GET", "/v1/groups"), 409, "not_a_gateway", "");
  ExpectError(CallOn(host_only, "DELETE", "/v1/groups/slurm/members/vm1"), 409, "not_a_gateway",
              "");
  auto status =
      json::parse(host_only.Handle({"GET", "/v1/status", "", {}, AccessLevel::kService}).body);
  EXPECT_EQ(status["groups"], nullptr);
  EXPECT_TRUE(store_.LoadGroups().empty());
}

TEST_F(GroupApiTest, ARestartKeepsTheGroups) {
  ASSERT_EQ(Call("PUT", "/v1/groups/slurm", Slurm()).status, 201);
  ASSERT_EQ(Call("PUT", "/v1/groups/cluster", {{"network", "secure"}}).status, 201);
  ASSERT_EQ(Call("PUT", "/v1/groups/cluster/members/vm5").status, 200);
  auto before = Call("GET", "/v1/groups").body;
  auto published = group_api_.published();

  Store reopened(dir_.path() / "netd.db");
  AuditChain audit(reopened);
  GroupApi restarted(config_, reopened, audit, ipam_);
  EXPECT_EQ(restarted.published(), published);
  ControlApi api{audit, metrics_};
  api.Serve(restarted);
  EXPECT_EQ(CallOn(api, "GET", "/v1/groups").body, before);
  ASSERT_EQ(published.size(), 2u);
  EXPECT_EQ(published[0], (policy::PublishedGroup{"cluster", "secure", {"vm5"}, "all", {}, ""}));
}

TEST_F(GroupApiTest, AStoredGroupOnANetworkNoLongerConfiguredStopsTheStart) {
  ASSERT_EQ(Call("PUT", "/v1/groups/ingest", {{"network", "datain"}}).status, 201);
  auto smaller = config_;
  smaller.networks.pop_back();
  dhcp::Ipam ipam{IpamNetworksOf(smaller)};
  try {
    GroupApi refused(smaller, store_, audit_, ipam);
    FAIL() << "started with a group on a network that is gone";
  } catch (const std::runtime_error& error) {
    EXPECT_THAT(error.what(), HasSubstr("group ingest on network datain"));
  }
}

TEST_F(GroupApiTest, AStoreRefusalLeavesTheGroupsAsTheyWereAndTellsNoOne) {
  ASSERT_EQ(Call("PUT", "/v1/groups/slurm", Slurm()).status, 201);
  // Another writer takes the audit record's sequence number: the transaction fails at its end.
  Store other(dir_.path() / "netd.db");
  other.AppendAudit({audit_.length() + 1, "{}", std::string(64, '0'), std::string(64, '0')});
  auto refused = Call("PUT", "/v1/groups/slurm/members/vm3");
  EXPECT_EQ(refused.status, 503) << refused.text;
  EXPECT_EQ(observer_.planned, 2) << "planned";
  EXPECT_EQ(observer_.committed, std::vector<std::string>{"set slurm"}) << "but never told";
  EXPECT_EQ(Call("GET", "/v1/groups/slurm").body["members"], json({"vm1", "vm2"}));
  EXPECT_EQ(store_.LoadGroups()[0].group.members, (std::set<std::string>{"vm1", "vm2"}));
}

TEST_F(GroupApiTest, StatusAndMetricsCountTheGroups) {
  EXPECT_EQ(Call("GET", "/v1/status").body["groups"], json({{"total", 0}}));
  ASSERT_EQ(Call("PUT", "/v1/groups/slurm", Slurm()).status, 201);
  ASSERT_EQ(Call("PUT", "/v1/groups/cluster", {{"network", "secure"}}).status, 201);
  EXPECT_EQ(Call("GET", "/v1/status").body["groups"], json({{"total", 2}}));
  auto metrics = api_.Handle({"GET", "/metrics", "", {}, AccessLevel::kService});
  EXPECT_THAT(metrics.body, HasSubstr("# TYPE netd_groups gauge\nnetd_groups 2\n"));
}

}  // namespace
}  // namespace netd
