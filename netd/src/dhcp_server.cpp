#include "netd/daemon/dhcp_server.hpp"

#include <algorithm>
#include <utility>

#include "api_support.hpp"

namespace netd {
namespace {

dhcp::DnsmasqSupervisorOptions SupervisorOptions(const Config& config) {
  dhcp::DnsmasqSupervisorOptions options;
  options.run_dir = config.run_dir;
  options.state_dir = config.state_dir;
  options.lease_time = std::chrono::seconds(config.gateway.dhcp_lease_time_s);
  for (const auto& network : config.networks) {
    bool secure = network.egress == Egress::kAllowlist;
    dhcp::DhcpNetwork served{network.name,    network.bridge,       network.cidr,
                             network.gateway, network.dhcp_first,   network.dhcp_last,
                             secure,          network.dhcp_dynamic, {}};
    // Secure VMs resolve through netd's filtered DNS on their gateway; the others' DNS is not
    // controlled.
    if (secure) {
      served.dns_servers = {network.gateway};
    } else {
      served.dns_servers = config.gateway.upstream_dns;
    }
    options.networks.push_back(std::move(served));
  }
  return options;
}

constexpr Metric kLeases{"netd_dhcp_leases", MetricType::kGauge, "Active DHCP leases per network."};
constexpr Metric kReloads{"netd_dhcp_reloads_total", MetricType::kCounter,
                          "Reservation reloads sent to dnsmasq (SIGHUP)."};
constexpr Metric kRestarts{"netd_dhcp_restarts_total", MetricType::kCounter,
                           "Times dnsmasq died and was started again."};

bool IsActive(const dhcp::Lease& lease, std::int64_t now_s) {
  return lease.expires_s == 0 || lease.expires_s > now_s;
}

}  // namespace

DhcpServer::DhcpServer(boost::asio::io_context& io, const Config& config, const dhcp::Ipam& ipam)
    : config_(config),
      spawner_(io),
      clock_(io),
      supervisor_(SupervisorOptions(config), spawner_, clock_, [&ipam] {
        std::vector<dhcp::Reservation> reservations;
        for (const auto& binding : ipam.List()) {
          reservations.push_back({binding.mac, binding.ip, binding.hostname});
        }
        return reservations;
      }) {}

void DhcpServer::Report(StatusReport& report) const {
  auto leases = supervisor_.Leases();
  auto now_s = AuditChain::NowMs() / 1000;
  for (const auto& network : config_.networks) {
    auto active = std::count_if(leases.begin(), leases.end(), [&](const dhcp::Lease& lease) {
      return network.cidr.Contains(lease.ip) && IsActive(lease, now_s);
    });
    report.Sample(kLeases, static_cast<std::uint64_t>(active), {{"network", network.name}});
  }
  const auto& counters = supervisor_.counters();
  report.Status("/dhcp/state", supervisor_.state());
  report.Status("/dhcp/starts", counters.starts);
  report.Figure("/dhcp/reloads", kReloads, counters.reloads);
  report.Figure("/dhcp/restarts", kRestarts, counters.restarts);
  const auto& last_error = supervisor_.last_error();
  report.Status("/dhcp/last_error",
                last_error.empty() ? nlohmann::json(nullptr) : nlohmann::json(last_error));
}

std::function<void()> DhcpServer::PlanBind(const dhcp::VmBinding&, Mutation&) {
  return [this] { supervisor_.ReservationsChanged(); };
}

std::function<void()> DhcpServer::PlanUnbind(const dhcp::VmBinding& binding, Mutation&) {
  return [this, binding] {
    supervisor_.ReleaseLease(binding);
    supervisor_.ReservationsChanged();
  };
}

void DhcpServer::HostnameChanged(const dhcp::VmBinding&) {
  supervisor_.ReservationsChanged();
}

void DhcpServer::Describe(const dhcp::VmBinding& binding, nlohmann::json& body) const {
  body["lease"] = nullptr;
  for (const auto& lease : supervisor_.Leases()) {
    if (lease.ip != binding.ip || lease.mac != binding.mac) continue;
    body["lease"] = {
        {"state", IsActive(lease, AuditChain::NowMs() / 1000) ? "active" : "expired"},
        {"expires_at", lease.expires_s == 0 ? nlohmann::json(nullptr)
                                            : nlohmann::json(IsoTime(lease.expires_s * 1000))}};
  }
}

}  // namespace netd
