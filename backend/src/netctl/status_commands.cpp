// status, networks and metrics: what netd reports about itself.
#include <fmt/format.h>

#include "netctl/commands.hpp"
#include "netctl/format.hpp"
#include "netctl/netctl.hpp"
#include "netctl/table.hpp"
#include "netd/client/targets.hpp"

namespace netd::netctl {
namespace {

namespace targets = client::targets;

int ShowStatus(const Context& context) {
  const client::Response response = context.client.Request("GET", targets::kStatus);
  if (PrintedAsJson(context, response)) return kExitOk;
  const auto status = client::Decode<client::StatusReport>(response.body);
  context.out << RenderFields({
      {"version", status.version},
      {"roles", fmt::format("{}", fmt::join(status.roles, ", "))},
      {"started", status.started_at},
      {"uptime", FormatDuration(status.uptime_s)},
      {"VMs bound", std::to_string(status.vms_total)},
      {"audit records", std::to_string(status.audit_length)},
      {"last reconcile", status.last_reconcile.value_or("none yet")},
      {"drift repairs", std::to_string(status.drift_repairs)},
  });
  Table vms_by_network({{"NETWORK"}, {"VMS", Align::kRight}});
  for (const auto& [network, count] : status.vms_by_network) {
    vms_by_network.AddRow({network, std::to_string(count)});
  }
  if (!vms_by_network.empty()) context.out << '\n' << vms_by_network.Render();
  return kExitOk;
}

int ShowNetworks(const Context& context) {
  const client::Response response = context.client.Request("GET", targets::kNetworks);
  if (PrintedAsJson(context, response)) return kExitOk;
  Table table({{"NAME"},
               {"BRIDGE"},
               {"VLAN", Align::kRight},
               {"CIDR"},
               {"GATEWAY"},
               {"DHCP RANGE"},
               {"EGRESS"},
               {"VMS", Align::kRight},
               {"FREE", Align::kRight}});
  for (const auto& network : client::DecodeNetworks(response.body)) {
    table.AddRow(
        {network.name, network.bridge, std::to_string(network.vlan), network.cidr, network.gateway,
         fmt::format("{}-{}", network.dhcp_range.first, network.dhcp_range.last), network.egress,
         std::to_string(network.bound_vms), std::to_string(network.free_addresses)});
  }
  context.out << table.Render();
  return kExitOk;
}

int ShowMetrics(const Context& context) {
  const std::string text = context.client.Metrics();
  context.out << text;
  if (!text.empty() && text.back() != '\n') context.out << '\n';
  return kExitOk;
}

}  // namespace

void RegisterStatusCommands(CLI::App& app, Command& command) {
  auto* status = app.add_subcommand("status", R"(Show netd's version, roles, uptime and counts

Prints netd's version, its roles (gateway, host), when it started and its
uptime, the number of bound VMs in total and per network, the length of the
audit chain, the last reconcile pass and the number of drift repairs so far.)");
  status->footer(Footer("  netctl status\n  netctl --json status | jq .vms.by_network"));
  status->callback([&command] { command = ShowStatus; });

  auto* networks = app.add_subcommand("networks", R"(List the configured networks and their state

One row per network: its name, OVS bridge, VLAN, CIDR, gateway address, DHCP
range, egress policy ("allowlist": denied except per-VM allowlists; "open":
masqueraded), the number of bound VMs and of free addresses in its DHCP range.)");
  networks->footer(Footer("  netctl networks\n  netctl --json networks"));
  networks->callback([&command] { command = ShowNetworks; });
}

void RegisterMetricsCommand(CLI::App& app, Command& command) {
  auto* metrics = app.add_subcommand("metrics", R"(Print netd's metrics

Prints netd's metrics in the Prometheus text format, as GET /metrics returns
them (--json does not apply).)");
  metrics->footer(Footer("  netctl metrics | grep ^netd_"));
  metrics->callback([&command] { command = ShowMetrics; });
}

}  // namespace netd::netctl
