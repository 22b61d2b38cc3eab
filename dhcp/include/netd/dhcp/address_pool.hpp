#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "netd/common/address.hpp"

namespace netd::dhcp {

// The addresses of one network's DHCP range, each free or taken. Allocation always returns
// the lowest free address, so that bindings are predictable and a freed address is reused
// first. A bitmap with a lowest-free hint keeps allocation amortised O(range/64) at worst and
// O(1) for sequential binding, at 4 KiB per 32,768 addresses.
class AddressPool {
 public:
  AddressPool(Ipv4Address first, Ipv4Address last);

  Ipv4Address first() const { return first_; }
  Ipv4Address last() const { return last_; }
  std::uint64_t size() const { return size_; }
  std::uint64_t used() const { return used_; }
  bool Contains(Ipv4Address address) const;
  bool IsTaken(Ipv4Address address) const;

  // The lowest free address, without taking it; nullopt when the range is exhausted.
  std::optional<Ipv4Address> LowestFree() const;
  // Marks an address as taken; returns false if it already was (or lies outside the range).
  bool Take(Ipv4Address address);
  // Marks an address as free; returns false if it was not taken.
  bool Release(Ipv4Address address);

 private:
  std::uint64_t IndexOf(Ipv4Address address) const { return address.value() - first_.value(); }

  Ipv4Address first_;
  Ipv4Address last_;
  std::uint64_t size_;
  std::uint64_t used_ = 0;
  std::vector<std::uint64_t> words_;
  // Every word before this index is full.
  mutable std::uint64_t first_nonfull_word_ = 0;
};

}  // namespace netd::dhcp
