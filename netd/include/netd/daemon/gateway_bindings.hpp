#pragma once

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "netd/daemon/group_api.hpp"
#include "netd/daemon/vm_api.hpp"
#include "netd/dhcp/ipam.hpp"
#include "netd/ovs/port_bindings.hpp"
#include "netd/policy/published.hpp"

namespace netd {

// Where both roles run in one netd without a policy database (a single server): the host
// side pins what the gateway side bound and lets through what its groups open, from the same
// process, current by construction.
class GatewayBindings final : public ovs::PortBindings,
                              public BindingObserver,
                              public GroupObserver {
 public:
  // `groups`: the stored groups at start (GroupApi::published()).
  GatewayBindings(const dhcp::Ipam& ipam, const std::vector<policy::PublishedGroup>& groups);

  State state() const override { return State::kCurrent; }
  std::optional<ovs::BoundPort> Find(std::string_view network, MacAddress mac) const override {
    return index_.Find(network, mac);
  }
  std::vector<ovs::GroupPeer> PeersOf(std::string_view network,
                                      std::string_view vm) const override {
    return index_.PeersOf(network, vm);
  }
  // Called once a binding's or a group's change is committed.
  void set_on_change(std::function<void()> on_change) { on_change_ = std::move(on_change); }

  std::function<void()> PlanBind(const dhcp::VmBinding& binding, Mutation& mutation) override;
  std::function<void()> PlanUnbind(const dhcp::VmBinding& binding, Mutation& mutation) override;
  std::function<void()> PlanSetGroup(const policy::PublishedGroup& group,
                                     Mutation& mutation) override;
  std::function<void()> PlanRemoveGroup(const std::string& name, Mutation& mutation) override;

 private:
  void SetGroup(const policy::PublishedGroup& group);

  ovs::BindingIndex index_;
  std::function<void()> on_change_;
};

}  // namespace netd
