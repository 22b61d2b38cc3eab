#include "netd/dhcp/dnsmasq_supervisor.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <csignal>
#include <fstream>
#include <iterator>
#include <random>
#include <stdexcept>
#include <system_error>

#include "netd/dhcp/dhcp_release.hpp"
#include "pidfd.hpp"
#include "unique_fd.hpp"

namespace netd::dhcp {
namespace {

constexpr std::chrono::milliseconds kReloadDelay{50};
constexpr std::chrono::seconds kMaxBackoff{30};
// A dnsmasq that ran this long before dying starts the backoff over.
constexpr std::chrono::seconds kStableRun{10};

std::string ReadWholeFile(const std::filesystem::path& path) {
  std::ifstream file(path);
  return std::string(std::istreambuf_iterator<char>(file), {});
}

void TrimTrailingNewlines(std::string& text) {
  while (!text.empty() && text.back() == '\n') text.pop_back();
}

// Ends a dnsmasq that a killed netd left running on this configuration: dnsmasq drops its
// privileges, which clears any parent-death signal, so it outlives a netd killed with SIGKILL
// (under systemd the unit's cgroup ends it). It is found through its pid file and recognised by
// its command line, so an unrelated process that reused the pid is left alone.
void EndLeftoverDnsmasq(const std::filesystem::path& pid_file,
                        const std::filesystem::path& config_file) {
  pid_t pid = 0;
  if (!(std::ifstream(pid_file) >> pid) || pid <= 0) return;
  auto cmdline = ReadWholeFile("/proc/" + std::to_string(pid) + "/cmdline");
  if (cmdline.find("--conf-file=" + config_file.string() + '\0') == std::string::npos) return;
  UniqueFd pidfd(OpenPidfd(pid));
  if (pidfd.get() < 0) return;
  spdlog::warn("dhcp: ending dnsmasq pid={} left running by an earlier netd", pid);
  EndThroughPidfd(pid, pidfd.get());
}

}  // namespace

DnsmasqSupervisor::DnsmasqSupervisor(DnsmasqSupervisorOptions options, ProcessSpawner& spawner,
                                     Clock& clock, ReservationSource reservations)
    : options_(std::move(options)),
      spawner_(spawner),
      clock_(clock),
      reservations_(std::move(reservations)),
      config_file_(options_.run_dir / "dnsmasq.conf"),
      hosts_file_(options_.run_dir / "dnsmasq.hosts"),
      lease_file_(options_.state_dir / "dnsmasq.leases"),
      pid_file_(options_.run_dir / "dnsmasq.pid"),
      log_file_(options_.run_dir / "dnsmasq.log"),
      reload_timer_(clock.MakeTimer()),
      restart_timer_(clock.MakeTimer()) {}

DnsmasqSupervisor::~DnsmasqSupervisor() {
  Stop();
}

void DnsmasqSupervisor::Start() {
  DnsmasqSettings settings;
  settings.networks = options_.networks;
  settings.hosts_file = hosts_file_;
  settings.lease_file = lease_file_;
  settings.pid_file = pid_file_;
  settings.lease_time = options_.lease_time;
  WriteFileAtomically(config_file_, RenderDnsmasqConfig(settings));
  WriteReservations();

  auto check_log = options_.run_dir / "dnsmasq-test.log";
  std::filesystem::remove(check_log);
  auto check =
      spawner_.Run({{"dnsmasq", "--test", "--conf-file=" + config_file_.string()}, check_log});
  if (!check.succeeded()) {
    auto words = ReadWholeFile(check_log);
    TrimTrailingNewlines(words);
    last_error_ =
        fmt::format("dnsmasq refuses the configuration {}: {}", config_file_.string(), words);
    refused_ = true;
    throw std::runtime_error(last_error_);
  }
  EndLeftoverDnsmasq(pid_file_, config_file_);
  Spawn();
}

void DnsmasqSupervisor::WriteReservations() {
  WriteFileAtomically(hosts_file_, RenderHostsFile(reservations_()));
}

void DnsmasqSupervisor::Spawn() {
  stopping_ = false;
  dnsmasq_ = spawner_.Spawn({{"dnsmasq", "--keep-in-foreground", "--log-facility=-",
                              "--conf-file=" + config_file_.string()},
                             log_file_},
                            [this](const ProcessExit& exit) { OnExit(exit); });
  started_at_ = clock_.Now();
  ++counters_.starts;
  spdlog::info("dhcp: dnsmasq started: pid={} config={}", dnsmasq_->pid(), config_file_.string());
}

std::string DnsmasqSupervisor::LogTail() const {
  auto text = ReadWholeFile(log_file_);
  if (text.size() > 400) text = text.substr(text.size() - 400);
  TrimTrailingNewlines(text);
  return text;
}

void DnsmasqSupervisor::OnExit(const ProcessExit& exit) {
  dnsmasq_.reset();
  if (stopping_) return;
  last_error_ = fmt::format("dnsmasq ended ({}): {}", exit.Describe(), LogTail());
  if (clock_.Now() - started_at_ > kStableRun) backoff_ = std::chrono::seconds(1);
  spdlog::error("dhcp: {}; restarting in {} s", last_error_, backoff_.count());
  restart_timer_->Start(backoff_, [this] {
    if (stopping_) return;
    try {
      WriteReservations();
      Spawn();
      ++counters_.restarts;
    } catch (const std::exception& failure) {
      spdlog::error("dhcp: cannot restart dnsmasq: {}", failure.what());
    }
  });
  backoff_ = std::min(backoff_ * 2, kMaxBackoff);
}

void DnsmasqSupervisor::ReservationsChanged() {
  if (reload_pending_) return;
  reload_pending_ = true;
  reload_timer_->Start(kReloadDelay, [this] {
    reload_pending_ = false;
    try {
      WriteReservations();
    } catch (const std::exception& failure) {
      spdlog::error("dhcp: cannot write the reservations: {}", failure.what());
      return;
    }
    // A dnsmasq being restarted reads the file when it starts.
    if (dnsmasq_ && dnsmasq_->Signal(SIGHUP)) ++counters_.reloads;
  });
}

void DnsmasqSupervisor::ReleaseLease(const VmBinding& binding) {
  auto network =
      std::find_if(options_.networks.begin(), options_.networks.end(),
                   [&](const DhcpNetwork& served) { return served.name == binding.network; });
  if (network == options_.networks.end() || !dnsmasq_) return;
  try {
    SendDhcpRelease(BuildDhcpRelease(binding.mac, binding.ip, network->gateway,
                                     static_cast<std::uint32_t>(std::random_device()())),
                    network->interface, network->gateway);
  } catch (const std::system_error& failure) {
    spdlog::error("dhcp: cannot release the lease of {}: {}", binding.vm, failure.what());
    return;
  }
  spdlog::info("dhcp: released the lease of {} ({} {})", binding.vm, binding.ip.ToString(),
               binding.mac.ToString());
}

void DnsmasqSupervisor::Stop() {
  stopping_ = true;
  reload_timer_->Cancel();
  reload_pending_ = false;
  restart_timer_->Cancel();
  if (!dnsmasq_) return;
  dnsmasq_.reset();  // SIGTERM, SIGKILL after 1 s
  spdlog::info("dhcp: dnsmasq stopped");
}

std::vector<Lease> DnsmasqSupervisor::Leases() const {
  return ReadLeaseFile(lease_file_);
}

std::string DnsmasqSupervisor::state() const {
  if (dnsmasq_) return "running";
  if (refused_) return "refused";
  return stopping_ ? "stopped" : "restarting";
}

}  // namespace netd::dhcp
