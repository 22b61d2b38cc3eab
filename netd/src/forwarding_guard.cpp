#include "netd/daemon/forwarding_guard.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <system_error>

namespace netd {
namespace {

firewall::RouteGuardSpec SpecOf(const Config& config) {
  firewall::RouteGuardSpec spec;
  for (const auto& network : config.networks) {
    spec.vm_interfaces.push_back(network.bridge);
    spec.vm_networks.push_back(network.cidr);
  }
  spec.external_interface = config.gateway.external_interface;
  spec.route_mark = config.gateway.route_mark;
  spec.priority = config.gateway.route_guard_priority;
  return spec;
}

// The descriptor stays the guard's; the loop watches a duplicate it may close.
int Duplicate(int fd) {
  int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) throw std::system_error(errno, std::generic_category(), "dup rtnetlink events fd");
  return copy;
}

}  // namespace

ForwardingGuard::ForwardingGuard(boost::asio::io_context& io, const Config& config)
    : guard_(SpecOf(config)), events_(io, Duplicate(guard_.event_fd())) {}

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
      firewall::RouteGuard::kRuleProtocol, changed, guard_.spec().route_mark);
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

}  // namespace netd
