#include "netd/daemon/config.hpp"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace netd {
namespace {

using ::testing::HasSubstr;

// The demo configuration with one substring replaced; the replacement must happen.
std::string DemoWith(const std::string& from, const std::string& to) {
  auto text = DemoConfigText();
  auto at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

std::string ErrorOf(const std::string& text) {
  try {
    ParseConfig(text, "netd.toml");
  } catch (const ConfigError& error) {
    return error.what();
  }
  ADD_FAILURE() << "configuration was accepted";
  return "";
}

TEST(Config, DemoConfigIsValidAndComplete) {
  auto config = ParseConfig(DemoConfigText(), "demo");
  EXPECT_TRUE(config.HasRole(Role::kGateway));
  EXPECT_TRUE(config.HasRole(Role::kHost));
  ASSERT_EQ(config.networks.size(), 3u);
  EXPECT_EQ(config.networks[0].name, "secure");
  EXPECT_EQ(config.networks[0].vlan, 1081);
  EXPECT_EQ(config.networks[0].egress, Egress::kAllowlist);
  EXPECT_EQ(config.networks[1].egress, Egress::kOpen);
  EXPECT_EQ(config.socket, "/run/netd/netd.sock");
  EXPECT_EQ(config.host.datapath_type, "netdev");
  EXPECT_EQ(ovs::ToString(config.host.ovsdb_remote), "unix:/run/openvswitch/db.sock");
  EXPECT_EQ(config.host.openvswitch_rundir, "/run/openvswitch");
  EXPECT_EQ(config.networks[2].bridge, "br-datain");
}

struct BadCase {
  const char* from;
  const char* to;
  const char* location;  // file:line:column of the offending value
  const char* message;   // must name the key and what was expected
};

class ConfigValidation : public ::testing::TestWithParam<BadCase> {};

TEST_P(ConfigValidation, NamesFileLineColumnKeyAndExpectation) {
  const auto& bad = GetParam();
  auto error = ErrorOf(DemoWith(bad.from, bad.to));
  EXPECT_THAT(error, HasSubstr(bad.location));
  EXPECT_THAT(error, HasSubstr(bad.message));
}

INSTANTIATE_TEST_SUITE_P(
    Errors, ConfigValidation,
    ::testing::Values(
        BadCase{"cidr = \"192.168.128.0/17\"", "cidr = \"192.168.128.0/33\"", "netd.toml:27:8",
                "network[0].cidr: expected an IPv4 network"},
        BadCase{"cidr = \"192.168.128.0/17\"", "cidr = \"192.168.128.1/17\"", "netd.toml:27:8",
                "host bits zero"},
        BadCase{"gateway = \"192.168.128.1\"", "gateway = \"10.0.0.1\"", "netd.toml:28:11",
                "network[0].gateway: expected a host address inside 192.168.128.0/17"},
        BadCase{"gateway = \"192.168.128.1\"", "gateway = \"192.168.128.300\"", "netd.toml:28:11",
                "network[0].gateway: expected an IPv4 address"},
        BadCase{"dhcp_last = \"192.168.255.254\"", "dhcp_last = \"192.169.0.1\"", "netd.toml:30:13",
                "network[0].dhcp_last: expected a host address inside"},
        BadCase{"dhcp_first = \"192.168.129.1\"", "dhcp_first = \"192.168.128.1\"",
                "netd.toml:29:14", "contains the gateway 192.168.128.1"},
        BadCase{"vlan = 1081", "vlan = 4095", "netd.toml:26:8",
                "network[0].vlan: expected an integer 1-4094, got 4095"},
        BadCase{"vlan = 1081", "vlan = \"1081\"", "netd.toml:26:8",
                "network[0].vlan: expected an integer 1-4094, got a string"},
        BadCase{"vlan = 1082", "vlan = 1081", "netd.toml:37:8",
                "network[1].vlan: VLAN 1081 is already used by network \"secure\""},
        BadCase{"bridge = \"br-datain\"", "bridge = \"br-secure\"", "netd.toml:47:10",
                "network[2].bridge: bridge br-secure is already used by network \"secure\""},
        BadCase{"name = \"datain\"", "name = \"service\"", "netd.toml:46:8",
                "network[2].name: name \"service\" is already used"},
        BadCase{"cidr = \"192.168.123.0/24\"\ngateway = \"192.168.123.1\"\ndhcp_first = "
                "\"192.168.123.3\"\ndhcp_last = \"192.168.123.254\"",
                "cidr = \"192.168.200.0/24\"\ngateway = \"192.168.200.1\"\ndhcp_first = "
                "\"192.168.200.3\"\ndhcp_last = \"192.168.200.254\"",
                "netd.toml:49:8", "network[2].cidr: 192.168.200.0/24 overlaps 192.168.128.0/17"},
        BadCase{"egress = \"open\"", "egress = \"closed\"", "netd.toml:42:10",
                "network[1].egress: expected \"allowlist\" or \"open\""},
        BadCase{"roles = [\"gateway\", \"host\"]", "roles = [\"router\"]", "netd.toml:3:10",
                "netd.roles: expected each role to be \"gateway\" or \"host\""},
        BadCase{"log_level = \"info\"", "log_level = \"loud\"", "netd.toml:7:13",
                "netd.log_level: expected trace, debug"},
        BadCase{"log_level = \"info\"", "log_level = \"warning\"", "netd.toml:7:13",
                "netd.log_level: expected trace, debug"},
        BadCase{"cidr = \"192.168.128.0/17\"", "cidr = \"0.0.0.0/0\"", "netd.toml:27:8",
                "a prefix from /8 to /30"},
        BadCase{"state_dir = \"/var/lib/netd-demo\"", "state_dir = \"relative\"", "netd.toml:5:13",
                "netd.state_dir: expected an absolute path"},
        BadCase{"uplink_mode = \"trunk\"\n\n[[network]]\nname = \"service\"",
                "uplink_mode = \"trunk\"\nuplnk = \"bond0\"\n\n[[network]]\nname = \"service\"",
                "netd.toml:33:9", "network[0].uplnk: unknown key"},
        BadCase{"forward_ports = \"6000-6100\"", "forward_ports = \"6100-6000\"", "netd.toml:15:17",
                "gateway.forward_ports: expected a port range"},
        BadCase{"external_interface = \"ext0\"", "external_interface = \"eth0/x\"",
                "netd.toml:14:22", "gateway.external_interface: expected an interface name"},
        BadCase{"datapath_type = \"netdev\"", "datapath_type = \"dpdk\"", "netd.toml:18:17",
                "host.datapath_type: expected \"system\" or \"netdev\""},
        BadCase{"[api]", "[api]\nmax_connections = 0", "netd.toml:10:19",
                "api.max_connections: expected an integer 1-4096, got 0"},
        BadCase{"ovsdb_remote = \"unix:/run/openvswitch/db.sock\"",
                "ovsdb_remote = \"tcp:1.2.3.4\"", "netd.toml:19:16",
                "host.ovsdb_remote: ovsdb remote \"tcp:1.2.3.4\": expected tcp:IP:PORT"},
        BadCase{"ovsdb_remote = \"unix:/run/openvswitch/db.sock\"",
                "ovsdb_remote = \"ssl:ovsdb.example:6640\"", "netd.toml:19:16",
                "host.ovsdb_remote: ovsdb remote \"ssl:ovsdb.example:6640\": \"ovsdb.example\" "
                "is not an IP address"},
        BadCase{"openvswitch_rundir = \"/run/openvswitch\"", "openvswitch_rundir = \"run\"",
                "netd.toml:20:22", "host.openvswitch_rundir: expected an absolute path"},
        BadCase{"[api]", "[api]\nrequest_timeout_ms = 99", "netd.toml:10:22",
                "api.request_timeout_ms: expected an integer 100-600000, got 99"},
        BadCase{"[api]", "[api]\nmax_body_bytes = \"1M\"", "netd.toml:10:18",
                "api.max_body_bytes: expected an integer 1024-16777216, got a string"},
        BadCase{"forward_ports = \"6000-6100\"",
                "forward_ports = \"6000-6100\"\nbackend_tcp_ports = [443, 0]", "netd.toml:16:27",
                "gateway.backend_tcp_ports: expected each port to be an integer 1-65535"},
        BadCase{"forward_ports = \"6000-6100\"",
                "forward_ports = \"6000-6100\"\nforward_vm_ports = []", "netd.toml:16:20",
                "gateway.forward_vm_ports: expected at least one port"},
        BadCase{"forward_ports = \"6000-6100\"",
                "forward_ports = \"6000-6100\"\nforward_address = \"203.0.113\"", "netd.toml:16:19",
                "gateway.forward_address: expected an IPv4 address"},
        BadCase{"forward_ports = \"6000-6100\"",
                "forward_ports = \"6000-6100\"\nforward_ttl_s = 7200\nforward_max_ttl_s = 3600",
                "netd.toml:16:17",
                "gateway.forward_ttl_s: expected at most forward_max_ttl_s (3600)"},
        BadCase{"forward_ports = \"6000-6100\"",
                "forward_ports = \"6000-6100\"\nupstream_dns = [\"192.0.2.1\", 53]",
                "netd.toml:16:30", "gateway.upstream_dns: expected IPv4 addresses as strings"},
        BadCase{"forward_ports = \"6000-6100\"",
                "forward_ports = \"6000-6100\"\ndhcp_lease_time_s = 60", "netd.toml:16:21",
                "gateway.dhcp_lease_time_s: expected an integer 120-604800, got 60"},
        BadCase{"forward_ports = \"6000-6100\"",
                "forward_ports = \"6000-6100\"\nforward_portz = \"1-2\"", "netd.toml:16:17",
                "gateway.forward_portz: unknown key"},
        BadCase{"egress = \"allowlist\"", "dhcp_dynamic = true", "netd.toml:31:16",
                "network[0].dhcp_dynamic: an allowlisted network serves reservations only"},
        BadCase{"uplink_mode = \"trunk\"", "uplink_mode = \"access\"", "netd.toml:32:15",
                "network[0].uplink_mode: expected \"vlan-interface\" or \"trunk\", got \"access\""},
        BadCase{"# netd single-server demo", "colour = \"blue\"\n# netd single-server demo",
                "netd.toml:1:10", "colour: unknown key"},
        BadCase{"# netd single-server demo", "dns = 1\n# netd single-server demo", "netd.toml:1:7",
                "dns: expected a table, got an integer"}));

TEST(Config, TheDnsSectionIsReadAndItsErrorsNamed) {
  auto with_dns = [](const std::string& dns) { return DemoConfigText() + "\n[dns]\n" + dns; };
  auto config =
      ParseConfig(with_dns("upstream = [\"192.0.2.53\", \"192.0.2.54:5353\"]\n"
                           "refuse_with = \"nxdomain\"\n"
                           "local_names = { \"Backend.Enclave.\" = \"192.168.128.1\" }\n"),
                  "netd.toml");
  ASSERT_EQ(config.dns.upstream.size(), 2u);
  EXPECT_EQ(config.dns.upstream[1].port, 5353);
  EXPECT_TRUE(config.dns.refuse_with_nxdomain);
  EXPECT_EQ(config.dns.local_names.at("backend.enclave").ToString(), "192.168.128.1");
  // Without [dns] upstream, the open networks' resolvers are the filtered DNS's upstream.
  auto fallback =
      ParseConfig(DemoWith("forward_ports = \"6000-6100\"",
                           "forward_ports = \"6000-6100\"\nupstream_dns = [\"192.0.2.1\"]"),
                  "netd.toml");
  ASSERT_EQ(fallback.dns.upstream.size(), 1u);
  EXPECT_EQ(fallback.dns.upstream[0].address.ToString(), "192.0.2.1");
  EXPECT_EQ(fallback.dns.upstream[0].port, 53);

  EXPECT_THAT(ErrorOf(with_dns("upstream = [\"192.0.2.53:0\"]\n")),
              HasSubstr("dns.upstream: expected IPv4 addresses as strings, with an optional port"));
  EXPECT_THAT(ErrorOf(with_dns("refuse_with = \"drop\"\n")),
              HasSubstr("dns.refuse_with: expected \"refused\" or \"nxdomain\", got \"drop\""));
  EXPECT_THAT(ErrorOf(with_dns("min_ttl_s = 100\nmax_ttl_s = 10\n")),
              HasSubstr("dns.min_ttl_s: expected at most max_ttl_s (10)"));
  EXPECT_THAT(ErrorOf(with_dns("local_names = { \"backend.enclave\" = \"x\" }\n")),
              HasSubstr("local_names.\"backend.enclave\": expected an IPv4 address"));
  EXPECT_THAT(ErrorOf(with_dns("listen_port = 0\n")),
              HasSubstr("dns.listen_port: expected an integer 1-65535, got 0"));
  EXPECT_THAT(ErrorOf(with_dns("upstrem = []\n")), HasSubstr("dns.upstrem: unknown key"));
  EXPECT_TRUE(config.dns.learned_deny.empty());
  EXPECT_EQ(config.dns.vm_wildcard_names, 60u);
  EXPECT_EQ(config.dns.vm_wildcard_window_s, 60);
  auto guarded = ParseConfig(with_dns("learned_deny = [\"10.0.0.0/8\", \"192.0.2.7\"]\n"
                                      "vm_wildcard_names = 10\nvm_wildcard_window_s = 600\n"),
                             "guarded.toml");
  ASSERT_EQ(guarded.dns.learned_deny.size(), 2u);
  EXPECT_EQ(guarded.dns.learned_deny[1].ToString(), "192.0.2.7/32");
  EXPECT_EQ(guarded.dns.vm_wildcard_names, 10u);
  EXPECT_EQ(guarded.dns.vm_wildcard_window_s, 600);
  EXPECT_EQ(ParseConfig(with_dns("vm_max_in_flight = 8\n"), "netd.toml").dns.vm_max_in_flight, 8u);
  EXPECT_THAT(ErrorOf(with_dns("vm_max_in_flight = 0\n")),
              HasSubstr("dns.vm_max_in_flight: expected an integer 1-1000000, got 0"));
  EXPECT_THAT(ErrorOf(with_dns("learned_deny = [\"10.0.0.1/8\"]\n")),
              HasSubstr("dns.learned_deny: expected IPv4 networks or addresses as strings"));
  EXPECT_THAT(ErrorOf(with_dns("learned_deny = [8]\n")),
              HasSubstr("dns.learned_deny: expected IPv4 networks or addresses as strings"));
  EXPECT_THAT(ErrorOf(with_dns("vm_wildcard_names = 0\n")),
              HasSubstr("dns.vm_wildcard_names: expected an integer 1-1000000, got 0"));
  EXPECT_THAT(ErrorOf(with_dns("vm_wildcard_window_s = 86401\n")),
              HasSubstr("dns.vm_wildcard_window_s: expected an integer 1-86400, got 86401"));
}

TEST(Config, TheApiSectionIsReadWithItsDefaults) {
  auto defaults = ParseConfig(DemoConfigText(), "netd.toml").api;
  EXPECT_EQ(defaults.admin_group, "netd-admin");
  EXPECT_EQ(defaults.max_connections, 64u);
  EXPECT_EQ(defaults.max_body_bytes, 1024u * 1024u);
  EXPECT_EQ(defaults.max_header_bytes, 8u * 1024u);
  EXPECT_EQ(defaults.request_timeout, std::chrono::milliseconds(10'000));
  auto api = ParseConfig(DemoWith("[api]\n",
                                  "[api]\nmax_connections = 4\nmax_body_bytes = 2048\n"
                                  "max_header_bytes = 4096\nrequest_timeout_ms = 500\n"),
                         "netd.toml")
                 .api;
  EXPECT_EQ(api.max_connections, 4u);
  EXPECT_EQ(api.max_body_bytes, 2048u);
  EXPECT_EQ(api.max_header_bytes, 4096u);
  EXPECT_EQ(api.request_timeout, std::chrono::milliseconds(500));
}

TEST(Config, TheGatewaySectionIsReadWithItsDefaults) {
  const std::string line = "forward_ports = \"6000-6100\"";
  auto defaults = ParseConfig(DemoConfigText(), "netd.toml").gateway;
  EXPECT_EQ(defaults.forward_vm_ports, std::vector<std::uint16_t>{22});
  EXPECT_FALSE(defaults.forward_address);
  EXPECT_EQ(defaults.forward_ttl_s, 3600);
  EXPECT_EQ(defaults.nflog_group, 1);
  auto gateway =
      ParseConfig(
          DemoWith(line, line + "\nbackend_tcp_ports = [443, 8080]\nforward_vm_ports = [22, 3389]\n"
                                "forward_address = \"203.0.113.5\"\nforward_ttl_s = 60\n"
                                "forward_max_ttl_s = 120\ndhcp_lease_time_s = 600\n"
                                "nflog_group = 7\nmax_allowlist_elements = 5000\n"),
          "netd.toml")
          .gateway;
  EXPECT_EQ(gateway.backend_tcp_ports, (std::vector<std::uint16_t>{443, 8080}));
  EXPECT_EQ(gateway.forward_vm_ports, (std::vector<std::uint16_t>{22, 3389}));
  ASSERT_TRUE(gateway.forward_address);
  EXPECT_EQ(gateway.forward_address->ToString(), "203.0.113.5");
  EXPECT_EQ(gateway.forward_ttl_s, 60);
  EXPECT_EQ(gateway.forward_max_ttl_s, 120);
  EXPECT_EQ(gateway.dhcp_lease_time_s, 600);
  EXPECT_EQ(gateway.nflog_group, 7);
  EXPECT_EQ(gateway.max_allowlist_elements, 5000u);
}

TEST(Config, TheGatewaysFailingClosedKeysNameTheirErrors) {
  auto error_with = [](const std::string& line) {
    return ErrorOf(
        DemoWith("external_interface = \"ext0\"", line + "\nexternal_interface = \"ext0\""));
  };
  EXPECT_THAT(error_with("table_mode = \"always\""),
              HasSubstr("table_mode: expected \"auto\", \"owner\" or \"guard\""));
  EXPECT_THAT(error_with("route_mark = 0x30000000"),
              HasSubstr("route_mark: expected a single bit"));
  EXPECT_THAT(error_with("route_mark = 0"), HasSubstr("route_mark: expected an integer"));
  EXPECT_THAT(error_with("route_guard_priority = 32764"),
              HasSubstr("route_guard_priority: expected an integer 1-32763"));
}

TEST(Config, ANetworksOptionalKeysAreRead) {
  auto open = ParseConfig(DemoWith("egress = \"open\"\nuplink_mode = \"trunk\"",
                                   "egress = \"open\"\ndhcp_dynamic = true\nuplink = \"bond0\""),
                          "netd.toml");
  const auto& service = open.networks[1];
  EXPECT_TRUE(service.dhcp_dynamic);
  EXPECT_EQ(service.uplink, "bond0");
  EXPECT_EQ(service.uplink_mode, ovs::UplinkMode::kVlanInterface);
  EXPECT_EQ(open.networks[0].uplink_mode, ovs::UplinkMode::kTrunk);
}

TEST(Config, RolesAreKeptOnceInTheirOrderAndNetworkIsAnArrayOfTables) {
  auto config = ParseConfig(
      DemoWith("roles = [\"gateway\", \"host\"]", "roles = [\"host\", \"gateway\", \"host\"]"),
      "netd.toml");
  EXPECT_EQ(config.roles, (std::vector<Role>{Role::kHost, Role::kGateway}));
  EXPECT_THAT(ErrorOf("network = 1\n[netd]\nroles = [\"host\"]\n"),
              HasSubstr("netd.toml:1:11: network: expected an array, got an integer"));
}

TEST(Config, AnSslRemoteNeedsItsTlsFilesAndOnlyAnSslRemoteHasThem) {
  const std::string unix_remote = "ovsdb_remote = \"unix:/run/openvswitch/db.sock\"";
  const std::string ssl_remote = "ovsdb_remote = \"ssl:[2001:db8::1]:6640\"";
  const std::string files =
      "\novsdb_private_key = \"/etc/netd/ovsdb-key.pem\""
      "\novsdb_certificate = \"/etc/netd/ovsdb-cert.pem\""
      "\novsdb_ca_certificate = \"/etc/netd/ovsdb-ca.pem\"";
  auto config = ParseConfig(DemoWith(unix_remote, ssl_remote + files), "netd.toml");
  EXPECT_EQ(config.host.ovsdb_remote.kind, ovs::Remote::Kind::kSsl);
  EXPECT_EQ(config.host.ovsdb_remote.port, 6640);
  EXPECT_EQ(config.host.ovsdb_tls.private_key, "/etc/netd/ovsdb-key.pem");
  EXPECT_EQ(config.host.ovsdb_tls.certificate, "/etc/netd/ovsdb-cert.pem");
  EXPECT_EQ(config.host.ovsdb_tls.ca_certificate, "/etc/netd/ovsdb-ca.pem");

  auto without_ca = files.substr(0, files.find("\novsdb_ca_certificate"));
  EXPECT_THAT(ErrorOf(DemoWith(unix_remote, ssl_remote + without_ca)),
              HasSubstr("netd.toml:17:1: host.ovsdb_ca_certificate: missing; an ssl: ovsdb_remote "
                        "needs ovsdb_private_key, ovsdb_certificate and ovsdb_ca_certificate"));
  EXPECT_THAT(ErrorOf(DemoWith(unix_remote, unix_remote + files)),
              HasSubstr("host.ovsdb_private_key: only for an ssl: ovsdb_remote, and "
                        "\"unix:/run/openvswitch/db.sock\" is not one"));
  EXPECT_THAT(ErrorOf(DemoWith(unix_remote, "ovsdb_remote = \"tcp:192.0.2.1:6640\"" + without_ca)),
              HasSubstr("host.ovsdb_private_key: only for an ssl: ovsdb_remote, and "
                        "\"tcp:192.0.2.1:6640\" is not one"));
  EXPECT_THAT(ErrorOf(DemoWith(unix_remote, ssl_remote + "\novsdb_private_key = \"key.pem\"")),
              HasSubstr("host.ovsdb_private_key: expected an absolute path"));
}

TEST(Config, LibvirtUriIsALibvirtUriOrNothing) {
  const std::string line = "libvirt_uri = \"qemu:///system\"";
  EXPECT_EQ(ParseConfig(DemoWith(line, line), "netd.toml").host.libvirt_uri, "qemu:///system");
  EXPECT_EQ(
      ParseConfig(DemoWith(line, "libvirt_uri = \"qemu+ssh://root@host/system\""), "netd.toml")
          .host.libvirt_uri,
      "qemu+ssh://root@host/system");
  EXPECT_EQ(ParseConfig(DemoWith(line, "libvirt_uri = \"\""), "netd.toml").host.libvirt_uri, "");
  for (const char* bad : {"qemu", "/var/run/libvirt/libvirt-sock", "://system", "QEMU:///x"}) {
    EXPECT_THAT(ErrorOf(DemoWith(line, fmt::format("libvirt_uri = \"{}\"", bad))),
                HasSubstr("host.libvirt_uri: expected a libvirt URI such as \"qemu:///system\""))
        << bad;
  }
}

TEST(Config, TheAuditSectionPlacesTheAnchors) {
  auto config = ParseConfig(DemoConfigText(), "netd.toml");
  EXPECT_TRUE(config.audit.anchor_file.empty());
  EXPECT_EQ(config.audit.anchor_interval, std::chrono::seconds(10));
  config = ParseConfig(DemoConfigText() +
                           "\n[audit]\nanchor_file = \"/var/log/netd/anchors\"\n"
                           "anchor_interval_s = 2\n",
                       "netd.toml");
  EXPECT_EQ(config.audit.anchor_file, "/var/log/netd/anchors");
  EXPECT_EQ(config.audit.anchor_interval, std::chrono::seconds(2));
  EXPECT_THAT(ErrorOf(DemoConfigText() + "\n[audit]\nanchor_file = \"anchors\"\n"),
              HasSubstr("audit.anchor_file: expected an absolute path, got \"anchors\""));
  EXPECT_THAT(ErrorOf(DemoConfigText() + "\n[audit]\nanchor_interval_s = 0\n"),
              HasSubstr("audit.anchor_interval_s: expected an integer 1-3600, got 0"));
  EXPECT_THAT(ErrorOf(DemoConfigText() + "\n[audit]\nanchors = 1\n"), HasSubstr("audit.anchors"));
}

TEST(Config, PeerTimeoutsAreReadForTheSwitchAndThePolicyDatabase) {
  auto config = ParseConfig(DemoConfigText(), "netd.toml");
  EXPECT_EQ(config.host.timeouts.probe_interval, std::chrono::milliseconds(5000));
  EXPECT_EQ(config.host.timeouts.request_timeout, std::chrono::milliseconds(30000));
  const std::string line = "libvirt_uri = \"qemu:///system\"";
  config =
      ParseConfig(DemoWith(line, line + "\nprobe_interval_ms = 250\nrequest_timeout_ms = 2000") +
                      "\n[policy]\nremotes = [\"tcp:192.0.2.11:6642\"]\nprobe_interval_ms = 1000\n",
                  "netd.toml");
  EXPECT_EQ(config.host.timeouts.probe_interval, std::chrono::milliseconds(250));
  EXPECT_EQ(config.host.timeouts.request_timeout, std::chrono::milliseconds(2000));
  EXPECT_EQ(config.policy->timeouts.probe_interval, std::chrono::milliseconds(1000));
  EXPECT_EQ(config.policy->timeouts.request_timeout, std::chrono::milliseconds(30000));
  EXPECT_THAT(ErrorOf(DemoWith(line, line + "\nprobe_interval_ms = 0")),
              HasSubstr("host.probe_interval_ms: expected an integer 100-3600000, got 0"));
  EXPECT_THAT(ErrorOf(DemoWith(line, line + "\nrequest_timeout_ms = \"5s\"")),
              HasSubstr("host.request_timeout_ms: expected an integer 1000-3600000, got a string"));
  EXPECT_THAT(ErrorOf(DemoConfigText() +
                      "\n[policy]\nremotes = [\"tcp:192.0.2.11:6642\"]\nrequest_timeout_ms = 1\n"),
              HasSubstr("policy.request_timeout_ms: expected an integer 1000-3600000, got 1"));
}

TEST(Config, APolicySectionNamesTheDatabasesMembersAndAHostOnlyHostNeedsIt) {
  const std::string roles = "roles = [\"gateway\", \"host\"]";
  // Both roles without [policy]: the host side pins from the gateway's own bindings.
  EXPECT_FALSE(ParseConfig(DemoConfigText(), "netd.toml").policy.has_value());
  const std::string policy =
      "\n[policy]\nremotes = [\"ssl:192.0.2.11:6641\", \"ssl:192.0.2.12:6641\", "
      "\"unix:/run/netd/policy.sock\"]\nprivate_key = \"/etc/netd/policy-key.pem\"\n"
      "certificate = \"/etc/netd/policy-cert.pem\"\nca_certificate = \"/etc/netd/ca.pem\"\n"
      "host_listeners = [\"pssl:6642\", \"ptcp:6642:127.0.0.1\"]\n";
  auto config = ParseConfig(DemoConfigText() + policy, "netd.toml");
  ASSERT_TRUE(config.policy);
  ASSERT_EQ(config.policy->remotes.size(), 3u);
  EXPECT_EQ(ovs::ToString(config.policy->remotes[1]), "ssl:192.0.2.12:6641");
  EXPECT_EQ(config.policy->tls.ca_certificate, "/etc/netd/ca.pem");
  EXPECT_EQ(config.policy->host_listeners,
            (std::vector<std::string>{"pssl:6642", "ptcp:6642:127.0.0.1"}));

  // A host without the gateway role knows secure bindings only from the database.
  auto host_only = DemoWith(roles, "roles = [\"host\"]");
  EXPECT_THAT(ErrorOf(host_only),
              HasSubstr("policy: missing; a host without the gateway role pins secure VM ports "
                        "only as the policy database binds them"));
  auto plain = "\n[policy]\nremotes = [\"tcp:192.0.2.11:6642\"]\n";
  EXPECT_EQ(ParseConfig(host_only + plain, "netd.toml").policy->remotes.size(), 1u);
  EXPECT_THAT(ErrorOf(host_only + "\n[policy]\nremotes = [\"tcp:192.0.2.11:6642\"]\n"
                                  "host_listeners = [\"pssl:6642\"]\n"),
              HasSubstr("policy.host_listeners: only for the gateway role"));

  EXPECT_THAT(ErrorOf(DemoConfigText() + "\n[policy]\nremotes = []\n"),
              HasSubstr("policy.remotes: missing or empty"));
  EXPECT_THAT(ErrorOf(DemoConfigText() + "\n[policy]\nremotes = [\"tcp:db.example:6641\"]\n"),
              HasSubstr("policy.remotes: ovsdb remote \"tcp:db.example:6641\""));
  EXPECT_THAT(ErrorOf(DemoConfigText() + "\n[policy]\nremotes = [\"ssl:192.0.2.11:6641\"]\n"),
              HasSubstr("policy.private_key: missing; ssl: remotes need private_key"));
  EXPECT_THAT(ErrorOf(DemoConfigText() + plain + "certificate = \"/etc/netd/c.pem\"\n"),
              HasSubstr("policy.certificate: only for ssl: remotes"));
  for (const char* bad : {"pssl", "pssl:x", "tcp:6642", "pssl:70000", "pssl:6642:host"}) {
    EXPECT_THAT(ErrorOf(DemoConfigText() + plain + fmt::format("host_listeners = [\"{}\"]\n", bad)),
                HasSubstr("policy.host_listeners: expected a passive remote"))
        << bad;
  }
  EXPECT_THAT(ErrorOf(DemoConfigText() + plain + "members = 3\n"), HasSubstr("policy.members"));
}

TEST(Config, SyntaxErrorsNameTheLocation) {
  auto error = ErrorOf(DemoWith("vlan = 1081", "vlan = = 1081"));
  EXPECT_THAT(error, HasSubstr("netd.toml:26:"));
  EXPECT_THAT(error, HasSubstr("invalid TOML"));
}

TEST(Config, MissingPiecesAreNamed) {
  EXPECT_THAT(ErrorOf("[netd]\nroles = [\"host\"]\n"),
              HasSubstr("network: missing; expected at least one [[network]]"));
  EXPECT_THAT(ErrorOf("[[network]]\nname = \"a\"\n"), HasSubstr("netd.roles: missing"));
  auto error = ErrorOf(DemoWith("vlan = 1081\n", ""));
  EXPECT_THAT(error, HasSubstr("network[0].vlan: missing"));
}

TEST(Config, GatewayRoleNeedsItsSection) {
  auto text =
      DemoWith("[gateway]\nexternal_interface = \"ext0\"\nforward_ports = \"6000-6100\"\n", "");
  EXPECT_THAT(ErrorOf(text), HasSubstr("gateway: missing"));
}

TEST(Config, ReloadReportsWhatNeedsARestart) {
  auto running = ParseConfig(DemoConfigText(), "a");
  auto reloaded =
      ParseConfig(DemoWith("log_level = \"info\"", "log_level = \"debug\"").replace(0, 0, ""), "b");
  EXPECT_TRUE(SettingsNeedingRestart(running, reloaded).empty());
  auto moved = ParseConfig(DemoWith("vlan = 1083", "vlan = 1099"), "c");
  EXPECT_EQ(SettingsNeedingRestart(running, moved), std::vector<std::string>{"network"});
  auto over_tcp = ParseConfig(DemoWith("unix:/run/openvswitch/db.sock", "tcp:192.0.2.1:6640"), "d");
  EXPECT_EQ(SettingsNeedingRestart(running, over_tcp),
            std::vector<std::string>{"host.ovsdb_remote"});
  auto rundir = ParseConfig(DemoWith("\"/run/openvswitch\"", "\"/var/run/openvswitch\""), "e");
  EXPECT_EQ(SettingsNeedingRestart(running, rundir),
            std::vector<std::string>{"host.openvswitch_rundir"});
}

}  // namespace
}  // namespace netd
