// The kernel-test foundation: a private OVS (userspace datapath) in a namespace, three "VM"
// namespaces attached by veth, VLAN tags separating them. Addresses are TEST-NET-1
// (192.0.2.0/24) and exist only inside the test's namespaces.
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <thread>

#include "netd/lab/guard.hpp"
#include "netd/lab/namespace.hpp"
#include "netd/lab/ovs.hpp"

namespace netd::lab {
namespace {

using namespace std::chrono_literals;

constexpr int kVlanAb = 100;
constexpr int kVlanC = 200;
constexpr const char* kBridge = "br0";
constexpr const char* kAddressA = "192.0.2.1";
constexpr const char* kAddressB = "192.0.2.2";
constexpr const char* kAddressC = "192.0.2.3";

class OvsVlanSmoke : public ::testing::Test {
 protected:
  void SetUp() override {
    NETD_REQUIRE_ROOT_OR_SKIP();
    switch_.emplace("switch");
    ovs_.emplace(*switch_);
    ovs_->AddBridge(kBridge);
    Attach(vm_a_, "vm-a", "port-a", kVlanAb, kAddressA);
    Attach(vm_b_, "vm-b", "port-b", kVlanAb, kAddressB);
    Attach(vm_c_, "vm-c", "port-c", kVlanC, kAddressC);
  }

  void Attach(std::optional<Namespace>& vm, const std::string& tag, const std::string& port,
              int vlan, const std::string& address) {
    vm.emplace(tag);
    ovs_->AttachNamespace(kBridge, *vm, "eth0", port, vlan);
    vm->AddAddress("eth0", address + "/24");
  }

  std::string Tag(const std::string& port) {
    const CommandResult result = ovs_->Vsctl({"get", "Port", port, "tag"});
    EXPECT_TRUE(result.ok()) << result.err;
    return result.out;
  }

  // Declaration order is teardown order, reversed: VMs first, then OVS, then its namespace.
  std::optional<Namespace> switch_;
  std::optional<OvsInstance> ovs_;
  std::optional<Namespace> vm_a_;
  std::optional<Namespace> vm_b_;
  std::optional<Namespace> vm_c_;
};

TEST_F(OvsVlanSmoke, SameVlanNamespacesPingEachOther) {
  EXPECT_TRUE(vm_a_->Ping(kAddressB));
  EXPECT_TRUE(vm_b_->Ping(kAddressA));
}

TEST_F(OvsVlanSmoke, OtherVlanIsUnreachableUntilRetagged) {
  ASSERT_TRUE(vm_a_->Ping(kAddressB));  // the switch forwards at all
  EXPECT_FALSE(vm_a_->Ping(kAddressC, 1));
  EXPECT_FALSE(vm_c_->Ping(kAddressA, 1));

  // C itself is healthy: on A's VLAN it answers.
  ASSERT_TRUE(ovs_->Vsctl({"set", "Port", "port-c", "tag=" + std::to_string(kVlanAb)}).ok());
  EXPECT_TRUE(vm_a_->Ping(kAddressC));
}

TEST_F(OvsVlanSmoke, TcpCrossesTheUserspaceDatapath) {
  // Fails if tx checksum offload is left on the veths: the datapath forwards unfilled checksums.
  Process server = vm_b_->Start({"socat", "TCP-LISTEN:7000,reuseaddr", "SYSTEM:echo pong"});
  CommandResult reply;
  for (int attempt = 0; attempt < 20 && reply.out.empty(); ++attempt) {
    if (attempt > 0) std::this_thread::sleep_for(50ms);
    reply = vm_a_->Run(
        {"socat", "-u", std::string("TCP:") + kAddressB + ":7000,connect-timeout=2", "STDOUT"},
        {.env = {}, .timeout = 5s});
  }
  EXPECT_EQ(reply.out, "pong\n") << reply.err;
}

TEST_F(OvsVlanSmoke, OvsdbAndOpenFlowShowTheConfiguration) {
  EXPECT_EQ(Tag("port-a"), "100\n");
  EXPECT_EQ(Tag("port-b"), "100\n");
  EXPECT_EQ(Tag("port-c"), "200\n");
  const CommandResult datapath = ovs_->Vsctl({"get", "Bridge", kBridge, "datapath_type"});
  EXPECT_EQ(datapath.out, "netdev\n") << datapath.err;

  const CommandResult flows = ovs_->Ofctl({"dump-flows", kBridge});
  ASSERT_TRUE(flows.ok()) << flows.err;
  EXPECT_NE(flows.out.find("actions=NORMAL"), std::string::npos) << flows.out;
  EXPECT_TRUE(std::filesystem::exists(ovs_->mgmt_socket(kBridge)));
}

}  // namespace
}  // namespace netd::lab
