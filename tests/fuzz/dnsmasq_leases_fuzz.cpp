// libFuzzer target for dnsmasq's lease file, which dnsmasq writes from what DHCP clients (VMs)
// send: their hostnames and client ids end up in it.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "netd/dhcp/lease_file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto leases = netd::dhcp::ParseLeases(text);
  std::size_t lines = 1;
  for (char c : text) lines += c == '\n';
  // One lease per line at most, and a hostname never spans lines or holds a field separator.
  if (leases.size() > lines) std::abort();
  for (const auto& lease : leases) {
    if (lease.hostname && lease.hostname->find_first_of(" \n") != std::string::npos) std::abort();
  }
  return 0;
}
