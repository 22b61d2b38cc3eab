// bench/api: binding latency and throughput of the control API with durable commits, and
// netd's resident memory with 30,000 bound VMs. One client, one keep-alive connection,
// sequential requests: every request's latency includes its SQLite commit (synchronous=FULL).
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <string>
#include <vector>

#include "netd/lab/temp_dir.hpp"
#include "netd/testing/netd_process.hpp"
#include "netd/testing/raw_http.hpp"
#include "support.hpp"

namespace {

using netd::bench::Percentile;
using netd::bench::RssKib;
using Clock = std::chrono::steady_clock;

}  // namespace

int main(int argc, char** argv) {
  int measured = argc > 1 ? std::stoi(argv[1]) : 10'000;
  int total = argc > 2 ? std::stoi(argv[2]) : 30'000;
  netd::lab::TempDir dir("bench");
  netd::testing::NetdProcess netd(dir.path());
  netd.Start();
  netd::testing::RawConnection connection(netd.socket());
  auto bind = [&](int index) {
    std::string body = R"({"network":"secure"})";
    connection.Send(
        fmt::format("PUT /v1/vms/bench-{} HTTP/1.1\r\nHost: netd\r\nContent-Length: {}\r\n\r\n{}",
                    index, body.size(), body));
    auto answer = connection.Receive();
    if (answer.status != 201) {
      fmt::print(stderr, "bind {} failed: {} {}\n", index, answer.status, answer.body);
      std::exit(1);
    }
  };

  fmt::print("bench/api: {} sequential PUT /v1/vms on one connection, then up to {} VMs\n",
             measured, total);
  std::vector<double> latencies_ms;
  latencies_ms.reserve(static_cast<std::size_t>(measured));
  auto started = Clock::now();
  for (int i = 0; i < measured; ++i) {
    auto before = Clock::now();
    bind(i);
    latencies_ms.push_back(
        std::chrono::duration<double, std::milli>(Clock::now() - before).count());
    if ((i + 1) % 2000 == 0) fmt::print("  {} bound\n", i + 1);
  }
  double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  for (int i = measured; i < total; ++i) {
    bind(i);
    if ((i + 1) % 5000 == 0) fmt::print("  {} bound\n", i + 1);
  }
  auto status = netd::testing::Request(netd.socket(), "GET", "/v1/status").Json();
  long rss = RssKib(netd.pid());

  double p50 = Percentile(latencies_ms, 0.50);
  double p99 = Percentile(latencies_ms, 0.99);
  double rss_mib = static_cast<double>(rss) / 1024.0;
  fmt::print("bound VMs reported by netd: {}\n", status["vms"]["total"].get<int>());
  fmt::print("targets: p99 <= 5 ms (durable commits), RSS <= 64 MiB at {} VMs\n", total);
  fmt::print("BENCH api bind_p50 {:.3f} ms\n", p50);
  fmt::print("BENCH api bind_p99 {:.3f} ms\n", p99);
  fmt::print("TARGET api bind_p99 <= 5\n");
  fmt::print("BENCH api bind_throughput {:.0f} req/s\n", measured / seconds);
  fmt::print("BENCH api rss_at_{}_vms {:.1f} MiB\n", total, rss_mib);
  fmt::print("TARGET api rss_at_{}_vms <= 64\n", total);
  fmt::print("BENCH api p99_vs_target {:.2f} x\n", p99 / 5.0);
  fmt::print("BENCH api rss_vs_target {:.2f} x\n", rss_mib / 64.0);
  return 0;
}
