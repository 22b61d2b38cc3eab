#pragma once

#include <sys/types.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "netd/daemon/config.hpp"
#include "netd/dhcp/dnsmasq_config.hpp"
#include "netd/dhcp/ipam.hpp"

namespace netd {

// dnsmasq as netd's child, serving DHCP (never DNS) on the gateway's networks from the
// reservations of the bound VMs. The configuration is checked with `dnsmasq --test` before it
// is used; reservations are written atomically and dnsmasq reloads them on SIGHUP, a burst of
// changes costing one reload; a dnsmasq that dies is restarted with exponential backoff.
class DhcpServer {
 public:
  DhcpServer(boost::asio::io_context& io, const Config& config, const dhcp::Ipam& ipam);
  ~DhcpServer();
  DhcpServer(const DhcpServer&) = delete;
  DhcpServer& operator=(const DhcpServer&) = delete;

  // Writes the configuration and the reservations and starts dnsmasq. Throws with dnsmasq's
  // own words if it refuses the configuration.
  void Start();
  // The bound VMs changed: the reservations are rewritten and dnsmasq reloaded shortly.
  void ReservationsChanged();
  // Ends an unbound VM's lease at once: a DHCPRELEASE on the VM's behalf, sent from the
  // gateway to dnsmasq on the network's interface (what dnsmasq's own dhcp_release does).
  void ReleaseLease(const dhcp::VmBinding& binding);
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
  std::vector<dhcp::Lease> Leases() const;
  std::filesystem::path hosts_file() const { return hosts_file_; }
  std::filesystem::path lease_file() const { return lease_file_; }

 private:
  void WriteReservations();
  void Spawn();
  void WatchExit();
  void OnExit();
  std::string LogTail() const;

  boost::asio::io_context& io_;
  const Config& config_;
  const dhcp::Ipam& ipam_;
  std::filesystem::path config_file_;
  std::filesystem::path hosts_file_;
  std::filesystem::path lease_file_;
  std::filesystem::path pid_file_;
  std::filesystem::path log_file_;
  pid_t pid_ = -1;
  std::optional<boost::asio::posix::stream_descriptor> exit_watch_;  // a pidfd
  boost::asio::steady_timer reload_timer_;
  boost::asio::steady_timer restart_timer_;
  bool reload_pending_ = false;
  bool stopping_ = false;
  bool refused_ = false;  // dnsmasq --test refused the configuration
  std::chrono::seconds backoff_{1};
  std::chrono::steady_clock::time_point started_at_;
  Counters counters_;
  std::string last_error_;
};

}  // namespace netd
