// Segmentation end to end through a real netd with both roles and no policy database: groups
// made through the API reach the host side in the same process, and the switch (a private
// userspace Open vSwitch whose bridges netd builds) lets secure VMs reach each other only as a
// group allows. Judged by what the VMs receive.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <list>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <string>
#include <thread>

#include "netd/lab/guard.hpp"
#include "netd/lab/namespace.hpp"
#include "netd/lab/ovs.hpp"
#include "netd/lab/temp_dir.hpp"
#include "netd/testing/netd_process.hpp"
#include "netd/testing/notify_listener.hpp"
#include "netd/testing/raw_http.hpp"
#include "netd/testing/within.hpp"

namespace netd {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using testing::Within;

class SegmentationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    NETD_REQUIRE_ROOT_OR_SKIP();
    host_.emplace("seg-host");
    ovs_.emplace(*host_);
    temp_.emplace("segmentation");
    const auto dir = temp_->path();
    netd_.emplace(dir, [&](std::string text) {
      using testing::Replace;
      text = Replace(text, (dir / "ovs" / "db.sock").string(), ovs_->db_socket().string());
      text = Replace(text, "libvirt_uri = \"test:///default\"", "libvirt_uri = \"\"");
      return Replace(text, '"' + (dir / "ovs").string() + '"', '"' + ovs_->dir().string() + '"');
    });
    netd_->RunInNamespace(host_->name());
    netd_->Start();
    // The gateway's address on the secure bridge's internal port, once netd built the bridge.
    ASSERT_TRUE(Within(10s, [&] { return host_->Run({"ip", "link", "show", "br-secure"}).ok(); }));
    host_->SetLinkUp("br-secure");
    host_->RunChecked({"ip", "address", "replace", "192.168.128.1/17", "dev", "br-secure"});
  }

  testing::HttpAnswer Api(const std::string& method, const std::string& target,
                          const json& body = nullptr) {
    return testing::Request(netd_->socket(), method, target, body.is_null() ? "" : body.dump());
  }

  // Binds `vm` through the API and attaches its namespace with the MAC and address netd gave it.
  struct Vm {
    lab::Namespace* ns;
    std::string ip;
  };
  Vm Bind(const std::string& vm) {
    auto answer = Api("PUT", "/v1/vms/" + vm, {{"network", "secure"}});
    EXPECT_EQ(answer.status, 201) << answer.body;
    auto binding = answer.Json();
    auto& ns = vms_.emplace_back(vm);
    ns.RunChecked({"sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"});
    ovs_->AttachVm("br-secure", ns, "eth0", vm,
                   {.mac = binding["mac"], .vm_id = vm, .vlan_tag = 1081});
    ns.AddAddress("eth0", binding["ip"].get<std::string>() + "/17");
    ns.RunChecked({"ip", "route", "add", "default", "via", "192.168.128.1"});
    return {&ns, binding["ip"]};
  }

  json SecureBridge() {
    auto status = Api("GET", "/v1/status").Json();
    for (const auto& bridge : status["host"]["bridges"]["per_bridge"]) {
      if (bridge["bridge"] == "br-secure") return bridge;
    }
    return nullptr;
  }

  // Declaration order is teardown order, reversed: VMs, netd, OVS, then its namespace.
  std::optional<lab::Namespace> host_;
  std::optional<lab::OvsInstance> ovs_;
  std::optional<lab::TempDir> temp_;
  std::optional<testing::NetdProcess> netd_;
  std::list<lab::Namespace> vms_;
};

// The sequence numbers of the echo replies in ping's output so far.
std::vector<int> Replies(const std::filesystem::path& output) {
  std::ifstream in(output);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  static const std::regex kReply("icmp_seq=([0-9]+)");
  std::vector<int> seqs;
  for (std::sregex_iterator it(text.begin(), text.end(), kReply), end; it != end; ++it) {
    seqs.push_back(std::stoi((*it)[1]));
  }
  return seqs;
}

TEST_F(SegmentationTest, AGroupMadeThroughTheApiJoinsItsMembersAndLeavingItCutsTheirSession) {
  auto a = Bind("vm-a");
  auto b = Bind("vm-b");
  auto c = Bind("vm-c");
  ASSERT_TRUE(Within(10s, [&] {
    auto bridge = SecureBridge();
    return !bridge.is_null() && bridge["vm_ports_pinned"] == 3;
  })) << Api("GET", "/v1/host/ports").body;
  EXPECT_TRUE(a.ns->Ping("192.168.128.1")) << "vm-a does not reach its gateway";
  EXPECT_FALSE(a.ns->Ping(b.ip, 2)) << "secure VMs reach each other without a group";

  auto put = Api("PUT", "/v1/groups/pair",
                 {{"network", "secure"}, {"members", {"vm-a", "vm-b"}}, {"protocol", "icmp"}});
  ASSERT_EQ(put.status, 201) << put.body;
  EXPECT_TRUE(Within(5s, [&] { return a.ns->Ping(b.ip, 1); })) << "the group does not join them";
  EXPECT_TRUE(b.ns->Ping(a.ip, 2)) << "the group's protocol does not apply both ways";
  EXPECT_FALSE(a.ns->Ping(c.ip, 2)) << "vm-a reaches vm-c, in no group";
  EXPECT_FALSE(c.ns->Ping(b.ip, 2)) << "vm-c reaches vm-b, in no group";
  // GET /v1/host/ports names each member's peers.
  std::map<std::string, json> peers;
  auto ports = Api("GET", "/v1/host/ports").Json();
  for (const auto& port : ports["ports"]) {
    peers[port["port"]] = port["peers"];
  }
  EXPECT_EQ(peers["vm-a"], json({"vm-b"}));
  EXPECT_EQ(peers["vm-b"], json({"vm-a"}));
  EXPECT_EQ(peers["vm-c"], json::array());

  // An open session (one ping, one ICMP connection): vm-b leaves the group while it runs.
  auto output = temp_->path() / "ping.out";
  auto ping =
      a.ns->Start({"ping", "-n", "-i", "0.1", "-c", "60", b.ip}, {.env = {}, .output = output});
  ASSERT_TRUE(Within(5s, [&] { return Replies(output).size() >= 5; }));
  auto left = Api("DELETE", "/v1/groups/pair/members/vm-b");
  ASSERT_EQ(left.status, 200) << left.body;
  auto last_before = Replies(output).back();
  ping.WaitForExit(15s);
  auto replies = Replies(output);
  // Within a second of the answer (10 echoes at 0.1 s), the session is cut.
  EXPECT_LE(replies.back(), last_before + 10)
      << "echo " << replies.back() << " answered, the member left at " << last_before;
  EXPECT_GT(SecureBridge()["east_west_drops"].get<std::uint64_t>(), 0u) << SecureBridge();
  EXPECT_TRUE(a.ns->Ping("192.168.128.1")) << "vm-a no longer reaches its gateway";
}

TEST_F(SegmentationTest, SystemdHearsReadyOnlyOnceEveryBridgeHoldsItsFlows) {
  ASSERT_EQ(netd_->Stop(), 0);
  testing::NotifyListener systemd(temp_->path() / "notify.sock");
  netd_->NotifySocket(systemd.path());
  // The bridges start from nothing: netd makes them again and installs every flow.
  for (const char* bridge : {"br-secure", "br-service", "br-datain"}) {
    ovs_->Vsctl({"--if-exists", "del-br", bridge});
  }
  netd_->Start();
  ASSERT_TRUE(systemd.Hears("READY=1", 10s)) << netd_->Log();
  for (const char* bridge : {"br-secure", "br-service", "br-datain"}) {
    auto flows = ovs_->Ofctl({"-O", "OpenFlow13", "--no-stats", "dump-flows", bridge});
    ASSERT_TRUE(flows.ok()) << bridge << ": " << flows.err;
    EXPECT_THAT(flows.out, ::testing::HasSubstr("priority=0 actions=drop")) << bridge;
  }
}

}  // namespace
}  // namespace netd
