#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "netd/common/address.hpp"
#include "netd/dhcp/address_pool.hpp"

namespace netd::dhcp {

// A VM's place on one network: the address netd allocated and the MAC that encodes it.
struct VmBinding {
  std::string vm;
  std::string network;
  Ipv4Address ip;
  MacAddress mac;
  std::optional<std::string> hostname;
  std::int64_t created_ms = 0;

  friend bool operator==(const VmBinding&, const VmBinding&) = default;
};

struct IpamNetwork {
  std::string name;
  Ipv4Address dhcp_first;
  Ipv4Address dhcp_last;
};

// The in-memory view of every binding, with one address pool per network. It decides; the
// caller persists the decision and then records it here, so a failed commit changes nothing.
class Ipam {
 public:
  explicit Ipam(const std::vector<IpamNetwork>& networks);

  // Adds a binding read back from the store. Returns an error text if it does not fit the
  // configured networks (unknown network, address outside the range or already taken).
  std::optional<std::string> Restore(const VmBinding& binding);

  const VmBinding* Find(std::string_view vm) const;
  bool HasNetwork(std::string_view network) const;
  // The binding a new VM on `network` would get; nullopt when the range is exhausted.
  std::optional<VmBinding> Propose(std::string_view vm, std::string_view network) const;
  void Add(const VmBinding& binding);
  void SetHostname(std::string_view vm, std::optional<std::string> hostname);
  void Remove(std::string_view vm);

  std::vector<VmBinding> List(std::optional<std::string_view> network = std::nullopt) const;
  std::size_t size() const { return bindings_.size(); }
  const AddressPool& pool(std::string_view network) const;

 private:
  std::map<std::string, AddressPool, std::less<>> pools_;
  std::map<std::string, VmBinding, std::less<>> bindings_;
};

}  // namespace netd::dhcp
