// The host role with libvirt: HostRole (as the daemon composes it, from a parsed configuration)
// on a private userspace OVS, connected to libvirt's test driver (test:///default, held in this
// process). The test plays libvirt's part in OVSDB (AttachVm writes the port with the domain's
// uuid as vm-id) and drives the domain's lifecycle through libvirt; real pings show what the
// port's flows let through.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <libvirt/libvirt.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "netd/common/asio_clock.hpp"
#include "netd/daemon/config.hpp"
#include "netd/daemon/host_role.hpp"
#include "netd/lab/guard.hpp"
#include "netd/lab/namespace.hpp"
#include "netd/lab/ovs.hpp"
#include "netd/testing/libvirt_test_driver.hpp"
#include "netd/testing/stated_bindings.hpp"
#include "netd/testing/status_of.hpp"
#include "netd/testing/within.hpp"

namespace netd {
namespace {

using namespace std::chrono_literals;

constexpr const char* kVmUuid = "6b1c2a1e-0c55-4a8e-9d1f-5a7e2b3c4d01";
constexpr const char* kVmMac = "52:54:0a:51:00:0a";  // 10.81.0.10

// Both roles, as on a single server: the bridge's internal port is the gateway's interface,
// which the VMs ping.
std::string HostConfigText(const lab::OvsInstance& ovs) {
  return fmt::format(R"(
[netd]
roles = ["gateway", "host"]
[gateway]
external_interface = "ext0"
[host]
datapath_type = "netdev"
ovsdb_remote = "{}"
openvswitch_rundir = "{}"
libvirt_uri = "test:///default"

[[network]]
name = "secure"
bridge = "br-secure"
vlan = 1081
cidr = "10.81.0.0/24"
gateway = "10.81.0.1"
dhcp_first = "10.81.0.10"
dhcp_last = "10.81.0.200"
egress = "allowlist"
uplink = "up1081"
uplink_mode = "trunk"
)",
                     ovs.db_remote(), ovs.mgmt_socket("br-secure").parent_path().string());
}

class LibvirtHostTest : public ::testing::Test {
 protected:
  void SetUp() override {
    NETD_REQUIRE_ROOT_OR_SKIP();
    host_.emplace("lvhost");
    host_->RunChecked({"ip", "link", "add", "up1081", "type", "veth", "peer", "name", "up1081p"});
    ovs_.emplace(*host_);
    config_ = ParseConfig(HostConfigText(*ovs_), "host");
    // The gateway side's bindings, as the daemon hands them over where both roles run.
    for (const char* mac : {kVmMac, "52:54:0a:51:00:0b"}) {
      bindings_.Bind("secure", *MacAddress::Parse(mac), mac);
    }
    role_ = std::make_unique<HostRole>(io_, config_, clock_, &bindings_);
    role_->Start();
    ASSERT_TRUE(RunUntil(10s, [&] {
      auto status = testing::StatusOf(*role_)["host"];
      return status["bridges"]["in_sync"].get<bool>() &&
             status["bridges"]["per_bridge"][0]["openflow_connected"].get<bool>() &&
             status["libvirt"]["networks"][0]["as_specified"].get<bool>() &&
             status["libvirt"]["domains"] == 1;
    }));
    host_->SetLinkUp("br-secure");
    host_->RunChecked({"ip", "address", "replace", "10.81.0.1/24", "dev", "br-secure"});
  }
  void TearDown() override {
    if (role_) role_->Stop();
  }

  bool RunUntil(std::chrono::milliseconds limit, const std::function<bool()>& done) {
    return testing::RunUntil(io_, limit, done);
  }
  std::optional<nlohmann::json> Port(const std::string& name) {
    for (const auto& entry : role_->PortsJson()) {
      if (entry["port"] == name) return entry;
    }
    return std::nullopt;
  }
  bool PortIs(const std::string& name, const std::string& state) {
    auto port = Port(name);
    return port && (*port)["state"] == state && (*port)["flows_installed"].get<bool>();
  }
  // netd's flows for the port's OpenFlow number (the table-miss drop matches no in_port).
  std::string PortFlows(const std::string& port) {
    auto number = ovs_->Vsctl({"get", "Interface", port, "ofport"});
    if (!number.ok() || number.out.empty()) {
      ADD_FAILURE() << "no OpenFlow port number for " << port << ": " << number.err;
      return "unknown";
    }
    auto flows = ovs_->Ofctl({"-O", "OpenFlow13", "--no-stats", "dump-flows", "br-secure",
                              "in_port=" + number.out.substr(0, number.out.find('\n'))});
    if (!flows.ok()) ADD_FAILURE() << "ovs-ofctl dump-flows failed: " << flows.err;
    return flows.ok() ? flows.out : "unknown";
  }

  // Opened first, closed last: the test driver's state starts from its default.
  testing::LibvirtTestDriver libvirt_;
  boost::asio::io_context io_;
  AsioClock clock_{io_};
  testing::StatedBindings bindings_;
  std::optional<lab::Namespace> host_;
  std::optional<lab::OvsInstance> ovs_;
  Config config_;
  std::unique_ptr<HostRole> role_;
};

TEST_F(LibvirtHostTest, TheBridgesLibvirtNetworksAreDefinedStartedAndAutostarted) {
  EXPECT_EQ(libvirt_.Defined("secure"),
            (libvirt::LibvirtNetworkSpec{"secure", "br-secure", 1081, true}));
  EXPECT_TRUE(libvirt_.Active("secure"));
  EXPECT_TRUE(libvirt_.Autostart("secure"));
  auto status = testing::StatusOf(*role_)["host"]["libvirt"];
  EXPECT_EQ(status["uri"], "test:///default");
  ASSERT_EQ(status["networks"].size(), 1u);
  EXPECT_TRUE(status["networks"][0]["as_specified"].get<bool>()) << status.dump();
  // The test driver's own domain "test", running.
  EXPECT_EQ(status["domains"], 1);
  EXPECT_EQ(status["domains_running"], 1);
}

TEST_F(LibvirtHostTest, AStoppedVmsPortGetsNoFlowsUntilTheVmRunsAgain) {
  auto domain = libvirt_.DefineAndStart(
      testing::LibvirtTestDriver::DomainXml("vm1", kVmUuid, kVmMac, "secure"));
  lab::Namespace vm("lvvm1");
  ovs_->AttachVm("br-secure", vm, "eth0", "vnet0",
                 {.mac = kVmMac, .vm_id = kVmUuid, .vlan_tag = 1081});
  vm.AddAddress("eth0", "10.81.0.10/24");
  ASSERT_TRUE(RunUntil(5s, [&] { return PortIs("vnet0", "pinned"); }));
  EXPECT_TRUE(RunUntil(5s, [&] { return (*Port("vnet0"))["vm"] == "vm1"; }))
      << "the port does not name its VM: " << Port("vnet0")->dump();
  EXPECT_TRUE(vm.Ping("10.81.0.1")) << "a running VM's port does not pass";

  // The VM stops, and its port stays behind (as after a crash of libvirt's cleanup).
  ASSERT_EQ(virDomainDestroy(domain.get()), 0);
  ASSERT_TRUE(RunUntil(5s, [&] {
    return Port("vnet0") && (*Port("vnet0"))["state"] == "vm-stopped";
  })) << (Port("vnet0") ? Port("vnet0")->dump() : "no port");
  EXPECT_TRUE(RunUntil(5s, [&] { return PortFlows("vnet0").find("in_port") == std::string::npos; }))
      << "the switch still holds flows of the stopped VM's port:\n"
      << PortFlows("vnet0");
  EXPECT_FALSE(vm.Ping("10.81.0.1", 2)) << "the stopped VM's port still passes";
  EXPECT_EQ(testing::StatusOf(*role_)["host"]["bridges"]["per_bridge"][0]["vm_ports_stopped"], 1);

  // libvirt starts it again: its port is pinned at once.
  ASSERT_EQ(virDomainCreate(domain.get()), 0);
  ASSERT_TRUE(RunUntil(5s, [&] { return PortIs("vnet0", "pinned"); }));
  EXPECT_NE(PortFlows("vnet0").find("in_port"), std::string::npos);
  EXPECT_TRUE(vm.Ping("10.81.0.1")) << "the restarted VM's port does not pass";
  EXPECT_GE(testing::StatusOf(*role_)["host"]["libvirt"]["domain_events"].get<int>(), 2);
}

TEST_F(LibvirtHostTest, PortsOfVmsLibvirtDoesNotKnowArePinnedAsTheGatewayBoundThem) {
  lab::Namespace vm("lvvm2");
  ovs_->AttachVm("br-secure", vm, "eth0", "vnet1",
                 {.mac = "52:54:0a:51:00:0b", .vm_id = "not-a-libvirt-domain", .vlan_tag = 1081});
  vm.AddAddress("eth0", "10.81.0.11/24");
  ASSERT_TRUE(RunUntil(5s, [&] { return PortIs("vnet1", "pinned"); }));
  EXPECT_TRUE(vm.Ping("10.81.0.1"));
}

}  // namespace
}  // namespace netd
