#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "netd/common/clock.hpp"
#include "netd/dhcp/dnsmasq_config.hpp"
#include "netd/dhcp/ipam.hpp"
#include "netd/dhcp/lease_file.hpp"
#include "netd/dhcp/process_spawner.hpp"

namespace netd::dhcp {

struct DnsmasqSupervisorOptions {
  std::vector<DhcpNetwork> networks;
  std::chrono::seconds lease_time{3600};
  // dnsmasq.conf, dnsmasq.hosts, dnsmasq.pid and dnsmasq's output.
  std::filesystem::path run_dir;
  // dnsmasq.leases, which outlives a reboot.
  std::filesystem::path state_dir;
};

// The reservations of the bound VMs, asked for whenever the hosts file is written.
using ReservationSource = std::function<std::vector<Reservation>()>;

// dnsmasq as netd's child, serving DHCP (never DNS) on the networks from the reservations of
// the bound VMs. The configuration is checked with `dnsmasq --test` before it is used;
// reservations are written atomically and dnsmasq reloads them on SIGHUP, a burst of changes
// costing one reload; a dnsmasq that dies is restarted with exponential backoff.
class DnsmasqSupervisor {
 public:
  DnsmasqSupervisor(DnsmasqSupervisorOptions options, ProcessSpawner& spawner, Clock& clock,
                    ReservationSource reservations);
  ~DnsmasqSupervisor();
  DnsmasqSupervisor(const DnsmasqSupervisor&) = delete;
  DnsmasqSupervisor& operator=(const DnsmasqSupervisor&) = delete;

  // Writes the configuration and the reservations and starts dnsmasq. Throws with dnsmasq's
  // own words if it refuses the configuration.
  void Start();
  // The bound VMs changed: the reservations are rewritten and dnsmasq reloaded shortly.
  void ReservationsChanged();
  // Ends an unbound VM's lease at once: a DHCPRELEASE on the VM's behalf, sent from the
  // gateway to dnsmasq on the network's interface.
  void ReleaseLease(const VmBinding& binding);
  // SIGTERM to dnsmasq; no restart follows.
  void Stop();

  struct Counters {
    std::uint64_t starts = 0;
    std::uint64_t restarts = 0;  // after dnsmasq died
    std::uint64_t reloads = 0;   // SIGHUPs sent
  };
  const Counters& counters() const { return counters_; }
  // "running", "restarting", "stopped" or "refused" (the configuration); last_error() holds
  // dnsmasq's own words.
  std::string state() const;
  const std::string& last_error() const { return last_error_; }
  // What dnsmasq's lease file holds now.
  std::vector<Lease> Leases() const;

 private:
  void WriteReservations();
  void Spawn();
  void OnExit(const ProcessExit& exit);
  std::string LogTail() const;

  DnsmasqSupervisorOptions options_;
  ProcessSpawner& spawner_;
  Clock& clock_;
  ReservationSource reservations_;
  std::filesystem::path config_file_;
  std::filesystem::path hosts_file_;
  std::filesystem::path lease_file_;
  std::filesystem::path pid_file_;
  std::filesystem::path log_file_;
  std::unique_ptr<ChildProcess> dnsmasq_;
  std::unique_ptr<Timer> reload_timer_;
  std::unique_ptr<Timer> restart_timer_;
  bool reload_pending_ = false;
  bool stopping_ = false;
  bool refused_ = false;  // dnsmasq --test refused the configuration
  std::chrono::seconds backoff_{1};
  std::chrono::steady_clock::time_point started_at_;
  Counters counters_;
  std::string last_error_;
};

}  // namespace netd::dhcp
