#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "netd/ovs/port_bindings.hpp"

namespace netd::testing {

// The gateway's bindings as a test states them, for port security without a policy database.
class StatedBindings final : public ovs::PortBindings {
 public:
  State state() const override { return state_; }
  std::optional<ovs::BoundPort> Find(std::string_view network, MacAddress mac) const override {
    auto it = bound_.find({std::string(network), mac});
    if (it == bound_.end()) return std::nullopt;
    return it->second;
  }
  // Binds `mac` on `network` to the address it encodes.
  void Bind(const std::string& network, MacAddress mac, const std::string& vm) {
    bound_[{network, mac}] = {vm, mac.EncodedVmAddress().value()};
  }
  void Unbind(const std::string& network, MacAddress mac) { bound_.erase({network, mac}); }
  void set_state(State state) { state_ = state; }

 private:
  State state_ = State::kCurrent;
  std::map<std::pair<std::string, MacAddress>, ovs::BoundPort> bound_;
};

}  // namespace netd::testing
