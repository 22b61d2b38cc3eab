// The filtered resolver as netd configures it: its options from `[dns]` and the networks, and
// the learned-address deny list. The resolver itself is tested in dns/tests.
#include "netd/daemon/gateway_dns.hpp"

#include <gtest/gtest.h>

#include <chrono>

#include "netd/daemon/config.hpp"
#include "netd/dns/address_deny_list.hpp"

namespace netd {
namespace {

Ipv4Address Address(const char* text) {
  return *Ipv4Address::Parse(text);
}

TEST(GatewayDns, LearnedDenyRangesHoldTheEnclaveTheGatewayAndTheExternalNetworks) {
  auto config = ParseConfig(DemoConfigText() +
                                "\n[dns]\nlearned_deny = [\"10.0.0.0/8\", "
                                "\"203.0.113.9\"]\n",
                            "demo");
  ASSERT_EQ(config.dns.learned_deny.size(), 2u);
  dns::AddressDenyList deny(LearnedDenyRanges(config, {*Ipv4Cidr::Parse("192.0.2.0/24")}));
  for (const char* denied :
       {"192.168.128.1", "192.168.200.9", "192.168.122.1", "192.168.122.77", "192.168.123.1",
        "192.0.2.1", "192.0.2.254", "10.1.2.3", "203.0.113.9", "127.0.0.1", "169.254.169.254"}) {
    EXPECT_TRUE(deny.Contains(Address(denied))) << denied;
  }
  for (const char* allowed : {"192.0.3.1", "203.0.113.10", "198.51.100.7", "192.168.127.255"}) {
    EXPECT_FALSE(deny.Contains(Address(allowed))) << allowed;
  }
}

TEST(GatewayDns, TheResolverListensOnAllowlistedGatewaysAndTakesTheDnsSection) {
  auto config = ParseConfig(DemoConfigText() +
                                "\n[dns]\nupstream = [\"192.0.2.53:5353\"]\nlisten_port = 5300\n"
                                "tcp_idle_timeout_ms = 700\nvm_wildcard_names = 7\n"
                                "refuse_with = \"nxdomain\"\n"
                                "[dns.local_names]\n\"backend.internal\" = \"192.168.128.1\"\n",
                            "demo");
  auto external = *Ipv4Cidr::Parse("192.0.2.0/24");
  auto options = ResolverOptionsOf(config, {external});
  EXPECT_EQ(options.listen_addresses, std::vector<Ipv4Address>{Address("192.168.128.1")})
      << "the secure network's gateway only: the others' egress is open";
  EXPECT_EQ(options.listen_port, 5300);
  ASSERT_EQ(options.upstream.size(), 1u);
  EXPECT_EQ(options.upstream[0].address, Address("192.0.2.53"));
  EXPECT_EQ(options.upstream[0].port, 5353);
  EXPECT_EQ(options.server.tcp_idle_timeout, std::chrono::milliseconds(700));
  EXPECT_EQ(options.vm_wildcard_names, 7u);
  EXPECT_TRUE(options.refuse_with_nxdomain);
  EXPECT_EQ(options.local_names, config.dns.local_names);
  EXPECT_EQ(options.learned_deny, LearnedDenyRanges(config, {external}));
}

}  // namespace
}  // namespace netd
