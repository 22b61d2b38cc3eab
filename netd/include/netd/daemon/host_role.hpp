#pragma once

#include <boost/asio/io_context.hpp>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "netd/common/clock.hpp"
#include "netd/daemon/capability.hpp"
#include "netd/daemon/config.hpp"
#include "netd/libvirt/client.hpp"
#include "netd/ovs/bridges.hpp"
#include "netd/ovs/ovsdb_client.hpp"
#include "netd/ovs/port_bindings.hpp"
#include "netd/ovs/port_security.hpp"
#include "netd/policy/policy_feed.hpp"

namespace netd {

// The host role: this VM host's Open vSwitch and libvirt. It keeps each configured network's
// bridge as the configuration says (through ovsdb-server), pins every VM port on it (OpenFlow,
// through the bridge's management socket), keeps libvirt's networks for the bridges, and
// follows libvirt's domain events: a port whose VM is not running gets no flows. A VM port of a
// secure network is pinned only when the gateway bound its MAC there: as the policy database
// says (config.policy), or else as `gateway_bindings` say (both roles in one netd). See
// docs/host.md.
class HostRole final : public Capability {
 public:
  // `gateway_bindings` (unused with config.policy) must outlive the HostRole.
  HostRole(boost::asio::io_context& io, const Config& config, Clock& clock,
           const ovs::PortBindings* gateway_bindings = nullptr);
  void Start();
  void Stop();
  // The bindings changed: every VM port is planned again.
  void BindingsChanged();
  // Whether every bridge stands as specified and the switch acknowledged its flows: this host
  // enforces what netd planned (systemd hears READY=1 only then).
  bool Programmed() const;

  static std::span<const RouteOf<HostRole>> Routes();
  // The status's host section: the OVSDB connection, the bridges, and per bridge its ports and
  // flows; libvirt.
  void Report(StatusReport& report) const override;
  // `GET /v1/host/ports`: every port of the managed bridges with its MAC, address and state.
  nlohmann::json PortsJson() const;

 private:
  ApiResponse HostPorts(const ApiCall& call);
  // libvirt's domains: all of them (`complete`) or those an event was about.
  void OnDomains(std::vector<libvirt::DomainState> domains, bool complete);
  void WarnAboutInterfaces(const libvirt::DomainState& domain) const;
  void ReportLibvirt(StatusReport& report) const;
  void ReportPolicy(StatusReport& report) const;

  const Config& config_;
  std::unique_ptr<policy::PolicyFeed> feed_;  // with config.policy
  const ovs::PortBindings* bindings_;
  ovs::OvsdbClient client_;
  ovs::BridgeReconciler bridges_;
  std::vector<std::unique_ptr<ovs::PortSecurity>> port_security_;
  std::map<std::string, libvirt::DomainState> domains_;  // libvirt's, by uuid
  // Last: gone first, so that nothing it posted reaches the members above after they went.
  std::unique_ptr<libvirt::LibvirtClient> libvirt_;
};

}  // namespace netd
