#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "netd/ovs/port_bindings.hpp"

namespace netd::testing {

// The gateway's bindings and groups as a test states them, for port security without a policy
// database.
class StatedBindings final : public ovs::PortBindings {
 public:
  State state() const override { return state_; }
  std::optional<ovs::BoundPort> Find(std::string_view network, MacAddress mac) const override {
    return index_.Find(network, mac);
  }
  std::vector<ovs::GroupPeer> PeersOf(std::string_view network,
                                      std::string_view vm) const override {
    return index_.PeersOf(network, vm);
  }
  // Binds `mac` on `network` to the address it encodes.
  void Bind(const std::string& network, MacAddress mac, const std::string& vm) {
    index_.Bind(network, mac, {vm, mac.EncodedVmAddress().value()});
  }
  void Unbind(const std::string& network, MacAddress mac) { index_.Unbind(network, mac); }
  void SetGroup(ovs::GroupRule group) { index_.SetGroup(std::move(group)); }
  void RemoveGroup(const std::string& name) { index_.RemoveGroup(name); }
  void set_state(State state) { state_ = state; }

 private:
  State state_ = State::kCurrent;
  ovs::BindingIndex index_;
};

}  // namespace netd::testing
