#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "netd/common/address.hpp"

namespace netd::ovs {

// A VM the gateway bound on a network, as a host learns it from the policy database.
struct BoundPort {
  std::string vm;
  Ipv4Address address;
  friend bool operator==(const BoundPort&, const BoundPort&) = default;
};

// The gateway's bindings as this host knows them: port security pins a VM port of a network
// that requires a binding only when its MAC is bound there (policy/'s PolicyFeed, or the
// gateway's own bindings where both roles run in one netd).
class PortBindings {
 public:
  enum class State {
    kAwaiting,  // never heard from the source since start: nothing is known
    kCurrent,   // the source's current bindings
    kStale,     // the source went away: the last bindings known, kept until it answers again
  };
  virtual ~PortBindings() = default;
  virtual State state() const = 0;
  virtual std::optional<BoundPort> Find(std::string_view network, MacAddress mac) const = 0;
};

std::string_view ToString(PortBindings::State state);

}  // namespace netd::ovs
