#include "netd/allowlist/policy.hpp"

#include <gtest/gtest.h>
#include <netinet/in.h>

namespace netd::allowlist {
namespace {

Ipv4Address Ip(const char* text) {
  return *Ipv4Address::Parse(text);
}

AllowlistRule Rule(std::string name, std::vector<const char*> cidrs, std::vector<PortRange> ports,
                   std::vector<std::string> vms, AllowProtocol protocol = AllowProtocol::kTcp) {
  AllowlistRule rule;
  rule.name = std::move(name);
  for (const auto* cidr : cidrs) {
    rule.networks.push_back(*Ipv4Cidr::Parse(cidr));
    rule.destinations.emplace_back(cidr);
  }
  rule.ports = std::move(ports);
  rule.protocol = protocol;
  rule.all_vms = vms.size() == 1 && vms[0] == "*";
  if (!rule.all_vms) rule.vms = std::move(vms);
  return rule;
}

SecureVm Vm(const char* id, const char* ip) {
  return {id, Ip(ip), MacAddress::ForVmAddress(Ip(ip))};
}

TEST(AllowlistPolicy, ExactEntriesGoToTheHashSetRangesToTheIntervalSet) {
  AllowlistPolicy policy;
  policy.AddVm(Vm("a", "192.168.129.1"));
  auto changes = policy.PutRule(
      Rule("r", {"198.51.100.7/32", "203.0.113.0/24"}, {{443, 443}, {27000, 27010}}, {"a"}));
  EXPECT_EQ(changes.add.exact.size(), 1u);  // 198.51.100.7 . tcp . 443
  EXPECT_EQ(changes.add.ranges.size(), 3u);
  EXPECT_EQ(policy.allow_elements(), 4u);
  EXPECT_TRUE(policy.Allows({Ip("192.168.129.1"), Ip("198.51.100.7"), IPPROTO_TCP, 443}));
  EXPECT_TRUE(policy.Allows({Ip("192.168.129.1"), Ip("203.0.113.9"), IPPROTO_TCP, 27010}));
  EXPECT_FALSE(policy.Allows({Ip("192.168.129.1"), Ip("203.0.113.9"), IPPROTO_UDP, 27010}));
  EXPECT_FALSE(policy.Allows({Ip("192.168.129.1"), Ip("198.51.100.8"), IPPROTO_TCP, 443}));
}

TEST(AllowlistPolicy, ChangingOnlyTheVmsOfARuleTouchesOnlyTheVmsThatMoved) {
  AllowlistPolicy policy;
  policy.AddVm(Vm("a", "192.168.129.1"));
  policy.AddVm(Vm("b", "192.168.129.2"));
  policy.AddVm(Vm("c", "192.168.129.3"));
  policy.PutRule(Rule("r", {"198.51.100.7/32"}, {{443, 443}}, {"a", "b"}));
  auto joined = policy.PutRule(Rule("r", {"198.51.100.7/32"}, {{443, 443}}, {"a", "b", "c"}));
  ASSERT_EQ(joined.add.exact.size(), 1u);
  EXPECT_EQ(joined.add.exact[0].vm, Ip("192.168.129.3"));
  EXPECT_TRUE(joined.remove.exact.empty());
  auto left = policy.PutRule(Rule("r", {"198.51.100.7/32"}, {{443, 443}}, {"b", "c"}));
  ASSERT_EQ(left.remove.exact.size(), 1u);
  EXPECT_EQ(left.remove.exact[0].vm, Ip("192.168.129.1"));
  EXPECT_TRUE(left.add.exact.empty());
  EXPECT_EQ(policy.allow_elements(), 2u);

  policy.PutRule(Rule("all", {"203.0.113.0/24"}, {{80, 80}}, {"*"}));
  auto same = Rule("all", {"203.0.113.0/24"}, {{80, 80}}, {"*"});
  same.comment = "only the comment changed";
  EXPECT_TRUE(policy.PutRule(same).empty());
  EXPECT_EQ(policy.allow_elements(), 5u);
}

TEST(AllowlistPolicy, OverlappingRulesBecomeDisjointIntervals) {
  AllowlistPolicy policy;
  policy.AddVm(Vm("a", "192.168.129.1"));
  policy.PutRule(Rule("wide", {"10.0.0.0/8"}, {{443, 443}}, {"a"}));
  auto changes = policy.PutRule(Rule("narrow", {"10.1.0.0/16"}, {{80, 80}, {440, 450}}, {"a"}));
  auto elements = policy.Elements();
  // 10.0/16-ish below, 10.1/16 with 80 and 440-450, the rest of 10/8 above.
  ASSERT_EQ(elements.ranges.size(), 4u);
  for (std::size_t i = 0; i < elements.ranges.size(); ++i) {
    for (std::size_t j = i + 1; j < elements.ranges.size(); ++j) {
      const auto& a = elements.ranges[i];
      const auto& b = elements.ranges[j];
      bool addresses = a.first <= b.last && b.first <= a.last;
      bool ports = a.ports.first <= b.ports.last && b.ports.first <= a.ports.last;
      EXPECT_FALSE(addresses && ports) << i << " overlaps " << j;
    }
  }
  EXPECT_TRUE(policy.Allows({Ip("192.168.129.1"), Ip("10.1.2.3"), IPPROTO_TCP, 443}));
  EXPECT_TRUE(policy.Allows({Ip("192.168.129.1"), Ip("10.1.2.3"), IPPROTO_TCP, 80}));
  EXPECT_FALSE(policy.Allows({Ip("192.168.129.1"), Ip("10.2.2.3"), IPPROTO_TCP, 80}));

  // Removing the narrow rule restores the single wide element.
  changes = policy.RemoveRule("narrow");
  EXPECT_EQ(changes.add.ranges.size(), 1u);
  EXPECT_EQ(changes.remove.ranges.size(), 4u);
  EXPECT_EQ(policy.Elements().ranges.size(), 1u);
}

TEST(AllowlistPolicy, SharedEntriesStayUntilTheLastRuleGoes) {
  AllowlistPolicy policy;
  policy.AddVm(Vm("a", "192.168.129.1"));
  policy.PutRule(Rule("one", {"198.51.100.7/32"}, {{443, 443}}, {"a"}));
  auto changes = policy.PutRule(Rule("two", {"198.51.100.7/32"}, {{443, 443}}, {"*"}));
  EXPECT_TRUE(changes.empty());
  EXPECT_TRUE(policy.RemoveRule("one").empty());
  EXPECT_EQ(policy.RemoveRule("two").remove.exact.size(), 1u);
}

TEST(AllowlistPolicy, AllVmRulesFollowBindingsAndUnbinding) {
  AllowlistPolicy policy;
  policy.PutRule(Rule("all", {"198.51.100.7/32"}, {{443, 443}}, {"*"}));
  auto bound = policy.AddVm(Vm("late", "192.168.129.9"));
  EXPECT_EQ(bound.add.bindings.size(), 1u);
  EXPECT_EQ(bound.add.exact.size(), 1u);
  EXPECT_EQ(policy.BoundVmsOf(*policy.FindRule("all")), std::vector<std::string>{"late"});
  auto unbound = policy.RemoveVm("late");
  EXPECT_EQ(unbound.remove.bindings.size(), 1u);
  EXPECT_EQ(unbound.remove.exact.size(), 1u);
  EXPECT_EQ(policy.allow_elements(), 0u);
  // An assignment names the VM, bound or not; elements exist only while it is bound.
  policy.PutRule(Rule("named", {"198.51.100.8/32"}, {{22, 22}}, {"late"}));
  EXPECT_EQ(policy.allow_elements(), 0u);
  EXPECT_EQ(policy.AddVm(Vm("late", "192.168.129.9")).add.exact.size(), 2u);
}

TEST(AllowlistPolicy, BothProtocolsDoubleTheElements) {
  AllowlistPolicy policy;
  policy.AddVm(Vm("a", "192.168.129.1"));
  auto changes =
      policy.PutRule(Rule("r", {"198.51.100.7/32"}, {{53, 53}}, {"a"}, AllowProtocol::kBoth));
  EXPECT_EQ(changes.add.exact.size(), 2u);
}

TEST(AllowlistPolicy, AnAddressIsNamedLiterallyOnlyByTheVmsOwnRules) {
  AllowlistPolicy policy;
  policy.AddVm(Vm("a", "192.168.129.1"));
  policy.AddVm(Vm("b", "192.168.129.2"));
  policy.PutRule(Rule("metadata", {"169.254.169.254/32"}, {{80, 80}}, {"a"}));
  policy.PutRule(Rule("lab", {"10.20.0.0/16"}, {{22, 22}}, {"*"}));
  auto names = Rule("names", {}, {{443, 443}}, {"a", "b"});
  names.hosts = {"*.example.org"};
  names.destinations = {"*.example.org"};
  policy.PutRule(names);
  EXPECT_TRUE(policy.NamesAddress("a", Ip("169.254.169.254")));
  EXPECT_FALSE(policy.NamesAddress("b", Ip("169.254.169.254"))) << "another VM's rule";
  EXPECT_FALSE(policy.NamesAddress("a", Ip("169.254.169.253")));
  EXPECT_TRUE(policy.NamesAddress("b", Ip("10.20.3.4"))) << "a CIDR of a rule for every VM";
  EXPECT_FALSE(policy.NamesAddress("b", Ip("10.21.0.1")));
  EXPECT_FALSE(policy.NamesAddress("ghost", Ip("169.254.169.254")));
}

TEST(AllowlistRule, NamesExactlyAndTheQtypesItAllows) {
  AllowlistRule rule;
  rule.hosts = {"lic.example.org", "*.cdn.example.org"};
  EXPECT_TRUE(rule.NamesExactly("lic.example.org"));
  EXPECT_TRUE(rule.Names("a.cdn.example.org"));
  EXPECT_FALSE(rule.NamesExactly("a.cdn.example.org")) << "only through the wildcard";
  EXPECT_TRUE(rule.AllowsQtype(kQtypeA));
  EXPECT_TRUE(rule.AllowsQtype(kQtypeAaaa));
  EXPECT_FALSE(rule.AllowsQtype(16)) << "TXT is not a default";
  rule.qtypes = {kQtypeA, 16};
  EXPECT_TRUE(rule.AllowsQtype(16));
  EXPECT_FALSE(rule.AllowsQtype(kQtypeAaaa));
}

}  // namespace
}  // namespace netd::allowlist
