#include "netd/firewall/interface_name.hpp"

#include <gtest/gtest.h>

namespace netd::firewall {
namespace {

TEST(InterfaceNames, KernelRules) {
  EXPECT_TRUE(IsValidInterfaceName("bond0.1081"));
  EXPECT_TRUE(IsValidInterfaceName("br-secure"));
  EXPECT_FALSE(IsValidInterfaceName("a-very-long-name0"));
  for (auto bad : {"", ".", "..", "eth/0", "eth 0", "eth0:1"}) {
    EXPECT_FALSE(IsValidInterfaceName(bad)) << bad;
  }
}

}  // namespace
}  // namespace netd::firewall
