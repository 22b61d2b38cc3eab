#include "netd/dhcp/address_pool.hpp"

#include <bit>
#include <cassert>

namespace netd::dhcp {

AddressPool::AddressPool(Ipv4Address first, Ipv4Address last)
    : first_(first),
      last_(last),
      size_(std::uint64_t{last.value()} - first.value() + 1),
      words_((size_ + 63) / 64, 0) {
  assert(first <= last);
}

bool AddressPool::Contains(Ipv4Address address) const {
  return address >= first_ && address <= last_;
}

bool AddressPool::IsTaken(Ipv4Address address) const {
  if (!Contains(address)) return false;
  auto index = IndexOf(address);
  return (words_[index / 64] >> (index % 64)) & 1;
}

std::optional<Ipv4Address> AddressPool::LowestFree() const {
  for (auto word = first_nonfull_word_; word < words_.size(); ++word) {
    if (words_[word] == ~std::uint64_t{0}) {
      first_nonfull_word_ = word + 1;
      continue;
    }
    auto index = word * 64 + std::countr_one(words_[word]);
    if (index >= size_) return std::nullopt;
    return Ipv4Address(static_cast<std::uint32_t>(first_.value() + index));
  }
  return std::nullopt;
}

bool AddressPool::Take(Ipv4Address address) {
  if (!Contains(address) || IsTaken(address)) return false;
  auto index = IndexOf(address);
  words_[index / 64] |= std::uint64_t{1} << (index % 64);
  ++used_;
  return true;
}

bool AddressPool::Release(Ipv4Address address) {
  if (!IsTaken(address)) return false;
  auto index = IndexOf(address);
  words_[index / 64] &= ~(std::uint64_t{1} << (index % 64));
  --used_;
  if (index / 64 < first_nonfull_word_) first_nonfull_word_ = index / 64;
  return true;
}

}  // namespace netd::dhcp
