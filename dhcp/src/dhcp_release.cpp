#include "netd/dhcp/dhcp_release.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <system_error>

#include "unique_fd.hpp"

namespace netd::dhcp {
namespace {

constexpr std::uint8_t kBootRequest = 1;
constexpr std::uint8_t kHardwareEthernet = 1;
constexpr std::uint8_t kEthernetAddressLength = 6;
constexpr std::uint32_t kMagicCookie = 0x63825363;
constexpr std::uint8_t kOptionMessageType = 53;
constexpr std::uint8_t kMessageRelease = 7;
constexpr std::uint8_t kOptionServerId = 54;
constexpr std::uint8_t kOptionEnd = 255;
constexpr std::uint16_t kServerPort = 67;

void Put32(std::vector<std::uint8_t>& message, std::size_t at, std::uint32_t value) {
  for (int i = 0; i < 4; ++i) message[at + i] = static_cast<std::uint8_t>(value >> (24 - 8 * i));
}

}  // namespace

std::vector<std::uint8_t> BuildDhcpRelease(MacAddress client, Ipv4Address client_ip,
                                           Ipv4Address server, std::uint32_t xid) {
  // BOOTP header (236 bytes), magic cookie, options 53 (RELEASE) and 54 (server id), end.
  std::vector<std::uint8_t> message(240);
  message[0] = kBootRequest;
  message[1] = kHardwareEthernet;
  message[2] = kEthernetAddressLength;
  Put32(message, 4, xid);
  Put32(message, 12, client_ip.value());  // ciaddr
  for (int i = 0; i < 6; ++i) {
    message[28 + i] = static_cast<std::uint8_t>(client.value() >> (40 - 8 * i));  // chaddr
  }
  Put32(message, 236, kMagicCookie);
  message.insert(message.end(), {kOptionMessageType, 1, kMessageRelease, kOptionServerId, 4});
  message.resize(message.size() + 4);
  Put32(message, message.size() - 4, server.value());
  message.push_back(kOptionEnd);
  return message;
}

void SendDhcpRelease(const std::vector<std::uint8_t>& message, const std::string& interface,
                     Ipv4Address server) {
  UniqueFd socket_fd(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (socket_fd.get() < 0) throw std::system_error(errno, std::generic_category(), "socket");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(kServerPort);
  address.sin_addr.s_addr = htonl(server.value());
  bool sent = setsockopt(socket_fd.get(), SOL_SOCKET, SO_BINDTODEVICE, interface.c_str(),
                         static_cast<socklen_t>(interface.size())) == 0 &&
              sendto(socket_fd.get(), message.data(), message.size(), 0,
                     reinterpret_cast<sockaddr*>(&address),
                     sizeof(address)) == static_cast<ssize_t>(message.size());
  if (!sent) throw std::system_error(errno, std::generic_category());
}

}  // namespace netd::dhcp
