#include "netd/dhcp/dnsmasq_config.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "netd/lab/temp_dir.hpp"
#include "test_networks.hpp"

namespace netd::dhcp {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

using testing::Ip;

DnsmasqSettings Settings() {
  DnsmasqSettings settings;
  settings.hosts_file = "/run/netd/dnsmasq.hosts";
  settings.lease_file = "/var/lib/netd/dnsmasq.leases";
  settings.pid_file = "/run/netd/dnsmasq.pid";
  settings.networks.push_back(testing::SecureNetwork());
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
