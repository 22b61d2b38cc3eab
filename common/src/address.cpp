#include "netd/common/address.hpp"

#include <fmt/format.h>

#include <charconv>

namespace netd {
namespace {

std::optional<std::uint32_t> ParseDecimal(std::string_view text, std::uint32_t max) {
  if (text.empty() || text.size() > 10) return std::nullopt;
  // Leading zeros are ambiguous (some parsers read them as octal): refuse them.
  if (text.size() > 1 && text.front() == '0') return std::nullopt;
  std::uint32_t value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc{} || end != text.data() + text.size() || value > max) return std::nullopt;
  return value;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::optional<Ipv4Address> Ipv4Address::Parse(std::string_view text) {
  std::uint32_t value = 0;
  for (int i = 0; i < 4; ++i) {
    auto dot = text.find('.');
    if ((i < 3) == (dot == std::string_view::npos)) return std::nullopt;
    auto octet = ParseDecimal(text.substr(0, dot), 255);
    if (!octet) return std::nullopt;
    value = (value << 8) | *octet;
    text = i < 3 ? text.substr(dot + 1) : std::string_view{};
  }
  return Ipv4Address(value);
}

// Both formatted by hand: they run per row when netd renders thousands of bindings (dnsmasq's
// hosts file, the policy database), where fmt's parsing of the format string dominated.
std::string Ipv4Address::ToString() const {
  char text[15];
  char* end = text;
  for (int i = 0; i < 4; ++i) {
    if (i > 0) *end++ = '.';
    end = std::to_chars(end, text + sizeof text, static_cast<unsigned>(octet(i))).ptr;
  }
  return std::string(text, end);
}

Ipv4Cidr::Ipv4Cidr(Ipv4Address base, int prefix_length)
    : base_(base), prefix_length_(prefix_length) {}

std::optional<Ipv4Cidr> Ipv4Cidr::Parse(std::string_view text) {
  auto slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  auto base = Ipv4Address::Parse(text.substr(0, slash));
  auto prefix = ParseDecimal(text.substr(slash + 1), 32);
  if (!base || !prefix) return std::nullopt;
  Ipv4Cidr cidr(*base, static_cast<int>(*prefix));
  if ((base->value() & cidr.mask()) != base->value()) return std::nullopt;
  return cidr;
}

std::uint32_t Ipv4Cidr::mask() const {
  return prefix_length_ == 0 ? 0 : ~std::uint32_t{0} << (32 - prefix_length_);
}

Ipv4Address Ipv4Cidr::last() const {
  return Ipv4Address(base_.value() | ~mask());
}

bool Ipv4Cidr::Contains(Ipv4Address address) const {
  return (address.value() & mask()) == base_.value();
}

bool Ipv4Cidr::Overlaps(const Ipv4Cidr& other) const {
  return Contains(other.base_) || other.Contains(base_);
}

std::string Ipv4Cidr::ToString() const {
  return fmt::format("{}/{}", base_.ToString(), prefix_length_);
}

std::optional<MacAddress> MacAddress::Parse(std::string_view text) {
  if (text.size() != 17) return std::nullopt;
  std::uint64_t value = 0;
  for (int i = 0; i < 6; ++i) {
    int high = HexDigit(text[i * 3]);
    int low = HexDigit(text[i * 3 + 1]);
    if (high < 0 || low < 0 || (i < 5 && text[i * 3 + 2] != ':')) return std::nullopt;
    value = (value << 8) | static_cast<std::uint64_t>(high * 16 + low);
  }
  return MacAddress(value);
}

MacAddress MacAddress::ForVmAddress(Ipv4Address address) {
  return MacAddress((std::uint64_t{0x5254} << 32) | address.value());
}

std::optional<Ipv4Address> MacAddress::EncodedVmAddress() const {
  if ((value_ >> 32) != 0x5254) return std::nullopt;
  return Ipv4Address(static_cast<std::uint32_t>(value_ & 0xffff'ffffULL));
}

std::string MacAddress::ToString() const {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string text(17, ':');
  for (int i = 0; i < 6; ++i) {
    auto octet = (value_ >> (40 - 8 * i)) & 0xff;
    text[static_cast<std::size_t>(i * 3)] = kDigits[octet >> 4];
    text[static_cast<std::size_t>(i * 3 + 1)] = kDigits[octet & 0xf];
  }
  return text;
}

}  // namespace netd
