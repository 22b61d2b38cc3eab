#include "netd/firewall/firewall_reconciler.hpp"

#include <spdlog/spdlog.h>

#include "loop_descriptor.hpp"

namespace netd::firewall {

FirewallReconciler::FirewallReconciler(boost::asio::io_context& io, Clock& clock,
                                       GatewayFirewall& firewall,
                                       std::function<GatewayFirewall::StoredState()> load_stored)
    : firewall_(firewall),
      load_stored_(std::move(load_stored)),
      events_(io, DuplicateForLoop(firewall.foreign_change_fd(), "nftables events fd")),
      repair_timer_(clock.MakeTimer()) {
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
  repair_timer_->Cancel();
  repair_pending_ = false;
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
  repair_timer_->Start(delay, [this] {
    repair_pending_ = false;
    Repair();
  });
}

void FirewallReconciler::Repair() {
  try {
    firewall_.Repair(load_stored_());
    spdlog::info("firewall: repaired table inet ticrypt (repair {})",
                 firewall_.counters().drift_repairs);
  } catch (const std::exception& failure) {
    spdlog::error("firewall: cannot repair table inet ticrypt, retrying in {} ms: {}",
                  kRetryPeriod.count(), failure.what());
    ScheduleRepair(kRetryPeriod);
  }
}

}  // namespace netd::firewall
