#include "netd/daemon/firewall_reconciler.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <system_error>

namespace netd {
namespace {

// The descriptor stays the packet filter's; the loop watches a duplicate it may close.
int Duplicate(int fd) {
  int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) throw std::system_error(errno, std::generic_category(), "dup nftables events fd");
  return copy;
}

}  // namespace

FirewallReconciler::FirewallReconciler(boost::asio::io_context& io, GatewayFirewall& firewall,
                                       std::function<GatewayFirewall::StoredState()> load_stored)
    : firewall_(firewall),
      load_stored_(std::move(load_stored)),
      events_(io, Duplicate(firewall.foreign_change_fd())),
      repair_timer_(io) {
  firewall_.set_drift_listener([this] { ScheduleRepair(kQuietPeriod); });
  // What happened between the start's apply and now.
  firewall_.CheckForeignChanges();
  WaitForEvents();
}

FirewallReconciler::~FirewallReconciler() {
  Stop();
  firewall_.set_drift_listener(nullptr);
}

void FirewallReconciler::Stop() {
  boost::system::error_code ignored;
  events_.cancel(ignored);
  repair_timer_.cancel();
}

void FirewallReconciler::WaitForEvents() {
  events_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                     [this](boost::system::error_code error) {
                       if (error) return;
                       firewall_.CheckForeignChanges();
                       WaitForEvents();
                     });
}

void FirewallReconciler::ScheduleRepair(std::chrono::milliseconds delay) {
  if (repair_pending_) return;
  repair_pending_ = true;
  repair_timer_.expires_after(delay);
  repair_timer_.async_wait([this](boost::system::error_code error) {
    repair_pending_ = false;
    if (error) return;
    try {
      firewall_.Repair(load_stored_());
      spdlog::info("firewall: repaired table inet ticrypt (repair {})",
                   firewall_.counters().drift_repairs);
    } catch (const std::exception& failure) {
      spdlog::error("firewall: cannot repair table inet ticrypt, retrying in {} ms: {}",
                    kRetryPeriod.count(), failure.what());
      ScheduleRepair(kRetryPeriod);
    }
  });
}

}  // namespace netd
