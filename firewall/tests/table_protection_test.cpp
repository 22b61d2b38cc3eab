// Failing closed, above the seams: how the table mode meets what the kernel supports (the
// packet-filter seam answers EOPNOTSUPP as an older kernel does), and the route guard's plan.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <linux/fib_rules.h>

#include "netd/firewall/gateway_firewall.hpp"
#include "netd/firewall/route_guard.hpp"
#include "netd/testing/recording_packet_filter.hpp"
#include "secure_network_options.hpp"

namespace netd::firewall {
namespace {

GatewayFirewallOptions WithTableMode(TableMode mode) {
  auto options = SecureNetworkOptions();
  options.table_mode = mode;
  return options;
}

TEST(TableProtectionTest, AutoOwnsTheTableWhereTheKernelCan) {
  testing::RecordingPacketFilter kernel;
  GatewayFirewall firewall(WithTableMode(TableMode::kAuto), kernel);
  firewall.Start({});
  EXPECT_EQ(firewall.protection(), TableProtection::kOwned);
  EXPECT_EQ(kernel.protection, TableProtection::kOwned);
}

TEST(TableProtectionTest, AutoFallsBackToTheGuardWhenTheKernelAnswersEopnotsupp) {
  testing::RecordingPacketFilter kernel;
  kernel.kernel_has_owned_tables = false;
  GatewayFirewall firewall(WithTableMode(TableMode::kAuto), kernel);
  firewall.Start({});
  EXPECT_EQ(firewall.protection(), TableProtection::kGuard);
  EXPECT_EQ(kernel.protection, TableProtection::kGuard);
  EXPECT_EQ(kernel.applies, 1);
}

TEST(TableProtectionTest, OwnerModeRefusesToStartWithoutTheFlags) {
  testing::RecordingPacketFilter kernel;
  kernel.kernel_has_owned_tables = false;
  GatewayFirewall firewall(WithTableMode(TableMode::kOwner), kernel);
  try {
    firewall.Start({});
    FAIL() << "started without an owned table";
  } catch (const std::runtime_error& error) {
    EXPECT_NE(std::string(error.what()).find("owner,persist"), std::string::npos) << error.what();
  }
  EXPECT_EQ(kernel.applies, 0) << "nothing applied";
}

TEST(TableProtectionTest, GuardModeNeverOwnsTheTable) {
  testing::RecordingPacketFilter kernel;
  GatewayFirewall firewall(WithTableMode(TableMode::kGuard), kernel);
  firewall.Start({});
  EXPECT_EQ(firewall.protection(), TableProtection::kGuard);
}

TEST(RouteGuardPlanTest, VmNetworksAreRoutedOnlyWithTheMark) {
  RouteGuardSpec spec;
  spec.vm_interfaces = {"br-secure", "br-service"};
  spec.vm_networks = {*Ipv4Cidr::Parse("192.168.128.0/17"), *Ipv4Cidr::Parse("192.168.122.0/24")};
  spec.external_interface = "ext0";
  spec.route_mark = 0x20000000;
  spec.priority = 100;
  std::vector<std::string> plan;
  for (const auto& rule : PlanGuardRules(spec)) plan.push_back(rule.ToString());
  EXPECT_EQ(plan, (std::vector<std::string>{
                      "ipv4 priority 100 iif lo goto 102",
                      "ipv4 priority 101 to 192.168.122.0/24 fwmark 0x0/0x20000000 blackhole",
                      "ipv4 priority 101 to 192.168.128.0/17 fwmark 0x0/0x20000000 blackhole",
                      "ipv4 priority 101 iif br-secure fwmark 0x0/0x20000000 blackhole",
                      "ipv4 priority 101 iif br-service fwmark 0x0/0x20000000 blackhole",
                      "ipv4 priority 102 nop",
                      "ipv6 priority 101 iif br-secure blackhole",
                      "ipv6 priority 101 iif br-service blackhole",
                  }));
}

}  // namespace
}  // namespace netd::firewall
