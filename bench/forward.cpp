// bench/forward: a kernel port forward (nft DNAT, pinned to the client) against the same path
// routed directly (no netd table, no DNAT) and against a userspace proxy (socat) on the
// gateway. iperf3 throughput from the client namespace to the VM, and new TCP connections per
// second. Namespaces: client (198.51.100.2) -- ext0 -- gateway -- br-secure -- VM, on veth
// pairs with the kernel's default offloads, as a gateway's NICs have them.
#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "netd/lab/namespace.hpp"
#include "netd/lab/temp_dir.hpp"
#include "netd/testing/netd_process.hpp"
#include "netd/testing/raw_http.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kGatewayOutside = "198.51.100.1";
constexpr const char* kClient = "198.51.100.2";
constexpr int kIperfSeconds = 5;
constexpr int kConnections = 20000;
constexpr int kConnectionRounds = 3;  // the median counts

[[noreturn]] void Fail(const std::string& what) {
  fmt::print(stderr, "bench/forward: {}\n", what);
  std::exit(1);
}

// Receiver throughput of an iperf3 run from the client to address:port, in Gbit/s.
double IperfGbits(const netd::lab::Namespace& client, const std::string& address, int port) {
  auto result =
      client.Run({"iperf3", "-c", address, "-p", std::to_string(port), "-t",
                  std::to_string(kIperfSeconds), "-J"},
                 netd::lab::RunOptions{.env = {},
                                       .inherit_environment = true,
                                       .timeout = std::chrono::seconds(kIperfSeconds + 30)});
  auto report = json::parse(result.out, nullptr, false);
  if (!result.ok() || report.is_discarded() || !report.contains("end")) {
    Fail(fmt::format("iperf3 to {}:{} failed: {}{}", address, port, result.out.substr(0, 300),
                     result.err));
  }
  return report["end"]["sum_received"]["bits_per_second"].get<double>() / 1e9;
}

// Accepts and closes connections on port 22 of the VM's namespace until stopped.
class AcceptLoop {
 public:
  explicit AcceptLoop(const netd::lab::Namespace& vm) {
    std::atomic<bool> ready{false};
    thread_ = std::thread([&, this] {
      netd::lab::NamespaceScope scope(vm);
      listener_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      int on = 1;
      setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
      sockaddr_in address{};
      address.sin_family = AF_INET;
      address.sin_port = htons(22);
      if (bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
          listen(listener_, 4096) != 0) {
        Fail("the VM's accept loop cannot listen on port 22");
      }
      ready = true;
      for (;;) {
        int connection = accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
        if (connection < 0) return;  // shut down
        close(connection);
      }
    });
    while (!ready) std::this_thread::sleep_for(1ms);
  }
  ~AcceptLoop() {
    shutdown(listener_, SHUT_RDWR);
    thread_.join();
    close(listener_);
  }

 private:
  int listener_ = -1;
  std::thread thread_;
};

// New TCP connections per second from the client namespace to address:port, one at a time.
double ConnectionsPerSecond(const netd::lab::Namespace& client, const std::string& address,
                            int port) {
  netd::lab::NamespaceScope scope(client);
  std::vector<double> rounds;
  sockaddr_in target{};
  target.sin_family = AF_INET;
  target.sin_port = htons(static_cast<std::uint16_t>(port));
  inet_pton(AF_INET, address.c_str(), &target.sin_addr);
  for (int round = 0; round < kConnectionRounds; ++round) {
    auto started = Clock::now();
    for (int i = 0; i < kConnections; ++i) {
      int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      // Closing with a reset leaves no TIME_WAIT behind to exhaust the client's ports.
      linger reset{1, 0};
      setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
      if (connect(fd, reinterpret_cast<sockaddr*>(&target), sizeof(target)) != 0) {
        Fail(fmt::format("connection {} to {}:{} failed: {}", i, address, port,
                         std::strerror(errno)));
      }
      close(fd);
    }
    rounds.push_back(kConnections / std::chrono::duration<double>(Clock::now() - started).count());
  }
  std::sort(rounds.begin(), rounds.end());
  return rounds[rounds.size() / 2];
}

}  // namespace

int main() {
  netd::lab::Namespace gateway("bfw-gw");
  netd::lab::Namespace client("bfw-client");
  netd::lab::Namespace vm("bfw-vm");
  netd::lab::TempDir dir("bfw");

  gateway.RunChecked({"sysctl", "-qw", "net.ipv4.ip_forward=1"});
  gateway.RunChecked({"ip", "link", "add", "br-secure", "type", "bridge"});
  gateway.SetLinkUp("br-secure");
  gateway.AddAddress("br-secure", "192.168.128.1/17");
  netd::lab::CreateVethPair(gateway, "ext0", client, "eth0", netd::lab::TxOffload::kKernelDefault);
  gateway.AddAddress("ext0", std::string(kGatewayOutside) + "/24");
  client.AddAddress("eth0", std::string(kClient) + "/24");
  client.AddRoute("192.168.128.0/17", kGatewayOutside);

  netd::testing::NetdProcess netd(dir.path(), [](std::string config) {
    return netd::testing::Replace(std::move(config), "forward_ports = \"6000-6100\"",
                                  "forward_ports = \"6000-6100\"\nforward_address = \"" +
                                      std::string(kGatewayOutside) + "\"");
  });
  netd.RunInNamespace(gateway.name());
  netd.Start();
  auto bound =
      netd::testing::Request(netd.socket(), "PUT", "/v1/vms/vm1", R"({"network":"secure"})");
  if (bound.status != 201) Fail("bind: " + bound.body);
  auto binding = bound.Json();
  std::string vm_ip = binding["ip"];
  netd::lab::CreateVethPair(gateway, "p-vm1", vm, "eth0", netd::lab::TxOffload::kKernelDefault);
  gateway.RunChecked({"ip", "link", "set", "p-vm1", "master", "br-secure"});
  vm.RunChecked({"ip", "link", "set", "eth0", "address", binding["mac"].get<std::string>()});
  vm.AddAddress("eth0", vm_ip + "/17");
  vm.AddRoute("default", "192.168.128.1");

  auto opened =
      netd::testing::Request(netd.socket(), "POST", "/v1/forwards",
                             json{{"vm", "vm1"}, {"client_ip", kClient}, {"ttl_s", 3600}}.dump());
  if (opened.status != 201) Fail("open forward: " + opened.body);
  int listen_port = opened.Json()["listen_port"];

  fmt::print(
      "bench/forward: iperf3 {} s per path; {} sequential connections per path, median of {}\n",
      kIperfSeconds, kConnections, kConnectionRounds);
  double forward_gbits = 0;
  double forward_cps = 0;
  {
    auto server = vm.Start({"iperf3", "-s", "-p", "22"});
    std::this_thread::sleep_for(300ms);
    forward_gbits = IperfGbits(client, kGatewayOutside, listen_port);
  }
  {
    AcceptLoop accept(vm);
    forward_cps = ConnectionsPerSecond(client, kGatewayOutside, listen_port);
  }
  fmt::print("  forward (nft DNAT):    {:.2f} Gbit/s, {:.0f} connections/s\n", forward_gbits,
             forward_cps);

  // The same path without netd's table: plain routing to the VM. The table and the route
  // guard's policy-routing rules outlive netd (they fail closed), so both go by hand.
  if (netd.Stop() != 0) Fail("netd did not stop cleanly");
  gateway.RunChecked({"nft", "delete", "table", "inet", "ticrypt"});
  for (int priority : {100, 101, 102}) {
    while (gateway.Run({"ip", "rule", "del", "priority", std::to_string(priority)}).ok()) {
    }
  }
  double direct_gbits = 0;
  double direct_cps = 0;
  double socat_gbits = 0;
  {
    auto server = vm.Start({"iperf3", "-s", "-p", "22"});
    std::this_thread::sleep_for(300ms);
    direct_gbits = IperfGbits(client, vm_ip, 22);
    // A userspace proxy on the gateway, as deployments without netd do it.
    auto proxy = gateway.Start(
        {"socat", "TCP-LISTEN:7000,bind=" + std::string(kGatewayOutside) + ",fork,reuseaddr",
         "TCP:" + vm_ip + ":22"});
    std::this_thread::sleep_for(300ms);
    socat_gbits = IperfGbits(client, kGatewayOutside, 7000);
  }
  {
    AcceptLoop accept(vm);
    direct_cps = ConnectionsPerSecond(client, vm_ip, 22);
  }
  fmt::print("  direct (routed):       {:.2f} Gbit/s, {:.0f} connections/s\n", direct_gbits,
             direct_cps);
  fmt::print("  socat on the gateway:  {:.2f} Gbit/s\n", socat_gbits);
  fmt::print("targets: forward >= 0.9x direct and >= 3x socat throughput; connections >= 0.8x\n");
  fmt::print("BENCH forward forward_throughput {:.2f} Gbit/s\n", forward_gbits);
  fmt::print("BENCH forward direct_throughput {:.2f} Gbit/s\n", direct_gbits);
  fmt::print("BENCH forward socat_throughput {:.2f} Gbit/s\n", socat_gbits);
  fmt::print("BENCH forward throughput_vs_direct {:.2f} x\n", forward_gbits / direct_gbits);
  fmt::print("TARGET forward throughput_vs_direct >= 0.9\n");
  fmt::print("BENCH forward throughput_vs_socat {:.2f} x\n", forward_gbits / socat_gbits);
  fmt::print("TARGET forward throughput_vs_socat >= 3\n");
  fmt::print("BENCH forward forward_connections {:.0f} conn/s\n", forward_cps);
  fmt::print("BENCH forward direct_connections {:.0f} conn/s\n", direct_cps);
  fmt::print("BENCH forward connections_vs_direct {:.2f} x\n", forward_cps / direct_cps);
  fmt::print("TARGET forward connections_vs_direct >= 0.8\n");
  return 0;
}
