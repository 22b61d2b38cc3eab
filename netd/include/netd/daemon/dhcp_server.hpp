#pragma once

#include <boost/asio/io_context.hpp>

#include "netd/common/asio_clock.hpp"
#include "netd/daemon/capability.hpp"
#include "netd/daemon/config.hpp"
#include "netd/daemon/vm_api.hpp"
#include "netd/dhcp/dnsmasq_supervisor.hpp"
#include "netd/dhcp/fork_exec_spawner.hpp"
#include "netd/dhcp/ipam.hpp"

namespace netd {

// DHCP in the gateway role: dhcp/'s dnsmasq supervisor on the daemon's loop, its options taken
// from the configuration and its reservations from the bindings in Ipam. It reports dnsmasq's
// state and leases, and follows the bindings: reservations reloaded, leases released.
class DhcpServer final : public Capability, public BindingObserver {
 public:
  DhcpServer(boost::asio::io_context& io, const Config& config, const dhcp::Ipam& ipam);

  dhcp::DnsmasqSupervisor& supervisor() { return supervisor_; }

  void Report(StatusReport& report) const override;
  std::function<void()> PlanBind(const dhcp::VmBinding& binding, Mutation& mutation) override;
  std::function<void()> PlanUnbind(const dhcp::VmBinding& binding, Mutation& mutation) override;
  void HostnameChanged(const dhcp::VmBinding& binding) override;
  void Describe(const dhcp::VmBinding& binding, nlohmann::json& body) const override;

 private:
  const Config& config_;
  dhcp::ForkExecSpawner spawner_;
  AsioClock clock_;
  dhcp::DnsmasqSupervisor supervisor_;  // last: it ends dnsmasq before the seams go
};

}  // namespace netd
