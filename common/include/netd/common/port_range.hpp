#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace netd {

// An inclusive range of TCP ports, e.g. the listen ports forwards are allocated from.
struct PortRange {
  std::uint16_t first = 0;
  std::uint16_t last = 0;

  // "6000-6100" or "22"; ports 1-65535, first <= last.
  static std::optional<PortRange> Parse(std::string_view text);

  std::uint32_t size() const { return std::uint32_t{last} - first + 1; }
  bool Contains(std::uint16_t port) const { return port >= first && port <= last; }
  std::string ToString() const;

  friend bool operator==(const PortRange&, const PortRange&) = default;
};

}  // namespace netd
