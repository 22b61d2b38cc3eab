// GatewayBindings, the host side's bindings and groups where both roles run in one netd without a
// policy database: what the API commits reaches its index, and the host side is told.
#include "netd/daemon/gateway_bindings.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "netd/daemon/control_api.hpp"
#include "netd/daemon/group_api.hpp"
#include "netd/daemon/vm_api.hpp"
#include "netd/testing/api_routes_test.hpp"

namespace netd {
namespace {

using nlohmann::json;

class GatewayBindingsTest : public testing::ApiRoutesTest {
 protected:
  int Admin(const std::string& method, const std::string& target, const json& body = nullptr) {
    return api_
        .Handle({method,
                 target,
                 body.is_null() ? "" : body.dump(),
                 {0, 0, 1, "netctl"},
                 AccessLevel::kAdmin})
        .status;
  }

  // The VMs `vm` may reach on secure through its groups, by id.
  std::vector<std::string> PeerNames(const GatewayBindings& bindings, const std::string& vm) {
    std::vector<std::string> names;
    for (const auto& peer : bindings.PeersOf("secure", vm)) names.push_back(peer.vm);
    return names;
  }

  VmApi vm_api_{config_, store_, audit_, ipam_};
};

TEST_F(GatewayBindingsTest, StoredGroupsAndCommittedChangesReachTheIndex) {
  {
    GroupApi earlier(config_, store_, audit_, ipam_);
    ControlApi api{audit_, metrics_};
    api.Serve(vm_api_);
    api.Serve(earlier);
    for (const char* vm : {"vm1", "vm2", "vm3"}) {
      ASSERT_EQ(api.Handle({"PUT",
                            std::string("/v1/vms/") + vm,
                            R"({"network":"secure"})",
                            {0, 0, 1, "netctl"},
                            AccessLevel::kAdmin})
                    .status,
                201);
    }
    ASSERT_EQ(api.Handle({"PUT",
                          "/v1/groups/ssh",
                          R"({"network":"secure","members":["vm1","vm2"],"protocol":"tcp",)"
                          R"("ports":[22]})",
                          {0, 0, 1, "netctl"},
                          AccessLevel::kAdmin})
                  .status,
              201);
  }
  // A restart: the groups come from the store.
  GroupApi groups(config_, store_, audit_, ipam_);
  GatewayBindings bindings(ipam_, groups.published());
  int changes = 0;
  bindings.set_on_change([&] { ++changes; });
  vm_api_.AddObserver(bindings);
  groups.AddObserver(bindings);
  api_.Serve(vm_api_);
  api_.Serve(groups);

  auto peers = bindings.PeersOf("secure", "vm1");
  ASSERT_EQ(peers.size(), 1u);
  EXPECT_EQ(peers[0].vm, "vm2");
  EXPECT_EQ(peers[0].address, ipam_.Find("vm2")->ip);
  ASSERT_EQ(peers[0].allowances.size(), 1u);
  EXPECT_EQ(peers[0].allowances[0], (ovs::GroupAllowance{6, {22}}));

  ASSERT_EQ(Admin("PUT", "/v1/groups/ssh/members/vm3"), 200);
  EXPECT_EQ(changes, 1) << "the host side is told after the commit";
  EXPECT_EQ(PeerNames(bindings, "vm3"), (std::vector<std::string>{"vm1", "vm2"}));

  ASSERT_EQ(Admin("PUT", "/v1/groups/all", {{"network", "secure"}, {"members", {"vm1", "vm3"}}}),
            201);
  EXPECT_EQ(changes, 2);
  auto both = bindings.PeersOf("secure", "vm1");
  ASSERT_EQ(both.size(), 2u);
  EXPECT_EQ(both[1].vm, "vm3");
  EXPECT_EQ(both[1].allowances, std::vector<ovs::GroupAllowance>{ovs::GroupAllowance{}})
      << "all where one group opens all";

  ASSERT_EQ(Admin("DELETE", "/v1/groups/ssh/members/vm2"), 200);
  EXPECT_EQ(PeerNames(bindings, "vm1"), std::vector<std::string>{"vm3"});
  ASSERT_EQ(Admin("DELETE", "/v1/groups/all"), 200);
  ASSERT_EQ(Admin("DELETE", "/v1/groups/ssh"), 200);
  EXPECT_EQ(changes, 5);
  EXPECT_TRUE(bindings.PeersOf("secure", "vm1").empty());

  // A refused change tells no one.
  EXPECT_EQ(Admin("PUT", "/v1/groups/x", {{"network", "nowhere"}}), 422);
  EXPECT_EQ(changes, 5);
}

}  // namespace
}  // namespace netd
