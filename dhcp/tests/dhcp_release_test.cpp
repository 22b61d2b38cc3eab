#include "netd/dhcp/dhcp_release.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "test_networks.hpp"

namespace netd::dhcp {
namespace {

using testing::Ip;

TEST(DhcpRelease, NamesTheClientAndTheServer) {
  auto client_ip = Ip("192.168.129.7");
  auto message = BuildDhcpRelease(MacAddress::ForVmAddress(client_ip), client_ip,
                                  Ip("192.168.128.1"), 0x01020304);
  ASSERT_EQ(message.size(), 250u);
  // op BOOTREQUEST, htype Ethernet, hlen 6, hops 0; then xid.
  EXPECT_EQ(std::vector<std::uint8_t>(message.begin(), message.begin() + 8),
            (std::vector<std::uint8_t>{1, 1, 6, 0, 1, 2, 3, 4}));
  // ciaddr, then yiaddr, siaddr and giaddr all 0.
  EXPECT_EQ(std::vector<std::uint8_t>(message.begin() + 12, message.begin() + 28),
            (std::vector<std::uint8_t>{192, 168, 129, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}));
  // chaddr: the MAC, the rest of its 16 bytes 0.
  EXPECT_EQ(
      std::vector<std::uint8_t>(message.begin() + 28, message.begin() + 44),
      (std::vector<std::uint8_t>{0x52, 0x54, 192, 168, 129, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}));
  // Magic cookie, DHCP message type RELEASE, server identifier, end.
  EXPECT_EQ(
      std::vector<std::uint8_t>(message.begin() + 236, message.end()),
      (std::vector<std::uint8_t>{0x63, 0x82, 0x53, 0x63, 53, 1, 7, 54, 4, 192, 168, 128, 1, 255}));
}

}  // namespace
}  // namespace netd::dhcp
