#include "netd/dhcp/lease_file.hpp"

#include <gtest/gtest.h>

#include <fstream>

#include "netd/lab/temp_dir.hpp"
#include "test_networks.hpp"

namespace netd::dhcp {
namespace {

using testing::Ip;

TEST(LeaseFile, LeasesAreReadAndOtherLinesSkipped) {
  auto leases = ParseLeases(
      "1795000000 52:54:c0:a8:81:01 192.168.129.1 analysis-1 01:52:54:c0:a8:81:01\n"
      "duid 00:01:00:01:2c:d0:aa:bb\n"
      "0 52:54:c0:a8:7a:03 192.168.122.3 * *\n"
      "garbage\n");
  ASSERT_EQ(leases.size(), 2u);
  EXPECT_EQ(leases[0].expires_s, 1795000000);
  EXPECT_EQ(leases[0].mac, MacAddress::ForVmAddress(Ip("192.168.129.1")));
  EXPECT_EQ(leases[0].ip, Ip("192.168.129.1"));
  EXPECT_EQ(leases[0].hostname, "analysis-1");
  EXPECT_EQ(leases[1].expires_s, 0);
  EXPECT_EQ(leases[1].hostname, std::nullopt);
}

TEST(LeaseFile, LinesWithADamagedFieldAreSkipped) {
  EXPECT_TRUE(ParseLeases("17950x0000 52:54:c0:a8:81:01 192.168.129.1 * *\n"
                          "1795000000 52:54:c0:a8:81 192.168.129.1 * *\n"
                          "1795000000 52:54:c0:a8:81:01 192.168.129.300 * *\n"
                          "1795000000 52:54:c0:a8:81:01 192.168.129.1\n")
                  .empty());
}

TEST(LeaseFile, TheLastLineNeedsNoNewline) {
  EXPECT_EQ(ParseLeases("1795000000 52:54:c0:a8:81:01 192.168.129.1 * *").size(), 1u);
}

TEST(LeaseFile, AMissingFileHoldsNoLeases) {
  lab::TempDir dir("leases");
  EXPECT_TRUE(ReadLeaseFile(dir.path() / "dnsmasq.leases").empty());
  std::ofstream(dir.path() / "dnsmasq.leases") << "0 52:54:c0:a8:7a:03 192.168.122.3 * *\n";
  EXPECT_EQ(ReadLeaseFile(dir.path() / "dnsmasq.leases").size(), 1u);
}

}  // namespace
}  // namespace netd::dhcp
