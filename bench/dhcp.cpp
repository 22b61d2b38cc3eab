// bench/dhcp: 1,000 binds through netd's API with its dnsmasq running, until dnsmasq has all
// 1,000 reservations; how many reloads that took; then DHCP DORA (busybox udhcpc, discover to
// ack) for 200 of those VMs, one after another, from a VM namespace on the gateway's bridge.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "netd/lab/namespace.hpp"
#include "netd/lab/temp_dir.hpp"
#include "netd/testing/netd_process.hpp"
#include "netd/testing/raw_http.hpp"
#include "support.hpp"

namespace {

using netd::bench::Percentile;
using Clock = std::chrono::steady_clock;
using nlohmann::json;
using namespace std::chrono_literals;

constexpr int kVms = 1000;
constexpr int kClients = 200;

[[noreturn]] void Fail(const std::string& what) {
  fmt::print(stderr, "bench/dhcp: {}\n", what);
  std::exit(1);
}

long Lines(const std::filesystem::path& path) {
  std::ifstream file(path);
  return std::count(std::istreambuf_iterator<char>(file), {}, '\n');
}

}  // namespace

int main() {
  netd::lab::Namespace gateway("bdhcp-gw");
  netd::lab::Namespace vm("bdhcp-vm");
  netd::lab::TempDir dir("bdhcp");
  gateway.RunChecked({"ip", "link", "add", "br-secure", "type", "bridge"});
  gateway.SetLinkUp("br-secure");
  gateway.AddAddress("br-secure", "192.168.128.1/17");
  netd::lab::CreateVethPair(gateway, "p-vm", vm, "eth0");
  gateway.RunChecked({"ip", "link", "set", "p-vm", "master", "br-secure"});

  netd::testing::NetdProcess netd(dir.path());
  netd.RunInNamespace(gateway.name());
  netd.Start();
  auto hosts = dir.path() / "run" / "dnsmasq.hosts";

  fmt::print("bench/dhcp: {} binds with dnsmasq running, then DORA for {} clients\n", kVms,
             kClients);
  std::vector<json> bindings;
  auto started = Clock::now();
  {
    netd::testing::RawConnection connection(netd.socket());
    for (int i = 0; i < kVms; ++i) {
      std::string body = R"({"network":"secure"})";
      connection.Send(
          fmt::format("PUT /v1/vms/dhcp-{} HTTP/1.1\r\nHost: netd\r\nContent-Length: {}\r\n\r\n{}",
                      i, body.size(), body));
      auto answer = connection.Receive();
      if (answer.status != 201) Fail(fmt::format("bind {}: {} {}", i, answer.status, answer.body));
      bindings.push_back(answer.Json());
    }
  }
  auto bound_ms = std::chrono::duration<double, std::milli>(Clock::now() - started).count();
  while (Lines(hosts) < kVms) {
    if (Clock::now() - started > 60s) Fail("the hosts file never held every reservation");
    std::this_thread::sleep_for(1ms);
  }
  auto served_ms = std::chrono::duration<double, std::milli>(Clock::now() - started).count();
  std::this_thread::sleep_for(200ms);
  auto status = netd::testing::Request(netd.socket(), "GET", "/v1/status").Json();
  auto reloads = status["dhcp"]["reloads"].get<int>();
  if (status["dhcp"]["state"] != "running") Fail("dnsmasq is not running: " + status.dump());
  fmt::print(
      "  {} binds answered in {:.0f} ms; all reservations in dnsmasq after {:.0f} ms, "
      "{} reloads\n",
      kVms, bound_ms, served_ms, reloads);

  auto script = dir.path() / "udhcpc.sh";
  std::ofstream(script) << "#!/bin/sh\nexit 0\n";
  std::filesystem::permissions(script, std::filesystem::perms::owner_all);
  std::vector<double> dora_ms;
  for (int i = 0; i < kClients; ++i) {
    const auto& binding = bindings[static_cast<std::size_t>(i * (kVms / kClients))];
    vm.RunChecked({"ip", "link", "set", "eth0", "down"});
    vm.RunChecked({"ip", "link", "set", "eth0", "address", binding["mac"].get<std::string>()});
    vm.SetLinkUp("eth0");
    auto before = Clock::now();
    auto result = vm.Run({"busybox", "udhcpc", "-i", "eth0", "-q", "-f", "-n", "-t", "5", "-T", "1",
                          "-s", script.string()});
    dora_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - before).count());
    auto expected = fmt::format("lease of {} obtained", binding["ip"].get<std::string>());
    if (!result.ok() || result.err.find(expected) == std::string::npos) {
      Fail(fmt::format("client {} ({}) got no lease: {}", i, binding["mac"].get<std::string>(),
                       result.err));
    }
  }
  double p50 = Percentile(dora_ms, 0.5);
  double p99 = Percentile(dora_ms, 0.99);
  fmt::print("  DORA (udhcpc start to exit): p50 {:.1f} ms, p99 {:.1f} ms\n", p50, p99);
  fmt::print("BENCH dhcp binds_answered {:.0f} ms\n", bound_ms);
  fmt::print("BENCH dhcp reservations_served {:.0f} ms\n", served_ms);
  fmt::print("BENCH dhcp reloads {} count\n", reloads);
  fmt::print("BENCH dhcp dora_p50 {:.1f} ms\n", p50);
  fmt::print("BENCH dhcp dora_p99 {:.1f} ms\n", p99);
  return 0;
}
