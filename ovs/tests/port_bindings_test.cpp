// BindingIndex: the bindings and groups a host knows, and the peers they give a VM.
#include "netd/ovs/port_bindings.hpp"

#include <gtest/gtest.h>

namespace netd::ovs {
namespace {

MacAddress MacOf(const char* address) {
  return MacAddress::ForVmAddress(*Ipv4Address::Parse(address));
}

BoundPort Bound(const char* vm, const char* address) {
  return {vm, *Ipv4Address::Parse(address)};
}

TEST(GroupAllowanceOf, ReadsTheProtocolsAGroupNames) {
  EXPECT_EQ(GroupAllowanceOf("all", {}), GroupAllowance{});
  EXPECT_EQ(GroupAllowanceOf("tcp", {22}), (GroupAllowance{6, {22}}));
  EXPECT_EQ(GroupAllowanceOf("udp", {}), (GroupAllowance{17, {}}));
  EXPECT_EQ(GroupAllowanceOf("icmp", {}), (GroupAllowance{1, {}}));
  EXPECT_EQ(GroupAllowanceOf("sctp", {}), std::nullopt);
  EXPECT_EQ(GroupAllowanceOf("", {}), std::nullopt);
}

TEST(BindingIndex, FindsABindingByNetworkAndMacAndFollowsItsChanges) {
  BindingIndex index;
  index.Bind("secure", MacOf("10.81.0.10"), Bound("vm1", "10.81.0.10"));
  EXPECT_EQ(index.Find("secure", MacOf("10.81.0.10")), Bound("vm1", "10.81.0.10"));
  EXPECT_EQ(index.Find("service", MacOf("10.81.0.10")), std::nullopt);
  // vm1 bound again with another MAC: the old one is no longer bound.
  index.Bind("secure", MacOf("10.81.0.11"), Bound("vm1", "10.81.0.11"));
  EXPECT_EQ(index.Find("secure", MacOf("10.81.0.10")), std::nullopt);
  EXPECT_EQ(index.bindings(), 1u);
  // The MAC given to vm2: vm1 has no binding left.
  index.Bind("secure", MacOf("10.81.0.11"), Bound("vm2", "10.81.0.11"));
  index.SetGroup({"g", "secure", {"vm1", "vm2", "vm3"}, {}});
  index.Bind("secure", MacOf("10.81.0.13"), Bound("vm3", "10.81.0.13"));
  auto peers = index.PeersOf("secure", "vm3");
  ASSERT_EQ(peers.size(), 1u);
  EXPECT_EQ(peers[0].vm, "vm2");
  index.Unbind("secure", MacOf("10.81.0.11"));
  EXPECT_EQ(index.bindings(), 1u);
  EXPECT_TRUE(index.PeersOf("secure", "vm3").empty());
}

TEST(BindingIndex, PeersAreTheBoundMembersOfTheVmsGroupsOnItsNetwork) {
  BindingIndex index;
  for (const char* vm : {"vm1", "vm2", "vm3", "vm4"}) {
    auto address = std::string("10.81.0.") + vm[2];
    index.Bind("secure", MacOf(address.c_str()), Bound(vm, address.c_str()));
  }
  index.SetGroup({"ssh", "secure", {"vm1", "vm2", "unbound"}, {6, {22}}});
  index.SetGroup({"slurm", "secure", {"vm1", "vm2"}, {6, {6817, 6818}}});
  index.SetGroup({"dns", "secure", {"vm1", "vm3"}, {17, {53}}});
  index.SetGroup({"cluster", "secure", {"vm3", "vm1"}, {}});
  index.SetGroup({"other-network", "service", {"vm1", "vm4"}, {}});

  auto peers = index.PeersOf("secure", "vm1");
  ASSERT_EQ(peers.size(), 2u);
  EXPECT_EQ(peers[0], (GroupPeer{"vm2",
                                 MacOf("10.81.0.2"),
                                 *Ipv4Address::Parse("10.81.0.2"),
                                 {{6, {22}}, {6, {6817, 6818}}}}));
  // A group with all traffic covers what the others open.
  EXPECT_EQ(peers[1].vm, "vm3");
  EXPECT_EQ(peers[1].allowances, std::vector<GroupAllowance>{GroupAllowance{}});
  EXPECT_TRUE(index.PeersOf("secure", "vm4").empty());
  EXPECT_TRUE(index.PeersOf("service", "vm1").empty()) << "vm1 is not bound on service";

  // A group replaced, then removed: only what is left opens anything.
  index.SetGroup({"ssh", "secure", {"vm1", "vm4"}, {6, {22}}});
  EXPECT_EQ(index.PeersOf("secure", "vm2").size(), 1u);
  EXPECT_EQ(index.PeersOf("secure", "vm4").size(), 1u);
  index.RemoveGroup("slurm");
  EXPECT_TRUE(index.PeersOf("secure", "vm2").empty());
  index.RemoveGroup("no-such-group");
  EXPECT_EQ(index.groups(), 4u);
}

}  // namespace
}  // namespace netd::ovs
