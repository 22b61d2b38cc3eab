// libFuzzer target for the TOML config reader: whatever /etc/netd/netd.toml holds, netd either
// has a validated Config or a ConfigError naming the problem, never another failure.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "netd/daemon/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    auto config = netd::ParseConfig(text, "fuzz");
    // What validation promises the rest of netd: every network's gateway and DHCP range lie
    // inside its prefix, the range in order.
    for (const auto& network : config.networks) {
      if (!network.cidr.Contains(network.gateway) || !network.cidr.Contains(network.dhcp_first) ||
          !network.cidr.Contains(network.dhcp_last) || network.dhcp_last < network.dhcp_first) {
        std::abort();
      }
    }
  } catch (const netd::ConfigError&) {
  }
  return 0;
}
