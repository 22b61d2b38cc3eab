#pragma once

#include <compare>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "netd/common/address.hpp"

struct mnl_socket;
struct nlmsghdr;

namespace netd::firewall {

// What the route guard protects: the VM networks, by the gateway's interface on each and its
// address range, and the interfaces whose IPv4 forwarding netd owns.
struct RouteGuardSpec {
  std::vector<std::string> vm_interfaces;
  std::vector<Ipv4Cidr> vm_networks;
  std::string external_interface;
  std::uint32_t route_mark = 0x20000000;  // set by the table on what may be routed
  std::uint32_t priority = 100;           // of the first of three consecutive rule priorities
};

// One policy-routing rule as netd writes it and reads it back.
struct GuardRule {
  std::uint8_t family = 0;  // AF_INET or AF_INET6
  std::uint32_t priority = 0;
  std::uint8_t action = 0;  // FR_ACT_*
  std::string input_interface;
  std::uint32_t destination = 0;  // IPv4, with its prefix length (0: any)
  std::uint8_t destination_length = 0;
  std::uint32_t mark = 0;
  std::uint32_t mark_mask = 0;
  std::uint32_t goto_priority = 0;
  friend auto operator<=>(const GuardRule&, const GuardRule&) = default;
  std::string ToString() const;
};

// The rules that keep the VM networks from being routed while `inet ticrypt` is missing,
// whatever removed it (docs/firewall.md, "Failing closed"): at priority P, locally generated
// packets skip to P+2; at P+1, IPv4 from a VM interface or to a VM network without the route
// mark is blackholed, and IPv6 from a VM interface always is; P+2 does nothing. Pure, for tests.
std::vector<GuardRule> PlanGuardRules(const RouteGuardSpec& spec);

// The route guard in the kernel: netd's policy-routing rules (tagged with their own protocol
// number, kRuleProtocol) and the IPv4 forwarding of netd's interfaces (net.ipv4.conf.<name>.
// forwarding), in the calling thread's network namespace, through rtnetlink and /proc/sys.
// It never removes its rules: they stay when netd exits, as the table does.
class RouteGuard {
 public:
  static constexpr std::uint8_t kRuleProtocol = 110;  // `ip rule` shows "proto 110"

  explicit RouteGuard(RouteGuardSpec spec);
  ~RouteGuard();
  RouteGuard(const RouteGuard&) = delete;
  RouteGuard& operator=(const RouteGuard&) = delete;

  // Makes the kernel's rules of netd's protocol exactly the planned ones: adds what is missing
  // first, then deletes the others; returns how many rules it added or deleted.
  std::size_t SyncRules();
  // Turns on IPv4 forwarding on the VM interfaces and the external one where it is off (an
  // interface that does not exist yet is skipped: its turn comes when it appears); returns the
  // sysctls it set. Writing net.ipv4.ip_forward sets every interface's, so netd watches them.
  std::vector<std::string> EnableForwarding();
  // The sysctls netd owns, and whether each is on now (false if the interface is missing).
  std::vector<std::pair<std::string, bool>> ForwardingState() const;

  // rtnetlink events about rules, interfaces and their forwarding: the descriptor turns
  // readable when the kernel reports one; TakeEvents reads them all and says whether any may
  // concern the guard.
  int event_fd() const;
  bool TakeEvents();

  const RouteGuardSpec& spec() const { return spec_; }
  const std::vector<GuardRule>& planned() const { return planned_; }

 private:
  // Sends `request` (its sequence number set here) and hands each reply to `on_reply` until
  // that returns true.
  void Exchange(nlmsghdr* request, const std::string& what,
                const std::function<bool(const nlmsghdr*)>& on_reply);
  std::vector<GuardRule> DumpOwnRules(std::uint8_t family);
  void SendRule(std::uint16_t type, const GuardRule& rule);
  std::vector<std::string> ForwardingInterfaces() const;

  RouteGuardSpec spec_;
  std::vector<GuardRule> planned_;
  struct SocketCloser {
    void operator()(mnl_socket* socket) const;
  };
  std::unique_ptr<mnl_socket, SocketCloser> requests_;
  std::unique_ptr<mnl_socket, SocketCloser> events_;
};

}  // namespace netd::firewall
