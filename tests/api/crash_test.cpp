// kill -9 at arbitrary moments: every acknowledged binding survives, no address is duplicated
// and the audit chain stays intact.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <random>
#include <set>
#include <thread>

#include "netd/lab/temp_dir.hpp"
#include "netd/testing/netd_process.hpp"
#include "netd/testing/raw_http.hpp"

namespace netd::testing {
namespace {

TEST(NetdCrash, AcknowledgedBindingsSurviveKill9) {
  lab::TempDir dir("api");
  NetdProcess netd(dir.path());
  std::set<std::string> acknowledged;
  std::mt19937 random(12345);
  int next_vm = 0;
  for (int round = 0; round < 5; ++round) {
    netd.Start();
    std::atomic<bool> killed = false;
    auto delay = std::chrono::milliseconds(std::uniform_int_distribution<int>(50, 300)(random));
    std::thread killer([&] {
      std::this_thread::sleep_for(delay);
      killed = true;
      netd.Signal(SIGKILL);
    });
    while (!killed) {
      auto vm = "crash" + std::to_string(next_vm++);
      auto answer = Request(netd.socket(), "PUT", "/v1/vms/" + vm, R"({"network":"secure"})");
      if (answer.status == 201) acknowledged.insert(vm);
    }
    killer.join();
    netd.Kill();  // reaps the killed process
  }
  netd.Start();
  auto vms = Request(netd.socket(), "GET", "/v1/vms").Json()["vms"];
  std::set<std::string> present, ips, macs;
  for (const auto& vm : vms) {
    present.insert(vm["vm"].get<std::string>());
    EXPECT_TRUE(ips.insert(vm["ip"].get<std::string>()).second) << vm.dump();
    EXPECT_TRUE(macs.insert(vm["mac"].get<std::string>()).second) << vm.dump();
  }
  ASSERT_GT(acknowledged.size(), 0u);
  for (const auto& vm : acknowledged) EXPECT_TRUE(present.contains(vm)) << vm << " was lost";
  auto verify = Request(netd.socket(), "GET", "/v1/audit/verify").Json();
  EXPECT_EQ(verify["ok"], true) << verify.dump();
  // Every binding has its audit record (a commit holds both or neither).
  EXPECT_GE(verify["length"].get<std::size_t>(), present.size());
}

}  // namespace
}  // namespace netd::testing
