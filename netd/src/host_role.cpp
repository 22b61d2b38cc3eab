#include "netd/daemon/host_role.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace netd {
namespace {

std::vector<ovs::BridgeSpec> BridgeSpecs(const Config& config) {
  std::vector<ovs::BridgeSpec> specs;
  for (const auto& network : config.networks) {
    specs.push_back({network.bridge, config.host.datapath_type, network.vlan, network.uplink_mode,
                     network.uplink});
  }
  return specs;
}

}  // namespace

HostRole::HostRole(boost::asio::io_context& io, const Config& config)
    : config_(config),
      client_(io, config.host.ovsdb_socket),
      bridges_(io, client_, BridgeSpecs(config)) {}

void HostRole::Start() {
  spdlog::info("host: keeping {} bridges through {}", config_.networks.size(),
               config_.host.ovsdb_socket.string());
  bridges_.Start();
  client_.Start();
}

void HostRole::Stop() {
  client_.Stop();
}

nlohmann::json HostRole::StatusJson() const {
  const auto& ovsdb = client_.counters();
  const auto& bridges = bridges_.counters();
  return {{"ovsdb",
           {{"socket", config_.host.ovsdb_socket.string()},
            {"synced", client_.synced()},
            {"connects", ovsdb.connects},
            {"disconnects", ovsdb.disconnects}}},
          {"bridges",
           {{"in_sync", bridges_.in_sync()},
            {"transactions", bridges.transactions},
            {"repairs", bridges.repairs},
            {"failures", bridges.failures},
            {"conflicts", bridges.conflicts}}}};
}

std::string HostRole::Metrics() const {
  const auto& bridges = bridges_.counters();
  return fmt::format(
      "# HELP netd_ovsdb_synced Whether netd holds ovsdb-server's current state (1) or not (0).\n"
      "# TYPE netd_ovsdb_synced gauge\nnetd_ovsdb_synced {}\n"
      "# HELP netd_ovsdb_disconnects_total Connections to ovsdb-server lost.\n"
      "# TYPE netd_ovsdb_disconnects_total counter\nnetd_ovsdb_disconnects_total {}\n"
      "# HELP netd_ovs_bridge_repairs_total Bridge changes made after the bridges first stood "
      "as configured (drift repaired).\n"
      "# TYPE netd_ovs_bridge_repairs_total counter\nnetd_ovs_bridge_repairs_total {}\n"
      "# HELP netd_ovs_bridge_conflicts Configured bridges that exist and are not netd's (left "
      "alone).\n"
      "# TYPE netd_ovs_bridge_conflicts gauge\nnetd_ovs_bridge_conflicts {}\n",
      client_.synced() ? 1 : 0, client_.counters().disconnects, bridges.repairs, bridges.conflicts);
}

}  // namespace netd
