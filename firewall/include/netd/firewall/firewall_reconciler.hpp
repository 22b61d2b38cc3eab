#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <chrono>
#include <functional>
#include <memory>

#include "netd/common/clock.hpp"
#include "netd/firewall/gateway_firewall.hpp"

namespace netd::firewall {

// Self-repair of the gateway's table on the daemon's loop: when the kernel reports that
// someone else changed `inet ticrypt`, the whole table is applied again from the store after
// a short quiet period (a burst of changes costs one repair), well within a second. A repair
// the kernel refuses is retried every second until it succeeds.
class FirewallReconciler {
 public:
  static constexpr std::chrono::milliseconds kQuietPeriod{100};
  static constexpr std::chrono::milliseconds kRetryPeriod{1000};

  // The kernel's reports are read on `io`; `clock` times the quiet period and the retries;
  // `load_stored` reads the store's state for each repair.
  FirewallReconciler(boost::asio::io_context& io, Clock& clock, GatewayFirewall& firewall,
                     std::function<GatewayFirewall::StoredState()> load_stored);
  ~FirewallReconciler();
  FirewallReconciler(const FirewallReconciler&) = delete;
  FirewallReconciler& operator=(const FirewallReconciler&) = delete;

  void Stop();

 private:
  void WaitForEvents();
  void ScheduleRepair(std::chrono::milliseconds delay);
  void Repair();

  GatewayFirewall& firewall_;
  std::function<GatewayFirewall::StoredState()> load_stored_;
  boost::asio::posix::stream_descriptor events_;
  std::unique_ptr<Timer> repair_timer_;
  bool repair_pending_ = false;
};

}  // namespace netd::firewall
