#include "netd/lab/two_host.hpp"

namespace netd::lab {

TwoHostLab::TwoHostLab(const std::vector<Network>& networks) {
  switch_ = std::make_unique<Namespace>("switch");
  switch_ovs_ = std::make_unique<OvsInstance>(*switch_);
  switch_ovs_->AddBridge("fabric");
  gateway_ = std::make_unique<Namespace>("gateway");
  for (const auto& network : networks) {
    auto vlan = std::to_string(network.vlan);
    CreateVethPair(*gateway_, "gw" + vlan, *switch_, "sw-gw" + vlan);
    switch_ovs_->AddPort("fabric", "sw-gw" + vlan, network.vlan);
    gateway_->AddAddress("gw" + vlan, network.gateway);
  }
  for (int number = 1; number <= 2; ++number) {
    Host host;
    host.ns = std::make_unique<Namespace>("host" + std::to_string(number));
    host.ovs = std::make_unique<OvsInstance>(*host.ns);
    for (const auto& network : networks) {
      auto vlan = std::to_string(network.vlan);
      auto far = "sw-h" + std::to_string(number) + "-" + vlan;
      CreateVethPair(*host.ns, Uplink(network.vlan), *switch_, far);
      auto added = switch_ovs_->Vsctl({"add-port", "fabric", far, "trunks=" + vlan});
      if (!added.ok())
        throw std::runtime_error("ovs-vsctl add-port fabric " + far + ": " + added.err);
    }
    hosts_.push_back(std::move(host));
  }
}

TwoHostLab::~TwoHostLab() {
  // VM namespaces belong to the tests; hosts go first (their OVS before their namespace).
  for (auto& host : hosts_) {
    host.ovs.reset();
    host.ns.reset();
  }
}

}  // namespace netd::lab
