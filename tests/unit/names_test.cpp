#include "netd/dns/names.hpp"

#include <gtest/gtest.h>

#include <string>

#include "netd/firewall/interface_name.hpp"

namespace netd {
namespace {

TEST(DnsNames, Labels) {
  EXPECT_TRUE(dns::IsValidLabel("vm-01"));
  EXPECT_TRUE(dns::IsValidLabel(std::string(63, 'a')));
  EXPECT_FALSE(dns::IsValidLabel(std::string(64, 'a')));
  for (auto bad : {"", "-vm", "vm-", "vm_1", "vm.1", "vm 1"}) {
    EXPECT_FALSE(dns::IsValidLabel(bad)) << bad;
  }
}

TEST(DnsNames, Hostnames) {
  EXPECT_TRUE(dns::IsValidHostname("license.example.org"));
  EXPECT_FALSE(dns::IsValidHostname("license..example.org"));
  EXPECT_FALSE(dns::IsValidHostname("license.example.org."));
  EXPECT_FALSE(dns::IsValidHostname(std::string(254, 'a')));
}

TEST(InterfaceNames, KernelRules) {
  EXPECT_TRUE(firewall::IsValidInterfaceName("bond0.1081"));
  EXPECT_TRUE(firewall::IsValidInterfaceName("br-secure"));
  EXPECT_FALSE(firewall::IsValidInterfaceName("a-very-long-name0"));
  for (auto bad : {"", ".", "..", "eth/0", "eth 0", "eth0:1"}) {
    EXPECT_FALSE(firewall::IsValidInterfaceName(bad)) << bad;
  }
}

}  // namespace
}  // namespace netd
