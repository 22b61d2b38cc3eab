// Failing closed, above the seams: how gateway.table_mode meets what the kernel supports (the
// packet-filter seam answers EOPNOTSUPP as an older kernel does), and the route guard's plan.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <linux/fib_rules.h>

#include "netd/daemon/gateway_firewall.hpp"
#include "netd/firewall/route_guard.hpp"
#include "netd/testing/recording_packet_filter.hpp"

namespace netd {
namespace {

using firewall::TableProtection;

Config WithTableMode(const std::string& mode) {
  auto text = DemoConfigText();
  auto at = text.find("external_interface = \"ext0\"");
  text.insert(at, "table_mode = \"" + mode + "\"\n");
  return ParseConfig(text, "demo");
}

TEST(TableProtectionTest, AutoOwnsTheTableWhereTheKernelCan) {
  auto config = WithTableMode("auto");
  testing::RecordingPacketFilter kernel;
  GatewayFirewall firewall(config, kernel);
  firewall.Start({});
  EXPECT_EQ(firewall.protection(), TableProtection::kOwned);
  EXPECT_EQ(kernel.protection, TableProtection::kOwned);
}

TEST(TableProtectionTest, AutoFallsBackToTheGuardWhenTheKernelAnswersEopnotsupp) {
  auto config = WithTableMode("auto");
  testing::RecordingPacketFilter kernel;
  kernel.kernel_has_owned_tables = false;
  GatewayFirewall firewall(config, kernel);
  firewall.Start({});
  EXPECT_EQ(firewall.protection(), TableProtection::kGuard);
  EXPECT_EQ(kernel.protection, TableProtection::kGuard);
  EXPECT_EQ(kernel.applies, 1);
}

TEST(TableProtectionTest, OwnerModeRefusesToStartWithoutTheFlags) {
  auto config = WithTableMode("owner");
  testing::RecordingPacketFilter kernel;
  kernel.kernel_has_owned_tables = false;
  GatewayFirewall firewall(config, kernel);
  try {
    firewall.Start({});
    FAIL() << "started without an owned table";
  } catch (const std::runtime_error& error) {
    EXPECT_NE(std::string(error.what()).find("owner,persist"), std::string::npos) << error.what();
  }
  EXPECT_EQ(kernel.applies, 0) << "nothing applied";
}

TEST(TableProtectionTest, GuardModeNeverOwnsTheTable) {
  auto config = WithTableMode("guard");
  testing::RecordingPacketFilter kernel;
  GatewayFirewall firewall(config, kernel);
  firewall.Start({});
  EXPECT_EQ(firewall.protection(), TableProtection::kGuard);
}

TEST(TableProtectionTest, ConfigurationErrorsNameTheKey) {
  auto expect_error = [](const std::string& line, const std::string& expected) {
    auto text = DemoConfigText();
    text.insert(text.find("external_interface = \"ext0\""), line + "\n");
    try {
      ParseConfig(text, "demo");
      ADD_FAILURE() << "accepted " << line;
    } catch (const ConfigError& error) {
      EXPECT_NE(std::string(error.what()).find(expected), std::string::npos) << error.what();
    }
  };
  expect_error("table_mode = \"always\"", "table_mode: expected \"auto\", \"owner\" or \"guard\"");
  expect_error("route_mark = 0x30000000", "route_mark: expected a single bit");
  expect_error("route_mark = 0", "route_mark: expected an integer");
  expect_error("route_guard_priority = 32764", "route_guard_priority: expected an integer 1-32763");
}

TEST(RouteGuardPlanTest, VmNetworksAreRoutedOnlyWithTheMark) {
  firewall::RouteGuardSpec spec;
  spec.vm_interfaces = {"br-secure", "br-service"};
  spec.vm_networks = {*Ipv4Cidr::Parse("192.168.128.0/17"), *Ipv4Cidr::Parse("192.168.122.0/24")};
  spec.external_interface = "ext0";
  spec.route_mark = 0x20000000;
  spec.priority = 100;
  std::vector<std::string> plan;
  for (const auto& rule : firewall::PlanGuardRules(spec)) plan.push_back(rule.ToString());
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
}  // namespace netd
