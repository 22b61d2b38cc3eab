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

namespace netd::firewall {
namespace {

// The largest dump message the kernel sends; fewest reads.
constexpr std::size_t kReceiveBufferBytes = 32768;

struct DumpState {
  unsigned index = 0;
  std::vector<Ipv4Cidr> networks;
};

// mnl_attr_parse callback: keeps IFA_LOCAL and IFA_ADDRESS when they hold an IPv4 address.
int StoreAddressAttribute(const nlattr* attribute, void* data) {
  auto& attributes = *static_cast<std::array<const nlattr*, IFA_MAX + 1>*>(data);
  const auto type = mnl_attr_get_type(attribute);
  if ((type == IFA_LOCAL || type == IFA_ADDRESS) &&
      mnl_attr_validate(attribute, MNL_TYPE_U32) == 0) {
    attributes[type] = attribute;
  }
  return MNL_CB_OK;
}

int CollectAddress(const nlmsghdr* message, void* data) {
  auto& dump = *static_cast<DumpState*>(data);
  if (mnl_nlmsg_get_payload_len(message) < sizeof(ifaddrmsg)) return MNL_CB_OK;
  const auto* header = static_cast<const ifaddrmsg*>(mnl_nlmsg_get_payload(message));
  if (header->ifa_family != AF_INET || header->ifa_index != dump.index ||
      header->ifa_prefixlen > 32) {
    return MNL_CB_OK;
  }
  // IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer's on a point-to-point
  // link, and the same as IFA_LOCAL elsewhere.
  std::array<const nlattr*, IFA_MAX + 1> attributes{};
  mnl_attr_parse(message, sizeof(ifaddrmsg), StoreAddressAttribute, &attributes);
  const nlattr* chosen = attributes[IFA_LOCAL] ? attributes[IFA_LOCAL] : attributes[IFA_ADDRESS];
  if (!chosen) return MNL_CB_OK;
  const int prefix = header->ifa_prefixlen;
  const std::uint32_t mask = prefix == 0 ? 0 : ~std::uint32_t{0} << (32 - prefix);
  dump.networks.emplace_back(Ipv4Address(ntohl(mnl_attr_get_u32(chosen)) & mask), prefix);
  return MNL_CB_OK;
}

}  // namespace

std::vector<Ipv4Cidr> InterfaceIpv4Networks(const std::string& interface) {
  DumpState dump;
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
    result = mnl_cb_run(buffer.data(), static_cast<std::size_t>(received), sequence, port_id,
                        CollectAddress, &dump);
    if (result == MNL_CB_ERROR) {
      throw std::system_error(errno, std::generic_category(), "rtnetlink address dump");
    }
  }
  return dump.networks;
}

}  // namespace netd::firewall
