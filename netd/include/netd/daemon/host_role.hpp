#pragma once

#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>
#include <string>

#include "netd/daemon/config.hpp"
#include "netd/ovs/bridges.hpp"
#include "netd/ovs/ovsdb_client.hpp"

namespace netd {

// The host role: this VM host's Open vSwitch, through ovsdb-server. Today it keeps each
// configured network's bridge as the configuration says (docs/host.md).
class HostRole {
 public:
  HostRole(boost::asio::io_context& io, const Config& config);
  void Start();
  void Stop();

  // `/v1/status` host: the OVSDB connection and the bridges.
  nlohmann::json StatusJson() const;
  std::string Metrics() const;

 private:
  const Config& config_;
  ovs::OvsdbClient client_;
  ovs::BridgeReconciler bridges_;
};

}  // namespace netd
