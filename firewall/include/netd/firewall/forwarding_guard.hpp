#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "netd/firewall/route_guard.hpp"

namespace netd::firewall {

// The gateway's IPv4 forwarding, failing closed (docs/firewall.md, "Failing closed"): the
// route guard's policy-routing rules go in before the table is first applied, forwarding is
// turned on for netd's interfaces only after, and both are kept so on the daemon's loop: a rule
// deleted by someone else is added again, and an interface whose forwarding was turned off
// (also by a write of net.ipv4.ip_forward, which sets every interface's) is turned on again.
class ForwardingGuard {
 public:
  ForwardingGuard(boost::asio::io_context& io, RouteGuardSpec spec);
  ~ForwardingGuard();
  ForwardingGuard(const ForwardingGuard&) = delete;
  ForwardingGuard& operator=(const ForwardingGuard&) = delete;

  // Before the first apply: VM-network traffic without the table's mark is not routed.
  void CloseRoutes();
  // After the first apply: forwarding on for the VM interfaces and the external one; from then
  // on the rules and the sysctls are watched and repaired.
  void EnableForwarding();
  void Stop();

  struct Counters {
    std::uint64_t rule_repairs = 0;        // rules added or deleted after the first sync
    std::uint64_t forwarding_repairs = 0;  // sysctls turned on again after the first enable
    std::uint64_t repair_failures = 0;
  };
  const Counters& counters() const { return counters_; }

  // What the guard keeps, as status reports show it.
  struct Status {
    std::uint32_t route_mark = 0;
    std::vector<std::string> rules;  // the planned rules, as `ip rule` shows them
    // Each forwarding sysctl netd owns, and whether it is on now (false if the interface is
    // missing).
    std::vector<std::pair<std::string, bool>> forwarding;
    Counters counters;
  };
  Status status() const;

 private:
  void WaitForEvents();
  void Repair();

  RouteGuard guard_;
  boost::asio::posix::stream_descriptor events_;
  bool forwarding_enabled_ = false;
  Counters counters_;
};

}  // namespace netd::firewall
