#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "netd/common/address.hpp"

namespace netd::dhcp {

// A line of dnsmasq's lease file: `expiry mac ip hostname client-id`.
struct Lease {
  std::int64_t expires_s = 0;  // Unix seconds; 0 for an infinite lease
  MacAddress mac;
  Ipv4Address ip;
  std::optional<std::string> hostname;
};

// Lines that are not leases (dnsmasq's DUID line, damage) are skipped.
std::vector<Lease> ParseLeases(std::string_view text);
// A missing file holds no leases.
std::vector<Lease> ReadLeaseFile(const std::filesystem::path& path);

}  // namespace netd::dhcp
