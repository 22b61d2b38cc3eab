#include "netd/firewall/route_guard.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <libmnl/libmnl.h>
#include <linux/fib_rules.h>
#include <linux/netconf.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <fstream>
#include <functional>
#include <optional>
#include <set>
#include <system_error>

#include "netlink_replies.hpp"

namespace netd::firewall {
namespace {

std::atomic<std::uint32_t> next_sequence{
    static_cast<std::uint32_t>(std::chrono::steady_clock::now().time_since_epoch().count())};

std::string ForwardingPath(const std::string& interface) {
  return "/proc/sys/net/ipv4/conf/" + interface + "/forwarding";
}

// nullopt when the interface (or IPv4 on it) does not exist.
std::optional<bool> ReadForwarding(const std::string& interface) {
  std::ifstream file(ForwardingPath(interface));
  int value = 0;
  if (!(file >> value)) return std::nullopt;
  return value != 0;
}

mnl_socket* OpenRtnetlink(const char* what) {
  auto* socket = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
  if (!socket) throw std::system_error(errno, std::generic_category(), what);
  if (mnl_socket_bind(socket, 0, MNL_SOCKET_AUTOPID) < 0) {
    int error = errno;
    mnl_socket_close(socket);
    throw std::system_error(error, std::generic_category(), what);
  }
  return socket;
}

void Subscribe(mnl_socket* socket, int group) {
  if (mnl_socket_setsockopt(socket, NETLINK_ADD_MEMBERSHIP, &group, sizeof(group)) < 0) {
    throw std::system_error(errno, std::generic_category(),
                            fmt::format("subscribing to rtnetlink group {}", group));
  }
}

}  // namespace

std::string GuardRule::ToString() const {
  std::string text = fmt::format("{} priority {}", family == AF_INET6 ? "ipv6" : "ipv4", priority);
  if (!input_interface.empty()) text += " iif " + input_interface;
  if (destination_length > 0) {
    text += " to " + Ipv4Cidr(Ipv4Address(destination), destination_length).ToString();
  }
  if (mark_mask != 0) text += fmt::format(" fwmark {:#x}/{:#x}", mark, mark_mask);
  switch (action) {
    case FR_ACT_GOTO:
      return text + fmt::format(" goto {}", goto_priority);
    case FR_ACT_NOP:
      return text + " nop";
    case FR_ACT_BLACKHOLE:
      return text + " blackhole";
    default:
      return text + fmt::format(" action {}", action);
  }
}

std::vector<GuardRule> PlanGuardRules(const RouteGuardSpec& spec) {
  const auto first = spec.priority;
  auto rule = [](std::uint8_t family, std::uint32_t priority, std::uint8_t action) {
    GuardRule planned;
    planned.family = family;
    planned.priority = priority;
    planned.action = action;
    return planned;
  };
  std::vector<GuardRule> rules;
  // The gateway's own packets to its VMs (DHCP, DNS answers) are routed as usual.
  auto local = rule(AF_INET, first, FR_ACT_GOTO);
  local.input_interface = "lo";
  local.goto_priority = first + 2;
  rules.push_back(local);
  for (const auto& network : spec.vm_networks) {
    auto into = rule(AF_INET, first + 1, FR_ACT_BLACKHOLE);
    into.destination = network.base().value();
    into.destination_length = static_cast<std::uint8_t>(network.prefix_length());
    into.mark_mask = spec.route_mark;
    rules.push_back(into);
  }
  for (const auto& interface : spec.vm_interfaces) {
    auto from = rule(AF_INET, first + 1, FR_ACT_BLACKHOLE);
    from.input_interface = interface;
    from.mark_mask = spec.route_mark;
    rules.push_back(from);
    // No IPv6 exists on VM networks: none of it is ever routed.
    auto from6 = rule(AF_INET6, first + 1, FR_ACT_BLACKHOLE);
    from6.input_interface = interface;
    rules.push_back(from6);
  }
  rules.push_back(rule(AF_INET, first + 2, FR_ACT_NOP));
  std::sort(rules.begin(), rules.end());
  return rules;
}

void RouteGuard::SocketCloser::operator()(mnl_socket* socket) const {
  mnl_socket_close(socket);
}

RouteGuard::RouteGuard(RouteGuardSpec spec)
    : spec_(std::move(spec)),
      planned_(PlanGuardRules(spec_)),
      requests_(OpenRtnetlink("rtnetlink socket")),
      events_(OpenRtnetlink("rtnetlink event socket")) {
  for (int group : {RTNLGRP_IPV4_RULE, RTNLGRP_IPV6_RULE, RTNLGRP_IPV4_NETCONF, RTNLGRP_LINK}) {
    Subscribe(events_.get(), group);
  }
}

RouteGuard::~RouteGuard() = default;

int RouteGuard::event_fd() const {
  return mnl_socket_get_fd(events_.get());
}

bool RouteGuard::TakeEvents() {
  bool relevant = false;
  std::vector<char> buffer(MNL_SOCKET_BUFFER_SIZE);
  for (;;) {
    auto length = recv(event_fd(), buffer.data(), buffer.size(), MSG_DONTWAIT);
    if (length < 0) {
      if (errno == EINTR) continue;
      if (errno == ENOBUFS) {
        relevant = true;  // events were lost: look again
        continue;
      }
      if (errno == EAGAIN) return relevant;
      throw std::system_error(errno, std::generic_category(), "reading rtnetlink events");
    }
    netlink::ForEachMessage({buffer.data(), static_cast<std::size_t>(length)},
                            [&](const nlmsghdr* header) {
                              switch (header->nlmsg_type) {
                                case RTM_NEWRULE:
                                case RTM_DELRULE:
                                case RTM_NEWNETCONF:
                                case RTM_NEWLINK:
                                  relevant = true;
                                  break;
                                default:
                                  break;
                              }
                            });
  }
}

void RouteGuard::Exchange(nlmsghdr* request, const std::string& what,
                          const std::function<bool(const nlmsghdr*)>& on_reply) {
  request->nlmsg_seq = next_sequence.fetch_add(1);
  const auto sequence = request->nlmsg_seq;
  if (mnl_socket_sendto(requests_.get(), request, request->nlmsg_len) < 0) {
    throw std::system_error(errno, std::generic_category(), what);
  }
  std::vector<char> buffer(MNL_SOCKET_BUFFER_SIZE);
  for (;;) {
    auto length = mnl_socket_recvfrom(requests_.get(), buffer.data(), buffer.size());
    if (length < 0) {
      if (errno == EINTR) continue;
      throw std::system_error(errno, std::generic_category(), what);
    }
    bool answered = false;
    netlink::ForEachMessage({buffer.data(), static_cast<std::size_t>(length)},
                            [&](const nlmsghdr* message) {
                              if (!answered && message->nlmsg_seq == sequence) {
                                answered = on_reply(message);
                              }
                            });
    if (answered) return;
  }
}

std::vector<GuardRule> RouteGuard::DumpOwnRules(std::uint8_t family) {
  std::vector<char> buffer(MNL_SOCKET_BUFFER_SIZE);
  auto* request = mnl_nlmsg_put_header(buffer.data());
  request->nlmsg_type = RTM_GETRULE;
  request->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  auto* header =
      static_cast<fib_rule_hdr*>(mnl_nlmsg_put_extra_header(request, sizeof(fib_rule_hdr)));
  header->family = family;
  const std::string what = "listing policy-routing rules";
  std::vector<GuardRule> rules;
  Exchange(request, what, [&](const nlmsghdr* message) {
    if (message->nlmsg_type == NLMSG_DONE) return true;
    if (message->nlmsg_type == NLMSG_ERROR) {
      const auto* error = netlink::ErrorOf(message);
      if (!error) throw std::system_error(EBADMSG, std::generic_category(), what);
      if (netlink::ErrnoOf(*error) != 0) {
        throw std::system_error(netlink::ErrnoOf(*error), std::generic_category(), what);
      }
      return false;
    }
    if (message->nlmsg_type == RTM_NEWRULE) {
      if (auto rule = netlink::ParseOwnRule(message)) rules.push_back(std::move(*rule));
    }
    return false;
  });
  return rules;
}

void RouteGuard::SendRule(std::uint16_t type, const GuardRule& rule) {
  std::vector<char> buffer(MNL_SOCKET_BUFFER_SIZE);
  auto* request = mnl_nlmsg_put_header(buffer.data());
  request->nlmsg_type = type;
  request->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
  if (type == RTM_NEWRULE) request->nlmsg_flags |= NLM_F_CREATE | NLM_F_EXCL;
  auto* header =
      static_cast<fib_rule_hdr*>(mnl_nlmsg_put_extra_header(request, sizeof(fib_rule_hdr)));
  header->family = rule.family;
  header->action = rule.action;
  header->dst_len = rule.destination_length;
  mnl_attr_put_u8(request, FRA_PROTOCOL, kRuleProtocol);
  mnl_attr_put_u32(request, FRA_PRIORITY, rule.priority);
  if (!rule.input_interface.empty()) {
    mnl_attr_put_strz(request, FRA_IIFNAME, rule.input_interface.c_str());
  }
  if (rule.destination_length > 0) {
    std::uint32_t destination = htonl(rule.destination);
    mnl_attr_put(request, FRA_DST, sizeof(destination), &destination);
  }
  if (rule.mark_mask != 0) {
    mnl_attr_put_u32(request, FRA_FWMARK, rule.mark);
    mnl_attr_put_u32(request, FRA_FWMASK, rule.mark_mask);
  }
  if (rule.action == FR_ACT_GOTO) mnl_attr_put_u32(request, FRA_GOTO, rule.goto_priority);
  auto what = fmt::format("{} policy-routing rule {}", type == RTM_NEWRULE ? "adding" : "deleting",
                          rule.ToString());
  Exchange(request, what, [&](const nlmsghdr* message) {
    if (message->nlmsg_type != NLMSG_ERROR) return false;
    const auto* error = netlink::ErrorOf(message);
    if (!error) throw std::system_error(EBADMSG, std::generic_category(), what);
    // A rule someone else deleted or added meanwhile is what was wanted.
    const int refused = netlink::ErrnoOf(*error);
    if (refused == 0 || (type == RTM_DELRULE && refused == ENOENT) ||
        (type == RTM_NEWRULE && refused == EEXIST)) {
      return true;
    }
    throw std::system_error(refused, std::generic_category(), what);
  });
}

std::size_t RouteGuard::SyncRules() {
  std::set<GuardRule> present;
  for (std::uint8_t family : {AF_INET, AF_INET6}) {
    for (auto& rule : DumpOwnRules(family)) present.insert(std::move(rule));
  }
  std::size_t changed = 0;
  for (const auto& rule : planned_) {
    if (present.contains(rule)) continue;
    SendRule(RTM_NEWRULE, rule);
    ++changed;
  }
  const std::set<GuardRule> planned(planned_.begin(), planned_.end());
  for (const auto& rule : present) {
    if (planned.contains(rule)) continue;
    SendRule(RTM_DELRULE, rule);
    ++changed;
  }
  return changed;
}

std::vector<std::string> RouteGuard::ForwardingInterfaces() const {
  auto interfaces = spec_.vm_interfaces;
  interfaces.push_back(spec_.external_interface);
  return interfaces;
}

std::vector<std::pair<std::string, bool>> RouteGuard::ForwardingState() const {
  std::vector<std::pair<std::string, bool>> state;
  for (const auto& interface : ForwardingInterfaces()) {
    state.emplace_back("net.ipv4.conf." + interface + ".forwarding",
                       ReadForwarding(interface).value_or(false));
  }
  return state;
}

std::vector<std::string> RouteGuard::EnableForwarding() {
  std::vector<std::string> set;
  for (const auto& interface : ForwardingInterfaces()) {
    auto on = ReadForwarding(interface);
    if (!on || *on) continue;
    std::ofstream file(ForwardingPath(interface));
    file << "1\n";
    file.flush();
    if (!file) {
      throw std::system_error(errno, std::generic_category(),
                              "setting net.ipv4.conf." + interface + ".forwarding=1");
    }
    set.push_back("net.ipv4.conf." + interface + ".forwarding");
  }
  return set;
}

}  // namespace netd::firewall
