#include "netd/allowlist/learned_allows.hpp"

#include <gtest/gtest.h>
#include <netinet/in.h>

namespace netd::allowlist {
namespace {

Ipv4Address Ip(const char* text) {
  return *Ipv4Address::Parse(text);
}

SecureVm Vm(const char* id, const char* ip) {
  return {id, Ip(ip), MacAddress::ForVmAddress(Ip(ip))};
}

// A rule naming `host` (and `address` when given) on tcp/443 for vm "a".
AllowlistRule HostRule(const std::string& name, const std::string& host,
                       const char* address = nullptr) {
  AllowlistRule rule;
  rule.name = name;
  rule.hosts = {host};
  rule.destinations = {host};
  if (address) {
    rule.networks = {*Ipv4Cidr::Parse(std::string(address) + "/32")};
    rule.destinations.emplace_back(address);
  }
  rule.ports = {{443, 443}};
  rule.vms = {"a"};
  return rule;
}

const ExactAllow kLicense{Ip("192.168.129.1"), Ip("198.51.100.2"), IPPROTO_TCP, 443};

class LearnedAllowsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    policy_.AddVm(Vm("a", "192.168.129.1"));
    policy_.PutRule(HostRule("lic", "license.example.org"));
  }

  // What an answer for license.example.org -> 198.51.100.2 at `now` for 60 s changes.
  LearnedAllows::Plan Learn(std::int64_t now, std::int64_t lifetime = 60'000) {
    return learned_.Learn(*policy_.FindVm("a"), policy_.RulesNaming("a", "license.example.org"),
                          "license.example.org", {Ip("198.51.100.2")}, now + lifetime, now,
                          policy_);
  }

  AllowlistPolicy policy_;
  LearnedAllows learned_;
};

TEST_F(LearnedAllowsTest, AnAnswerAddsATimedElementAndALaterOneRestartsIt) {
  auto first = Learn(1000);
  ASSERT_EQ(first.changes.add.exact.size(), 1u);
  EXPECT_EQ(first.changes.add.exact[0], kLicense);
  EXPECT_EQ(first.changes.add.exact[0].timeout_ms, 60'000u + LearnedAllows::kBackstopMs);
  EXPECT_TRUE(first.changes.remove.exact.empty());
  EXPECT_TRUE(learned_.entries().empty()) << "nothing changes before Commit";
  learned_.Commit(std::move(first));

  auto same = Learn(1000);
  EXPECT_TRUE(same.changes.empty()) << "an expiry no later than the element's changes nothing";
  auto later = Learn(31'000);
  ASSERT_EQ(later.changes.remove.exact.size(), 1u);
  ASSERT_EQ(later.changes.add.exact.size(), 1u);
  EXPECT_EQ(later.changes.add.exact[0].timeout_ms, 60'000u + LearnedAllows::kBackstopMs);
}

TEST_F(LearnedAllowsTest, ExpiredElementsAreDeleted) {
  learned_.Commit(Learn(1000));
  EXPECT_TRUE(learned_.Expire(60'999, policy_).changes.empty());
  auto expired = learned_.Expire(61'000, policy_);
  ASSERT_EQ(expired.changes.remove.exact.size(), 1u);
  learned_.Commit(std::move(expired));
  EXPECT_TRUE(learned_.entries().empty());
}

TEST_F(LearnedAllowsTest, ARuleThatNoLongerNamesTheHostTakesItsElementsAlong) {
  learned_.Commit(Learn(1000));
  auto changes = policy_.PutRule(HostRule("lic", "other.example.org"));
  auto plan = learned_.Adjust(changes, 2000, policy_);
  ASSERT_EQ(plan.changes.remove.exact.size(), 1u);
  EXPECT_EQ(plan.changes.remove.exact[0], kLicense);
  learned_.Commit(std::move(plan));
  EXPECT_TRUE(learned_.entries().empty());
}

TEST_F(LearnedAllowsTest, AnUnrelatedChangeKeepsTheElement) {
  learned_.Commit(Learn(1000));
  AllowlistRule other = HostRule("other", "other.example.org");
  auto plan = learned_.Adjust(policy_.PutRule(other), 2000, policy_);
  EXPECT_TRUE(plan.changes.empty());
  learned_.Commit(std::move(plan));
  EXPECT_EQ(learned_.entries().size(), 1u);
}

TEST_F(LearnedAllowsTest, AnElementMovesBetweenPermanentAndTimedAsAddressRulesComeAndGo) {
  learned_.Commit(Learn(1000));
  // A rule naming the address itself makes the element permanent: the timed one goes first.
  auto added = policy_.PutRule(HostRule("fixed", "fixed.example.org", "198.51.100.2"));
  auto plan = learned_.Adjust(added, 2000, policy_);
  ASSERT_EQ(plan.changes.remove.exact.size(), 1u);
  ASSERT_EQ(plan.changes.add.exact.size(), 1u);
  EXPECT_EQ(plan.changes.add.exact[0].timeout_ms, 0u);
  learned_.Commit(std::move(plan));
  EXPECT_TRUE(Learn(3000, 120'000).changes.empty()) << "a permanent element needs no refresh";

  // Without it, the element goes back to its learned time.
  auto removed = policy_.RemoveRule("fixed");
  plan = learned_.Adjust(removed, 4000, policy_);
  ASSERT_EQ(plan.changes.remove.exact.size(), 1u);
  ASSERT_EQ(plan.changes.add.exact.size(), 1u);
  EXPECT_EQ(plan.changes.add.exact[0].timeout_ms, 57'000u + LearnedAllows::kBackstopMs);
}

TEST_F(LearnedAllowsTest, AnUnboundVmLosesItsElements) {
  learned_.Commit(Learn(1000));
  auto plan = learned_.Adjust(policy_.RemoveVm("a"), 2000, policy_);
  learned_.Commit(std::move(plan));
  EXPECT_TRUE(learned_.entries().empty());
  EXPECT_TRUE(learned_.KernelElements(2000, policy_).empty());
}

TEST_F(LearnedAllowsTest, AWholeTableApplyCarriesTheRemainingTime) {
  learned_.Commit(Learn(1000));
  auto elements = learned_.KernelElements(31'000, policy_);
  ASSERT_EQ(elements.size(), 1u);
  EXPECT_EQ(elements[0].timeout_ms, 30'000u + LearnedAllows::kBackstopMs);
  elements = learned_.KernelElements(61'000, policy_);
  ASSERT_EQ(elements.size(), 1u) << "past its expiry but not yet swept: in for the backstop";
  EXPECT_EQ(elements[0].timeout_ms, 1u + LearnedAllows::kBackstopMs);
}

TEST_F(LearnedAllowsTest, AKeyTwoRulesOrRangesOpenIsChangedOnceAndKeptInTheBooks) {
  auto overlapping = HostRule("lic", "license.example.org");
  overlapping.ports = {{443, 443}, {440, 450}};
  policy_.PutRule(overlapping);
  policy_.PutRule(HostRule("api", "*.example.org"));
  auto rules = policy_.RulesNaming("a", "license.example.org");
  ASSERT_EQ(rules.size(), 2u);

  auto first = learned_.Learn(*policy_.FindVm("a"), rules, "license.example.org",
                              {Ip("198.51.100.2")}, 61'000, 1000, policy_);
  EXPECT_EQ(first.changes.add.exact.size(), 11u) << "440-450 once each";
  EXPECT_TRUE(first.changes.remove.exact.empty());
  learned_.Commit(std::move(first));
  ASSERT_EQ(learned_.entries().size(), 11u);
  EXPECT_EQ(learned_.entries().at(kLicense).rules.size(), 2u);

  auto later = learned_.Learn(*policy_.FindVm("a"), rules, "license.example.org",
                              {Ip("198.51.100.2")}, 91'000, 31'000, policy_);
  EXPECT_EQ(later.changes.remove.exact.size(), 11u);
  EXPECT_EQ(later.changes.add.exact.size(), 11u);
  learned_.Commit(std::move(later));
  EXPECT_EQ(learned_.entries().at(kLicense).expires_ms, 91'000);
}

TEST_F(LearnedAllowsTest, ARestartTakesBackWhatTheKernelStillHolds) {
  auto left = kLicense;
  left.timeout_ms = 30'000 + LearnedAllows::kBackstopMs;
  auto ending = ExactAllow{Ip("192.168.129.1"), Ip("198.51.100.3"), IPPROTO_TCP, 443};
  ending.timeout_ms = LearnedAllows::kBackstopMs;  // netd would have deleted it by now
  auto stranger = ExactAllow{Ip("192.168.129.9"), Ip("198.51.100.4"), IPPROTO_TCP, 443};
  stranger.timeout_ms = 60'000;  // no bound VM
  auto other_port = ExactAllow{Ip("192.168.129.1"), Ip("198.51.100.5"), IPPROTO_TCP, 8443};
  other_port.timeout_ms = 60'000;  // no rule opens it
  learned_.Restore({left, ending, stranger, other_port}, 1000, policy_);
  ASSERT_EQ(learned_.entries().size(), 1u);
  const auto& [key, entry] = *learned_.entries().begin();
  EXPECT_EQ(key, kLicense);
  EXPECT_EQ(entry.expires_ms, 31'000);
  EXPECT_TRUE(entry.name.empty());
  auto elements = learned_.KernelElements(1000, policy_);
  ASSERT_EQ(elements.size(), 1u);
  EXPECT_EQ(elements[0].timeout_ms, 30'000u + LearnedAllows::kBackstopMs);
  // A change of another rule keeps it; the rule that opened its port going takes it along.
  EXPECT_TRUE(learned_.Adjust(policy_.PutRule(HostRule("x", "x.example.org")), 2000, policy_)
                  .changes.empty());
  auto removed = policy_.RemoveRule("lic");
  auto plan = learned_.Adjust(removed, 2000, policy_);
  ASSERT_EQ(plan.changes.remove.exact.size(), 1u);
  EXPECT_EQ(plan.changes.remove.exact[0], kLicense);
}

}  // namespace
}  // namespace netd::allowlist
