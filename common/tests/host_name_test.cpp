#include "netd/common/host_name.hpp"

#include <gtest/gtest.h>

#include <string>

namespace netd {
namespace {

TEST(HostNames, Labels) {
  EXPECT_TRUE(IsValidLabel("vm-01"));
  EXPECT_TRUE(IsValidLabel(std::string(63, 'a')));
  EXPECT_FALSE(IsValidLabel(std::string(64, 'a')));
  for (auto bad : {"", "-vm", "vm-", "vm_1", "vm.1", "vm 1"}) {
    EXPECT_FALSE(IsValidLabel(bad)) << bad;
  }
}

TEST(HostNames, Hostnames) {
  EXPECT_TRUE(IsValidHostname("license.example.org"));
  EXPECT_FALSE(IsValidHostname("license..example.org"));
  EXPECT_FALSE(IsValidHostname("license.example.org."));
  EXPECT_FALSE(IsValidHostname(std::string(254, 'a')));
}

}  // namespace
}  // namespace netd
