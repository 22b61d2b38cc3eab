#pragma once

// The gateway end to end, shared by the kernel tests of the firewall: a real netd in a gateway
// namespace programs `inet ticrypt`; VM namespaces on Linux bridges named like the enclave's
// bridges send real packets to an outside namespace. Addresses: the demo configuration's VM
// networks and TEST-NET ranges, all inside the test's namespaces.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>

#include "netd/lab/guard.hpp"
#include "netd/lab/namespace.hpp"
#include "netd/lab/temp_dir.hpp"
#include "netd/testing/netd_process.hpp"
#include "netd/testing/raw_http.hpp"
#include "netd/testing/within.hpp"

namespace netd::gateway_test {

using testing::Within;

using namespace std::chrono_literals;
using lab::Namespace;
using lab::Process;
using nlohmann::json;
using testing::NetdProcess;
using testing::Request;

inline constexpr const char* kGatewayOutside = "198.51.100.1";
inline constexpr const char* kServer = "198.51.100.2";
inline constexpr const char* kFarServer = "203.0.113.5";  // routed behind the outside namespace

struct Vm {
  std::string id;
  std::string ip;
  std::string mac;
  std::unique_ptr<Namespace> ns;
};

// Drops what differs between two dumps of the same table: handles and the metainfo header.
inline json Normalized(json dump) {
  json out = json::array();
  for (auto& item : dump["nftables"]) {
    if (item.contains("metainfo")) continue;
    for (auto& [kind, object] : item.items()) object.erase("handle");
    out.push_back(item);
  }
  return out;
}

// tools/udp_flood.py's receiver in a namespace: what reached it, by port.
class UdpReceiver {
 public:
  UdpReceiver(const Namespace& ns, const std::filesystem::path& tool,
              const std::filesystem::path& output, const std::vector<int>& ports)
      : output_(output) {
    std::vector<std::string> argv = {"python3", tool.string(), "receive"};
    for (int port : ports) argv.push_back(std::to_string(port));
    lab::StartOptions options;
    options.output = output;
    process_ = ns.Start(argv, options);
    if (!Within(5s, [&] { return Counts().contains(-1); })) {
      throw std::runtime_error("the UDP receiver did not start");
    }
  }

  std::size_t Count(int port) const {
    auto counts = Counts();
    return counts.contains(port) ? counts[port] : 0;
  }

 private:
  // Datagrams by port; -1 counts the receiver's "ready".
  std::map<int, std::size_t> Counts() const {
    std::map<int, std::size_t> counts;
    std::ifstream file(output_);
    for (std::string line; std::getline(file, line);) {
      ++counts[line == "ready" ? -1 : std::stoi(line.substr(0, line.find(' ')))];
    }
    return counts;
  }

  std::filesystem::path output_;
  Process process_;
};

class GatewayFirewallTest : public ::testing::Test {
 protected:
  void SetUp() override {
    NETD_REQUIRE_ROOT_OR_SKIP();
    gateway_.emplace("gw");
    outside_.emplace("outside");
    temp_.emplace("firewall");
    // No IPv4 forwarding: netd turns it on for its interfaces once its table is in place.
    for (const auto& [bridge, address] :
         std::vector<std::pair<std::string, std::string>>{{"br-secure", "192.168.128.1/17"},
                                                          {"br-service", "192.168.122.1/24"},
                                                          {"br-datain", "192.168.123.1/24"}}) {
      gateway_->RunChecked({"ip", "link", "add", bridge, "type", "bridge"});
      gateway_->SetLinkUp(bridge);
      gateway_->AddAddress(bridge, address);
    }
    lab::CreateVethPair(*gateway_, "ext0", *outside_, "eth0");
    gateway_->AddAddress("ext0", std::string(kGatewayOutside) + "/24");
    outside_->AddAddress("eth0", std::string(kServer) + "/24");
    outside_->AddAddress("eth0", std::string(kFarServer) + "/24");
    gateway_->AddRoute("203.0.113.0/24", kServer);
    // Foreign tables netd must never touch: one of nft's, one of iptables-nft.
    gateway_->RunChecked({"nft",
                          "add table inet filter; add chain inet filter input { type "
                          "filter hook input priority 10; policy accept; }; add rule inet "
                          "filter input tcp dport 9 counter accept"});
    gateway_->RunChecked({"iptables", "-A", "INPUT", "-p", "tcp", "--dport", "9", "-j", "ACCEPT"});
    foreign_before_ = ForeignTable();

    for (int port : {443, 444, 1717, 8080, 27005, 27011}) {
      processes_.push_back(
          outside_->Start({"socat", "TCP-LISTEN:" + std::to_string(port) + ",fork,reuseaddr",
                           "SYSTEM:echo $SOCAT_PEERADDR"}));
    }
    processes_.push_back(
        outside_->Start({"socat", "UDP-RECVFROM:1717,fork,reuseaddr", "SYSTEM:echo pong"}));
    for (int port : {443, 444, 1717, 8080, 27005, 27011}) {
      auto deadline = std::chrono::steady_clock::now() + 5s;
      while (!Peer(*outside_, kServer, port) && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(20ms);
      }
    }

    StartNetd(temp_->path(), {});
  }

  // netd on `dir` with the demo configuration, told the forwards' address, and `edit`.
  void StartNetd(const std::filesystem::path& dir, const testing::NetdProcess::ConfigEdit& edit) {
    netd_.emplace(dir, [edit](std::string config) {
      config = testing::Replace(std::move(config), "forward_ports = \"6000-6100\"",
                                "forward_ports = \"6000-6100\"\nforward_address = \"" +
                                    std::string(kGatewayOutside) + "\"");
      return edit ? edit(std::move(config)) : config;
    });
    netd_->RunInNamespace(gateway_->name());
    netd_->Start();
  }

  // netd again on the same state, with gateway.table_mode = `mode`.
  void RestartWithTableMode(const std::string& mode) {
    ASSERT_EQ(netd_->Stop(), 0);
    netd_.reset();
    StartNetd(temp_->path(), [mode](std::string config) {
      return testing::Replace(std::move(config), "external_interface = \"ext0\"",
                              "external_interface = \"ext0\"\ntable_mode = \"" + mode + "\"");
    });
  }

  void TearDown() override {
    if (gateway_ && !HasFatalFailure() && !IsSkipped() && !foreign_tables_flushed_) {
      EXPECT_EQ(ForeignTable(), foreign_before_) << "netd changed a table it does not own";
    }
  }

  std::string ForeignTable() const {
    return gateway_->RunChecked({"nft", "list", "table", "inet", "filter"}).out +
           gateway_->RunChecked({"nft", "list", "table", "ip", "filter"}).out;
  }

  json Drift() { return Api("GET", "/v1/status").Json()["drift"]; }

  std::size_t ChainRules(const std::string& chain) const {
    auto listed = gateway_->Run({"nft", "-j", "list", "chain", "inet", "ticrypt", chain});
    if (!listed.ok()) return 0;
    auto dump = json::parse(listed.out);
    std::size_t rules = 0;
    for (const auto& item : dump["nftables"]) rules += item.contains("rule");
    return rules;
  }

  testing::HttpAnswer Api(const std::string& method, const std::string& target,
                          const json& body = nullptr) {
    return Request(netd_->socket(), method, target, body.is_null() ? "" : body.dump());
  }

  // A VM namespace on the network's bridge with `mac`; no address.
  Vm PlugVm(const std::string& id, const std::string& network, const std::string& mac) {
    Vm vm{id, "", mac, std::make_unique<Namespace>(id)};
    auto port = "p-" + id;
    lab::CreateVethPair(*gateway_, port, *vm.ns, "eth0");
    gateway_->RunChecked({"ip", "link", "set", port, "master", "br-" + network});
    vm.ns->RunChecked({"ip", "link", "set", "eth0", "address", vm.mac});
    return vm;
  }

  // Binds a VM through the API and builds its namespace with the MAC and IP netd allocated.
  Vm AddVm(const std::string& id, const std::string& network) {
    auto answer = Api("PUT", "/v1/vms/" + id, {{"network", network}});
    EXPECT_EQ(answer.status, 201) << answer.body;
    auto body = answer.Json();
    auto vm = PlugVm(id, network, body["mac"]);
    vm.ip = body["ip"];
    auto prefix = network == "secure" ? "/17" : "/24";
    vm.ns->AddAddress("eth0", vm.ip + prefix);
    auto gateway = network == "secure"    ? "192.168.128.1"
                   : network == "service" ? "192.168.122.1"
                                          : "192.168.123.1";
    vm.ns->AddRoute("default", gateway);
    return vm;
  }

  // What a TCP server at destination:port says our address is; nullopt if no connection.
  static std::optional<std::string> Peer(const Namespace& from, const std::string& destination,
                                         int port) {
    // -T: a connection whose answer never comes fails in seconds instead of hanging.
    auto result = from.Run(
        {"socat", "-u", "-T3",
         "TCP:" + destination + ":" + std::to_string(port) + ",connect-timeout=1", "STDOUT"});
    if (!result.ok() || result.out.empty()) return std::nullopt;
    return result.out.substr(0, result.out.find('\n'));
  }

  // After its stdin ends socat waits -t seconds for the answer (0.5 s by default): the server
  // forks a shell to reply, which can take longer on a loaded machine.
  static bool UdpEchoes(const Namespace& from, const std::string& destination, int port) {
    auto result =
        from.Run({"bash", "-c",
                  "echo ping | socat -t3 -T3 - UDP:" + destination + ":" + std::to_string(port)});
    return result.out.find("pong") != std::string::npos;
  }

  std::uint64_t Counter(const std::string& name) const {
    auto dump = json::parse(
        gateway_->RunChecked({"nft", "-j", "list", "counter", "inet", "ticrypt", name}).out);
    for (const auto& item : dump["nftables"]) {
      if (item.contains("counter")) return item["counter"]["packets"].get<std::uint64_t>();
    }
    return 0;
  }

  // `kind`: "set" or "map".
  json SetElements(const std::string& set, const std::string& kind = "set") const {
    auto dump =
        json::parse(gateway_->RunChecked({"nft", "-j", "list", kind, "inet", "ticrypt", set}).out);
    for (const auto& item : dump["nftables"]) {
      if (item.contains(kind)) return item[kind].value("elem", json::array());
    }
    return json::array();
  }

  void PutRule(const std::string& name, const json& rule) {
    auto answer = Api("PUT", "/v1/allowlist/" + name, rule);
    ASSERT_TRUE(answer.status == 200 || answer.status == 201) << answer.body;
  }

  std::optional<Namespace> gateway_;
  std::optional<Namespace> outside_;
  std::optional<lab::TempDir> temp_;
  std::optional<NetdProcess> netd_;
  std::vector<Process> processes_;
  std::string foreign_before_;
  bool foreign_tables_flushed_ = false;  // the test ran `nft flush ruleset` itself
};

}  // namespace netd::gateway_test
