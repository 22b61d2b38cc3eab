// The filtered DNS's guards against carrying data: the learned-address deny list and the
// budget of distinct names under wildcard rules.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "netd/dns/address_deny_list.hpp"
#include "netd/dns/name_budget.hpp"

namespace netd::dns {
namespace {

using namespace std::chrono_literals;

Ipv4Address Address(const char* text) {
  return *Ipv4Address::Parse(text);
}

TEST(AddressDenyList, TheSpecialPurposeRangesAndNothingNextToThem) {
  AddressDenyList deny(AddressDenyList::SpecialPurpose());
  for (const char* denied :
       {"0.0.0.0", "0.255.255.255", "127.0.0.1", "127.255.255.255", "169.254.0.1",
        "169.254.169.254", "224.0.0.1", "239.255.255.250", "240.0.0.1", "255.255.255.255"}) {
    EXPECT_TRUE(deny.Contains(Address(denied))) << denied;
  }
  for (const char* allowed : {"1.0.0.0", "126.255.255.255", "128.0.0.0", "169.253.255.255",
                              "169.255.0.0", "223.255.255.255", "198.51.100.7"}) {
    EXPECT_FALSE(deny.Contains(Address(allowed))) << allowed;
  }
  EXPECT_FALSE(AddressDenyList().Contains(Address("127.0.0.1"))) << "an empty list";
}

TEST(DistinctNameBudget, NewNamesBeyondTheBudgetWaitForASlotSeenNamesDoNot) {
  DistinctNameBudget budget(3, 60s);
  auto start = DistinctNameBudget::Clock::time_point() + 1000s;
  EXPECT_TRUE(budget.Admit("a.example.org", start));
  EXPECT_TRUE(budget.Admit("b.example.org", start + 10s));
  EXPECT_TRUE(budget.Admit("c.example.org", start + 20s));
  EXPECT_FALSE(budget.Admit("d.example.org", start + 30s)) << "a fourth name in the window";
  EXPECT_TRUE(budget.Admit("a.example.org", start + 30s)) << "a name already seen";
  EXPECT_TRUE(budget.Admit("c.example.org", start + 59s));
  // a's slot ends one window after it was first admitted (asking again does not extend it).
  EXPECT_FALSE(budget.Admit("d.example.org", start + 59s));
  EXPECT_TRUE(budget.Admit("d.example.org", start + 60s));
  EXPECT_FALSE(budget.Admit("a.example.org", start + 61s)) << "a is a new name again, no slot";
  EXPECT_FALSE(budget.Admit("e.example.org", start + 69s));
  EXPECT_TRUE(budget.Admit("e.example.org", start + 70s)) << "b's slot ended";
  // However it is spread, no window admits more than the budget.
  DistinctNameBudget spread(3, 60s);
  int admitted = 0;
  for (int i = 0; i < 60; ++i) {
    admitted += spread.Admit("n" + std::to_string(i) + ".example.org", start + i * 1s) ? 1 : 0;
  }
  EXPECT_EQ(admitted, 3);
}

}  // namespace
}  // namespace netd::dns
