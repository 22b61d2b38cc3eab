#include "netd/firewall/forwarding_guard.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "loop_descriptor.hpp"

namespace netd::firewall {

ForwardingGuard::ForwardingGuard(boost::asio::io_context& io, RouteGuardSpec spec)
    : guard_(std::move(spec)),
      events_(io, DuplicateForLoop(guard_.event_fd(), "rtnetlink events fd")) {}

ForwardingGuard::~ForwardingGuard() {
  Stop();
}

void ForwardingGuard::Stop() {
  boost::system::error_code ignored;
  events_.cancel(ignored);
}

void ForwardingGuard::CloseRoutes() {
  auto changed = guard_.SyncRules();
  spdlog::info(
      "route guard: {} policy-routing rules at priorities {}-{} (proto {}), {} changed: VM-network "
      "traffic without mark {:#x} is not routed",
      guard_.planned().size(), guard_.spec().priority, guard_.spec().priority + 2,
      RouteGuard::kRuleProtocol, changed, guard_.spec().route_mark);
  guard_.TakeEvents();  // its own changes
  WaitForEvents();
}

void ForwardingGuard::EnableForwarding() {
  auto set = guard_.EnableForwarding();
  forwarding_enabled_ = true;
  std::vector<std::string> owned;
  for (const auto& [sysctl, on] : guard_.ForwardingState()) owned.push_back(sysctl);
  spdlog::info("route guard: IPv4 forwarding owned by netd: {}; turned on now: {}",
               fmt::join(owned, " "),
               set.empty() ? "none" : fmt::format("{}", fmt::join(set, " ")));
}

void ForwardingGuard::WaitForEvents() {
  events_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                     [this](boost::system::error_code error) {
                       if (error) return;
                       Repair();
                       WaitForEvents();
                     });
}

void ForwardingGuard::Repair() {
  try {
    if (!guard_.TakeEvents()) return;
    if (auto changed = guard_.SyncRules()) {
      counters_.rule_repairs += changed;
      spdlog::warn("route guard: {} policy-routing rules were changed by someone else; restored",
                   changed);
    }
    if (!forwarding_enabled_) return;
    auto set = guard_.EnableForwarding();
    if (!set.empty()) {
      counters_.forwarding_repairs += set.size();
      spdlog::warn(
          "route guard: IPv4 forwarding was off (turned off by someone else, or a new "
          "interface); on again: {}",
          fmt::join(set, " "));
    }
  } catch (const std::exception& failure) {
    ++counters_.repair_failures;
    spdlog::error("route guard: cannot repair: {}", failure.what());
  }
}

ForwardingGuard::Status ForwardingGuard::status() const {
  Status status{guard_.spec().route_mark, {}, guard_.ForwardingState(), counters_};
  for (const auto& rule : guard_.planned()) status.rules.push_back(rule.ToString());
  return status;
}

}  // namespace netd::firewall
