#include "netd/dhcp/address_pool.hpp"

#include <gtest/gtest.h>

#include "netd/dhcp/ipam.hpp"
#include "test_networks.hpp"

namespace netd::dhcp {
namespace {

using testing::Ip;

TEST(AddressPool, AllocatesLowestFreeAndReusesReleased) {
  AddressPool pool(Ip("10.0.0.3"), Ip("10.0.0.254"));
  EXPECT_EQ(pool.size(), 252u);
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(pool.Take(*pool.LowestFree()));
  EXPECT_EQ(pool.LowestFree(), Ip("10.0.0.103"));
  EXPECT_TRUE(pool.Release(Ip("10.0.0.40")));
  EXPECT_TRUE(pool.Release(Ip("10.0.0.7")));
  EXPECT_EQ(pool.LowestFree(), Ip("10.0.0.7"));
  EXPECT_FALSE(pool.Release(Ip("10.0.0.7")));
  EXPECT_FALSE(pool.Take(Ip("10.0.0.8")));
  EXPECT_FALSE(pool.Take(Ip("10.0.0.2")));
  EXPECT_EQ(pool.used(), 98u);
}

TEST(AddressPool, ExhaustsExactlyAtTheEnd) {
  AddressPool pool(Ip("10.0.0.1"), Ip("10.0.0.70"));  // crosses a 64-bit word boundary
  for (int i = 0; i < 70; ++i) ASSERT_TRUE(pool.Take(*pool.LowestFree())) << i;
  EXPECT_FALSE(pool.LowestFree());
  pool.Release(Ip("10.0.0.70"));
  EXPECT_EQ(pool.LowestFree(), Ip("10.0.0.70"));
}

TEST(Ipam, ProposesAddsRemoves) {
  Ipam ipam({{"secure", Ip("192.168.129.1"), Ip("192.168.129.3")}});
  auto first = ipam.Propose("vm1", "secure");
  ASSERT_TRUE(first);
  EXPECT_EQ(first->mac.ToString(), "52:54:c0:a8:81:01");
  ipam.Add(*first);
  EXPECT_EQ(ipam.Propose("vm2", "secure")->ip, Ip("192.168.129.2"));
  ASSERT_NE(ipam.Find("vm1"), nullptr);
  ipam.Remove("vm1");
  EXPECT_EQ(ipam.Find("vm1"), nullptr);
  EXPECT_EQ(ipam.Propose("vm2", "secure")->ip, Ip("192.168.129.1"));
}

TEST(Ipam, RestoreRejectsWhatDoesNotFit) {
  Ipam ipam({{"secure", Ip("192.168.129.1"), Ip("192.168.129.9")}});
  VmBinding ok{
      "a",          "secure", Ip("192.168.129.5"), MacAddress::ForVmAddress(Ip("192.168.129.5")),
      std::nullopt, 0};
  EXPECT_FALSE(ipam.Restore(ok));
  auto twice = ok;
  twice.vm = "b";
  EXPECT_TRUE(ipam.Restore(twice));
  auto outside = ok;
  outside.vm = "c";
  outside.ip = Ip("192.168.130.1");
  EXPECT_TRUE(ipam.Restore(outside));
  auto unknown = ok;
  unknown.network = "gone";
  EXPECT_TRUE(ipam.Restore(unknown));
}

}  // namespace
}  // namespace netd::dhcp
