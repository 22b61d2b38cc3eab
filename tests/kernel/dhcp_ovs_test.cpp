// DHCP through the enclave's switch: netd's dnsmasq in a gateway namespace whose br-secure is a
// private userspace Open vSwitch bridge (VLAN 1081, the gateway address on its internal port),
// busybox udhcpc in VM namespaces on access ports of that VLAN.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <list>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "netd/lab/guard.hpp"
#include "netd/lab/namespace.hpp"
#include "netd/lab/ovs.hpp"
#include "netd/lab/temp_dir.hpp"
#include "netd/testing/netd_process.hpp"
#include "netd/testing/raw_http.hpp"

namespace netd {
namespace {

constexpr int kSecureVlan = 1081;

class DhcpOverOvsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    NETD_REQUIRE_ROOT_OR_SKIP();
    gateway_.emplace("dhcp-gw");
    ovs_.emplace(*gateway_);
    ovs_->AddBridge("br-secure");
    ovs_->Vsctl({"set", "Port", "br-secure", "tag=" + std::to_string(kSecureVlan)});
    gateway_->SetLinkUp("br-secure");
    gateway_->AddAddress("br-secure", "192.168.128.1/17");
    temp_.emplace("dhcp-ovs");
    netd_.emplace(temp_->path());
    netd_->RunInNamespace(gateway_->name());
    netd_->Start();
    script_ = temp_->path() / "udhcpc.sh";
    std::ofstream(script_) << "#!/bin/sh\nexit 0\n";
    std::filesystem::permissions(script_, std::filesystem::perms::owner_all);
  }

  // A VM namespace on an access port of the secure VLAN, with `mac`.
  lab::Namespace& Plug(const std::string& tag, const std::string& mac) {
    auto& vm = vms_.emplace_back(tag);
    ovs_->AttachNamespace("br-secure", vm, "eth0", "p-" + tag, kSecureVlan);
    vm.RunChecked({"ip", "link", "set", "eth0", "address", mac});
    return vm;
  }

  // udhcpc's report ("lease of … obtained from …"), or empty without a lease.
  std::string Lease(const lab::Namespace& vm) {
    auto result = vm.Run({"busybox", "udhcpc", "-i", "eth0", "-f", "-q", "-n", "-t", "5", "-T", "1",
                          "-s", script_.string()});
    auto at = result.err.find("lease of");
    return result.ok() && at != std::string::npos
               ? result.err.substr(at, result.err.find('\n', at) - at)
               : std::string();
  }

  // Declaration order is teardown order, reversed: VMs, netd, OVS, then its namespace.
  std::optional<lab::Namespace> gateway_;
  std::optional<lab::OvsInstance> ovs_;
  std::optional<lab::TempDir> temp_;
  std::optional<testing::NetdProcess> netd_;
  std::filesystem::path script_;
  std::list<lab::Namespace> vms_;
};

TEST_F(DhcpOverOvsTest, ABoundVmGetsItsAddressAndAnUnknownMacNothing) {
  auto bound = testing::Request(netd_->socket(), "PUT", "/v1/vms/vm1", R"({"network":"secure"})");
  ASSERT_EQ(bound.status, 201) << bound.body;
  auto& vm = Plug("dhcp-vm1", bound.Json()["mac"]);
  EXPECT_EQ(Lease(vm), "lease of 192.168.129.1 obtained from 192.168.128.1, lease time 3600");
  auto& stranger = Plug("dhcp-x", "52:54:c0:a8:81:42");
  EXPECT_EQ(Lease(stranger), "");
}

}  // namespace
}  // namespace netd
