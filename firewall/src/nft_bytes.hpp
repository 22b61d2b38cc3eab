#pragma once

#include <array>
#include <cstdint>
#include <cstring>

namespace netd::firewall {

// Bytes as the kernel compares them: addresses and ports in network byte order, conntrack state
// bits, marks and interface types in host byte order.
inline void PutBe32(std::uint8_t* out, std::uint32_t value) {
  out[0] = static_cast<std::uint8_t>(value >> 24);
  out[1] = static_cast<std::uint8_t>(value >> 16);
  out[2] = static_cast<std::uint8_t>(value >> 8);
  out[3] = static_cast<std::uint8_t>(value);
}

inline void PutBe16(std::uint8_t* out, std::uint16_t value) {
  out[0] = static_cast<std::uint8_t>(value >> 8);
  out[1] = static_cast<std::uint8_t>(value);
}

inline std::array<std::uint8_t, 4> Be32(std::uint32_t value) {
  std::array<std::uint8_t, 4> out{};
  PutBe32(out.data(), value);
  return out;
}

inline std::array<std::uint8_t, 2> Be16(std::uint16_t value) {
  std::array<std::uint8_t, 2> out{};
  PutBe16(out.data(), value);
  return out;
}

inline std::array<std::uint8_t, 4> HostU32(std::uint32_t value) {
  std::array<std::uint8_t, 4> out{};
  std::memcpy(out.data(), &value, sizeof(value));
  return out;
}

inline std::array<std::uint8_t, 2> HostU16(std::uint16_t value) {
  std::array<std::uint8_t, 2> out{};
  std::memcpy(out.data(), &value, sizeof(value));
  return out;
}

}  // namespace netd::firewall
