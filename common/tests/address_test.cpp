#include "netd/common/address.hpp"

#include <gtest/gtest.h>

#include "netd/common/port_range.hpp"

namespace netd {
namespace {

TEST(Ipv4Address, ParsesDottedQuadOnly) {
  EXPECT_EQ(Ipv4Address::Parse("192.168.128.1")->value(), 0xc0a88001u);
  EXPECT_EQ(Ipv4Address::Parse("0.0.0.0")->value(), 0u);
  EXPECT_EQ(Ipv4Address::Parse("255.255.255.255")->ToString(), "255.255.255.255");
  for (auto bad : {"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1.2.3.-4", "a.b.c.d",
                   "1..2.3", "1.2.3.4 ", "1.2.3.4/24"}) {
    EXPECT_FALSE(Ipv4Address::Parse(bad).has_value()) << bad;
  }
}

TEST(Ipv4Cidr, RejectsHostBitsAndBadPrefixes) {
  auto cidr = Ipv4Cidr::Parse("192.168.128.0/17");
  ASSERT_TRUE(cidr);
  EXPECT_EQ(cidr->last().ToString(), "192.168.255.255");
  EXPECT_TRUE(cidr->Contains(*Ipv4Address::Parse("192.168.200.7")));
  EXPECT_FALSE(cidr->Contains(*Ipv4Address::Parse("192.168.127.255")));
  EXPECT_FALSE(Ipv4Cidr::Parse("192.168.128.1/17"));
  EXPECT_FALSE(Ipv4Cidr::Parse("192.168.128.0/33"));
  EXPECT_FALSE(Ipv4Cidr::Parse("192.168.128.0"));
  EXPECT_TRUE(Ipv4Cidr::Parse("0.0.0.0/0")->Contains(*Ipv4Address::Parse("8.8.8.8")));
}

TEST(Ipv4Cidr, Overlap) {
  auto a = *Ipv4Cidr::Parse("192.168.128.0/17");
  EXPECT_TRUE(a.Overlaps(*Ipv4Cidr::Parse("192.168.200.0/24")));
  EXPECT_TRUE(Ipv4Cidr::Parse("192.168.200.0/24")->Overlaps(a));
  EXPECT_FALSE(a.Overlaps(*Ipv4Cidr::Parse("192.168.122.0/24")));
}

TEST(MacAddress, EncodesTheVmAddress) {
  auto ip = *Ipv4Address::Parse("192.168.129.1");
  auto mac = MacAddress::ForVmAddress(ip);
  EXPECT_EQ(mac.ToString(), "52:54:c0:a8:81:01");
  EXPECT_EQ(mac.EncodedVmAddress(), ip);
  EXPECT_EQ(MacAddress::Parse("52:54:C0:A8:81:01"), mac);
  EXPECT_FALSE(MacAddress::Parse("02:54:c0:a8:81:01")->EncodedVmAddress());
  EXPECT_FALSE(MacAddress::Parse("52:54:c0:a8:81"));
  EXPECT_FALSE(MacAddress::Parse("52-54-c0-a8-81-01"));
}

TEST(PortRange, Parses) {
  EXPECT_EQ(PortRange::Parse("6000-6100"), (PortRange{6000, 6100}));
  EXPECT_EQ(PortRange::Parse("22"), (PortRange{22, 22}));
  EXPECT_EQ(PortRange::Parse("6000-6100")->size(), 101u);
  for (auto bad : {"", "0-10", "6100-6000", "1-65536", "a-b", "10-", "-10"}) {
    EXPECT_FALSE(PortRange::Parse(bad)) << bad;
  }
}

}  // namespace
}  // namespace netd
