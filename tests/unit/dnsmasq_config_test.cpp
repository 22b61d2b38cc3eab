#include "netd/dhcp/dnsmasq_config.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "netd/lab/temp_dir.hpp"

namespace netd::dhcp {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

Ipv4Address Ip(const char* text) {
  return *Ipv4Address::Parse(text);
}

DnsmasqSettings Settings() {
  DnsmasqSettings settings;
  settings.hosts_file = "/run/netd/dnsmasq.hosts";
  settings.lease_file = "/var/lib/netd/dnsmasq.leases";
  settings.pid_file = "/run/netd/dnsmasq.pid";
  settings.networks.push_back({"secure",
                               "br-secure",
                               *Ipv4Cidr::Parse("192.168.128.0/17"),
                               Ip("192.168.128.1"),
                               Ip("192.168.129.1"),
                               Ip("192.168.255.254"),
                               true,
                               false,
                               {Ip("192.168.128.1")}});
  settings.networks.push_back({"service",
                               "br-service",
                               *Ipv4Cidr::Parse("192.168.122.0/24"),
                               Ip("192.168.122.1"),
                               Ip("192.168.122.3"),
                               Ip("192.168.122.254"),
                               false,
                               true,
                               {Ip("192.0.2.53"), Ip("192.0.2.54")}});
  return settings;
}

TEST(DnsmasqConfig, ServesDhcpOnlyOnTheNetworksInterfaces) {
  auto text = RenderDnsmasqConfig(Settings());
  EXPECT_THAT(text, HasSubstr("\nport=0\n"));
  EXPECT_THAT(text, HasSubstr("\nbind-dynamic\n"));
  EXPECT_THAT(text, HasSubstr("\ndhcp-hostsfile=/run/netd/dnsmasq.hosts\n"));
  EXPECT_THAT(text, HasSubstr("\ndhcp-leasefile=/var/lib/netd/dnsmasq.leases\n"));
  EXPECT_THAT(text, HasSubstr("\ninterface=br-secure\n"));
  EXPECT_THAT(text, HasSubstr("\ninterface=br-service\n"));
}

TEST(DnsmasqConfig, DropsPrivilegesAndWritesItsPidFile) {
  auto text = RenderDnsmasqConfig(Settings());
  EXPECT_THAT(text, HasSubstr("\nuser=dnsmasq\ngroup=nogroup\n"));
  EXPECT_THAT(text, HasSubstr("\npid-file=/run/netd/dnsmasq.pid\n"));
}

TEST(DnsmasqConfig, TheSecureNetworkServesKnownMacsOnlyAndNamesTheGatewayAsDns) {
  auto text = RenderDnsmasqConfig(Settings());
  EXPECT_THAT(text, HasSubstr("dhcp-range=set:secure,192.168.128.0,static,255.255.128.0,3600s\n"));
  EXPECT_THAT(text, HasSubstr("dhcp-ignore=tag:secure,tag:!known\n"));
  EXPECT_THAT(text, HasSubstr("dhcp-option=tag:secure,option:router,192.168.128.1\n"));
  EXPECT_THAT(text, HasSubstr("dhcp-option=tag:secure,option:dns-server,192.168.128.1\n"));
}

TEST(DnsmasqConfig, AnOpenNetworkMayHaveADynamicPoolAndTheUpstreamResolvers) {
  auto text = RenderDnsmasqConfig(Settings());
  EXPECT_THAT(text, HasSubstr("dhcp-range=set:service,192.168.122.3,192.168.122.254,"
                              "255.255.255.0,3600s\n"));
  EXPECT_THAT(text, Not(HasSubstr("dhcp-ignore=tag:service")));
  EXPECT_THAT(text, HasSubstr("dhcp-option=tag:service,option:dns-server,192.0.2.53,192.0.2.54\n"));
}

TEST(DnsmasqConfig, HostsFileHasOneReservationPerLine) {
  auto mac = MacAddress::ForVmAddress(Ip("192.168.129.1"));
  EXPECT_EQ(RenderHostsFile({{mac, Ip("192.168.129.1"), "analysis-1"},
                             {MacAddress::ForVmAddress(Ip("192.168.129.2")), Ip("192.168.129.2"),
                              std::nullopt}}),
            "52:54:c0:a8:81:01,192.168.129.1,analysis-1\n52:54:c0:a8:81:02,192.168.129.2\n");
}

TEST(DnsmasqConfig, LeasesAreReadAndOtherLinesSkipped) {
  auto leases = ParseLeases(
      "1795000000 52:54:c0:a8:81:01 192.168.129.1 analysis-1 01:52:54:c0:a8:81:01\n"
      "duid 00:01:00:01:2c:d0:aa:bb\n"
      "0 52:54:c0:a8:7a:03 192.168.122.3 * *\n"
      "garbage\n");
  ASSERT_EQ(leases.size(), 2u);
  EXPECT_EQ(leases[0].expires_s, 1795000000);
  EXPECT_EQ(leases[0].ip, Ip("192.168.129.1"));
  EXPECT_EQ(leases[0].hostname, "analysis-1");
  EXPECT_EQ(leases[1].expires_s, 0);
  EXPECT_EQ(leases[1].hostname, std::nullopt);
}

TEST(DnsmasqConfig, FilesAreReplacedWhole) {
  lab::TempDir dir("dnsmasq");
  auto path = dir.path() / "hosts";
  WriteFileAtomically(path, "first\n");
  WriteFileAtomically(path, "second\n");
  std::ifstream file(path);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(file), {}), "second\n");
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "hosts.new"));
}

}  // namespace
}  // namespace netd::dhcp
