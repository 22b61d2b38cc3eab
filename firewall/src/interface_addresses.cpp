#include "netd/firewall/interface_addresses.hpp"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <memory>
#include <system_error>

#include "netlink_replies.hpp"

namespace netd::firewall {
namespace {

// The largest dump message the kernel sends; fewest reads.
constexpr std::size_t kReceiveBufferBytes = 32768;

}  // namespace

std::vector<Ipv4Cidr> InterfaceIpv4Networks(const std::string& interface) {
  netlink::AddressDump dump;
  dump.index = if_nametoindex(interface.c_str());
  if (dump.index == 0) {
    throw std::system_error(errno, std::generic_category(), "interface " + interface);
  }
  std::unique_ptr<mnl_socket, decltype(&mnl_socket_close)> socket(
      mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC), &mnl_socket_close);
  if (!socket || mnl_socket_bind(socket.get(), 0, MNL_SOCKET_AUTOPID) != 0) {
    throw std::system_error(errno, std::generic_category(), "rtnetlink socket");
  }
  std::vector<char> buffer(kReceiveBufferBytes);
  nlmsghdr* request = mnl_nlmsg_put_header(buffer.data());
  request->nlmsg_type = RTM_GETADDR;
  request->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  const std::uint32_t sequence = 1;
  request->nlmsg_seq = sequence;
  auto* header = static_cast<ifaddrmsg*>(mnl_nlmsg_put_extra_header(request, sizeof(ifaddrmsg)));
  header->ifa_family = AF_INET;
  if (mnl_socket_sendto(socket.get(), request, request->nlmsg_len) < 0) {
    throw std::system_error(errno, std::generic_category(), "rtnetlink address dump");
  }
  const auto port_id = mnl_socket_get_portid(socket.get());
  for (int result = MNL_CB_OK; result > MNL_CB_STOP;) {
    const ssize_t received = mnl_socket_recvfrom(socket.get(), buffer.data(), buffer.size());
    if (received < 0) {
      if (errno == EINTR) continue;
      throw std::system_error(errno, std::generic_category(), "rtnetlink address dump");
    }
    result = netlink::ReadAddressDump({buffer.data(), static_cast<std::size_t>(received)}, sequence,
                                      port_id, dump);
    if (result == MNL_CB_ERROR) {
      throw std::system_error(errno, std::generic_category(), "rtnetlink address dump");
    }
  }
  return dump.networks;
}

}  // namespace netd::firewall
