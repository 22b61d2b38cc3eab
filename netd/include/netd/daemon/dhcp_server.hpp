#pragma once

#include <boost/asio/io_context.hpp>

#include "netd/daemon/config.hpp"
#include "netd/common/asio_clock.hpp"
#include "netd/dhcp/dnsmasq_supervisor.hpp"
#include "netd/dhcp/fork_exec_spawner.hpp"
#include "netd/dhcp/ipam.hpp"

namespace netd {

// DHCP in the gateway role: dhcp/'s dnsmasq supervisor on the daemon's loop, its options taken
// from the configuration and its reservations from the bindings in Ipam.
class DhcpServer {
 public:
  DhcpServer(boost::asio::io_context& io, const Config& config, const dhcp::Ipam& ipam);

  dhcp::DnsmasqSupervisor& supervisor() { return supervisor_; }

 private:
  dhcp::ForkExecSpawner spawner_;
  AsioClock clock_;
  dhcp::DnsmasqSupervisor supervisor_;  // last: it ends dnsmasq before the seams go
};

}  // namespace netd
