#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace netd {

// An IPv4 address in host byte order, so that ranges compare and iterate naturally.
class Ipv4Address {
 public:
  constexpr Ipv4Address() = default;
  constexpr explicit Ipv4Address(std::uint32_t value) : value_(value) {}

  // Accepts only dotted-quad notation with four decimal octets (no shorthand forms).
  static std::optional<Ipv4Address> Parse(std::string_view text);

  constexpr std::uint32_t value() const { return value_; }
  std::uint8_t octet(int index) const { return (value_ >> (24 - 8 * index)) & 0xff; }
  std::string ToString() const;

  friend constexpr auto operator<=>(Ipv4Address, Ipv4Address) = default;

 private:
  std::uint32_t value_ = 0;
};

class Ipv4Cidr {
 public:
  constexpr Ipv4Cidr() = default;
  Ipv4Cidr(Ipv4Address base, int prefix_length);

  // "a.b.c.d/n" with host bits zero; "a.b.c.d/n" with host bits set is rejected so that a
  // typo in the prefix length cannot silently widen or move a network.
  static std::optional<Ipv4Cidr> Parse(std::string_view text);

  Ipv4Address base() const { return base_; }
  int prefix_length() const { return prefix_length_; }
  Ipv4Address first() const { return base_; }
  Ipv4Address last() const;
  bool Contains(Ipv4Address address) const;
  bool Overlaps(const Ipv4Cidr& other) const;
  std::string ToString() const;

  friend bool operator==(const Ipv4Cidr&, const Ipv4Cidr&) = default;

 private:
  std::uint32_t mask() const;

  Ipv4Address base_;
  int prefix_length_ = 0;
};

class MacAddress {
 public:
  constexpr MacAddress() = default;
  constexpr explicit MacAddress(std::uint64_t value) : value_(value & 0xffff'ffff'ffffULL) {}

  // "aa:bb:cc:dd:ee:ff", case-insensitive.
  static std::optional<MacAddress> Parse(std::string_view text);

  // The enclave's address plan: a VM's MAC is 52:54 followed by the four octets of its IPv4
  // address, so a VM host can derive (and pin) the IP from the MAC alone.
  static MacAddress ForVmAddress(Ipv4Address address);
  std::optional<Ipv4Address> EncodedVmAddress() const;

  constexpr std::uint64_t value() const { return value_; }
  std::string ToString() const;

  friend constexpr auto operator<=>(MacAddress, MacAddress) = default;

 private:
  std::uint64_t value_ = 0;
};

}  // namespace netd
