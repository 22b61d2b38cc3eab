#include "netd/dhcp/dnsmasq_supervisor.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <csignal>
#include <fstream>
#include <iterator>

#include "netd/testing/fake_clock.hpp"
#include "fake_process_spawner.hpp"
#include "netd/lab/temp_dir.hpp"
#include "test_networks.hpp"

namespace netd::dhcp {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

using testing::Ip;

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream file(path);
  return std::string(std::istreambuf_iterator<char>(file), {});
}

class DnsmasqSupervisorTest : public ::testing::Test {
 protected:
  DnsmasqSupervisorOptions Options() const {
    DnsmasqSupervisorOptions options;
    options.networks.push_back(testing::SecureNetwork());
    options.run_dir = dir_.path();
    options.state_dir = dir_.path();
    return options;
  }

  void Bind(const char* ip) {
    reservations_.push_back({MacAddress::ForVmAddress(Ip(ip)), Ip(ip), std::nullopt});
  }

  // The last dnsmasq dies; the supervisor restarts it after exactly `delay`.
  void ExpectRestartAfter(std::chrono::milliseconds delay) {
    auto spawned = spawner_.children.size();
    spawner_.EndLast({std::nullopt, SIGKILL});
    EXPECT_EQ(supervisor_.state(), "restarting");
    clock_.Advance(delay - 1ms);
    EXPECT_EQ(spawner_.children.size(), spawned) << "restarted before " << delay.count() << " ms";
    clock_.Advance(1ms);
    EXPECT_EQ(spawner_.children.size(), spawned + 1)
        << "not restarted after " << delay.count() << " ms";
    EXPECT_EQ(supervisor_.state(), "running");
  }

  lab::TempDir dir_{"dnsmasq-sup"};
  testing::FakeProcessSpawner spawner_;
  netd::testing::FakeClock clock_;
  std::vector<Reservation> reservations_;
  DnsmasqSupervisor supervisor_{Options(), spawner_, clock_, [this] { return reservations_; }};
};

TEST_F(DnsmasqSupervisorTest, ChecksTheConfigurationThenRunsDnsmasqInTheForeground) {
  Bind("192.168.129.1");
  supervisor_.Start();
  auto conf = "--conf-file=" + (dir_.path() / "dnsmasq.conf").string();
  ASSERT_EQ(spawner_.runs.size(), 1u);
  EXPECT_THAT(spawner_.runs[0].argv, ElementsAre("dnsmasq", "--test", conf));
  ASSERT_EQ(spawner_.children.size(), 1u);
  EXPECT_THAT(spawner_.children[0]->command.argv,
              ElementsAre("dnsmasq", "--keep-in-foreground", "--log-facility=-", conf));
  EXPECT_EQ(spawner_.children[0]->command.output, dir_.path() / "dnsmasq.log");
  EXPECT_THAT(ReadFile(dir_.path() / "dnsmasq.conf"), HasSubstr("\ninterface=br-secure\n"));
  EXPECT_EQ(ReadFile(dir_.path() / "dnsmasq.hosts"), "52:54:c0:a8:81:01,192.168.129.1\n");
  EXPECT_EQ(supervisor_.state(), "running");
  EXPECT_EQ(supervisor_.counters().starts, 1u);
  EXPECT_EQ(supervisor_.last_error(), "");
}

TEST_F(DnsmasqSupervisorTest, AConfigurationDnsmasqRefusesIsReportedInItsWords) {
  spawner_.FailNextRun("dnsmasq: bad option at line 3 of dnsmasq.conf");
  EXPECT_THROW(supervisor_.Start(), std::runtime_error);
  EXPECT_TRUE(spawner_.children.empty());
  EXPECT_EQ(supervisor_.state(), "refused");
  EXPECT_EQ(supervisor_.last_error(), "dnsmasq refuses the configuration " +
                                          (dir_.path() / "dnsmasq.conf").string() +
                                          ": dnsmasq: bad option at line 3 of dnsmasq.conf");
  EXPECT_EQ(supervisor_.counters().starts, 0u);
}

TEST_F(DnsmasqSupervisorTest, ADyingDnsmasqIsRestartedWithBackoffUpTo30Seconds) {
  supervisor_.Start();
  std::ofstream(dir_.path() / "dnsmasq.log") << "dnsmasq: started\ndnsmasq: failed\n";
  spawner_.EndLast({std::nullopt, SIGSEGV});
  EXPECT_EQ(supervisor_.last_error(),
            "dnsmasq ended (signal 11): dnsmasq: started\ndnsmasq: failed");
  clock_.Advance(1s);
  for (auto delay : {2s, 4s, 8s, 16s, 30s, 30s}) ExpectRestartAfter(delay);
  EXPECT_EQ(supervisor_.counters().starts, 8u);
  EXPECT_EQ(supervisor_.counters().restarts, 7u);
}

TEST_F(DnsmasqSupervisorTest, ALongRunStartsTheBackoffOver) {
  supervisor_.Start();
  ExpectRestartAfter(1s);
  ExpectRestartAfter(2s);
  clock_.Advance(10s + 1ms);
  ExpectRestartAfter(1s);
}

TEST_F(DnsmasqSupervisorTest, AnExitStatusIsReportedAsSuch) {
  supervisor_.Start();
  spawner_.EndLast({2, 0});
  EXPECT_THAT(supervisor_.last_error(), HasSubstr("dnsmasq ended (exit status 2)"));
}

TEST_F(DnsmasqSupervisorTest, ABurstOfReservationChangesCostsOneReload) {
  supervisor_.Start();
  for (int host = 1; host <= 100; ++host) {
    Bind(("192.168.129." + std::to_string(host)).c_str());
    supervisor_.ReservationsChanged();
  }
  clock_.Advance(49ms);
  EXPECT_TRUE(spawner_.children[0]->signals.empty());
  clock_.Advance(1ms);
  EXPECT_THAT(spawner_.children[0]->signals, ElementsAre(SIGHUP));
  EXPECT_EQ(supervisor_.counters().reloads, 1u);
  EXPECT_THAT(ReadFile(dir_.path() / "dnsmasq.hosts"),
              HasSubstr("52:54:c0:a8:81:64,192.168.129.100\n"));

  supervisor_.ReservationsChanged();
  clock_.Advance(50ms);
  EXPECT_THAT(spawner_.children[0]->signals, ElementsAre(SIGHUP, SIGHUP));
  EXPECT_EQ(supervisor_.counters().reloads, 2u);
}

TEST_F(DnsmasqSupervisorTest, ADnsmasqBeingRestartedReadsTheReservationsWhenItStarts) {
  supervisor_.Start();
  spawner_.EndLast({std::nullopt, SIGKILL});
  Bind("192.168.129.9");
  supervisor_.ReservationsChanged();
  clock_.Advance(50ms);
  EXPECT_EQ(supervisor_.counters().reloads, 0u);
  EXPECT_EQ(ReadFile(dir_.path() / "dnsmasq.hosts"), "52:54:c0:a8:81:09,192.168.129.9\n");
  clock_.Advance(1s);
  EXPECT_EQ(supervisor_.state(), "running");
}

TEST_F(DnsmasqSupervisorTest, StopEndsDnsmasqAndNothingRestartsIt) {
  supervisor_.Start();
  supervisor_.ReservationsChanged();
  supervisor_.Stop();
  EXPECT_TRUE(spawner_.children[0]->ended_by_owner);
  EXPECT_EQ(supervisor_.state(), "stopped");
  EXPECT_EQ(clock_.pending(), 0u);
}

TEST_F(DnsmasqSupervisorTest, StopDuringTheBackoffCancelsTheRestart) {
  supervisor_.Start();
  spawner_.EndLast({std::nullopt, SIGKILL});
  supervisor_.Stop();
  clock_.Advance(1min);
  EXPECT_EQ(spawner_.children.size(), 1u);
  EXPECT_EQ(supervisor_.state(), "stopped");
}

TEST_F(DnsmasqSupervisorTest, LeasesAreReadFromTheStateDirectory) {
  std::ofstream(dir_.path() / "dnsmasq.leases") << "0 52:54:c0:a8:81:01 192.168.129.1 * *\n";
  ASSERT_EQ(supervisor_.Leases().size(), 1u);
  EXPECT_EQ(supervisor_.Leases()[0].ip, Ip("192.168.129.1"));
}

}  // namespace
}  // namespace netd::dhcp
