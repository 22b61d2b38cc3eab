#pragma once

#include <memory>
#include <string>
#include <vector>

#include "netd/lab/namespace.hpp"
#include "netd/lab/ovs.hpp"

namespace netd::lab {

// The enclave's layer 2 with two VM hosts: a switch namespace whose private Open vSwitch bridge
// `fabric` carries the networks' VLANs; the gateway namespace on an access port of each VLAN
// (interface gw<vlan>, holding the network's gateway address); and the namespaces host1 and
// host2, each with a private Open vSwitch of its own (no bridges: netd's host role makes them)
// and, per network, a veth `up<vlan>` to the switch, where it is a trunk of that VLAN. A VM host's
// bridge takes `up<vlan>` as its uplink in trunk mode, so frames cross the link tagged.
class TwoHostLab {
 public:
  struct Network {
    std::string bridge;  // br-secure, ... (made by the hosts' netd)
    int vlan = 0;
    std::string gateway;  // the gateway's address with its prefix, e.g. 192.168.128.1/17
  };

  explicit TwoHostLab(const std::vector<Network>& networks);
  TwoHostLab(const TwoHostLab&) = delete;
  TwoHostLab& operator=(const TwoHostLab&) = delete;
  ~TwoHostLab();

  static std::string Uplink(int vlan) { return "up" + std::to_string(vlan); }

  const Namespace& gateway() const { return *gateway_; }
  const OvsInstance& switch_ovs() const { return *switch_ovs_; }
  // host 1 or 2.
  const Namespace& host(int number) const { return *hosts_.at(number - 1).ns; }
  const OvsInstance& host_ovs(int number) const { return *hosts_.at(number - 1).ovs; }

 private:
  struct Host {
    std::unique_ptr<Namespace> ns;
    std::unique_ptr<OvsInstance> ovs;
  };

  // Declaration order is teardown order, reversed: hosts, gateway, then the switch.
  std::unique_ptr<Namespace> switch_;
  std::unique_ptr<OvsInstance> switch_ovs_;
  std::unique_ptr<Namespace> gateway_;
  std::vector<Host> hosts_;
};

}  // namespace netd::lab
