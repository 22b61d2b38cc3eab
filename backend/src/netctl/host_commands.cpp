// host ports: how this VM host's Open vSwitch ports are secured.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "netctl/commands.hpp"
#include "netctl/format.hpp"
#include "netctl/netctl.hpp"
#include "netctl/table.hpp"
#include "netd/client/targets.hpp"

namespace netd::netctl {
namespace {

using client::Response;
namespace targets = client::targets;

// The values of host ports' options.
struct HostOptions {
  std::string bridge;
  const CLI::Option* bridge_option = nullptr;
};

// "5 installed" once the switch acknowledged the port's flows, "5 pending" before; "0" for a
// port that gets none (refused, pending).
std::string DescribeFlows(const client::HostPort& port) {
  if (port.flows == 0) return "0";
  return fmt::format("{} {}", port.flows, port.flows_installed ? "installed" : "pending");
}

int ListHostPorts(const Context& context, const HostOptions& options) {
  std::optional<std::string_view> bridge;
  if (options.bridge_option->count() > 0) bridge = options.bridge;
  const Response response = context.client.Request("GET", targets::kHostPorts);
  // netd lists every bridge's ports; --bridge picks one bridge's here, also from the JSON.
  if (!bridge && PrintedAsJson(context, response)) return kExitOk;
  auto ports = client::DecodeHostPorts(response.body);
  if (bridge && context.json) {
    nlohmann::json body = response.body;
    auto kept = nlohmann::json::array();
    for (std::size_t i = 0; i < ports.size(); ++i) {
      if (ports[i].bridge == *bridge) kept.push_back(body["ports"][i]);
    }
    body["ports"] = std::move(kept);
    context.out << body.dump(2) << '\n';
    return kExitOk;
  }
  if (bridge) {
    std::erase_if(ports, [&](const client::HostPort& port) { return port.bridge != *bridge; });
  }
  if (ports.empty()) {
    context.out << (bridge ? fmt::format("no ports on bridge {}\n", *bridge) : "no ports\n");
    return kExitOk;
  }
  Table table({{"BRIDGE"},
               {"PORT"},
               {"VM"},
               {"MAC"},
               {"ADDRESS"},
               {"STATE"},
               {"FLOWS"},
               {"PEERS"},
               {"REASON"}});
  for (const auto& port : ports) {
    auto peers =
        port.peers.empty() ? std::string("-") : fmt::format("{}", fmt::join(port.peers, ","));
    table.AddRow({port.bridge, port.port, OrDash(port.vm ? port.vm : port.vm_id), OrDash(port.mac),
                  OrDash(port.address), port.state, DescribeFlows(port), peers,
                  OrDash(port.reason)});
  }
  context.out << table.Render();
  return kExitOk;
}

}  // namespace

void RegisterHostCommands(CLI::App& app, Command& command) {
  auto options = std::make_shared<HostOptions>();

  auto* host = app.add_subcommand("host", R"(Show how this VM host's OVS ports are secured

On a VM host netd keeps one Open vSwitch bridge per configured network
(br-secure, br-service, br-datain) with fail_mode=secure, and writes each
bridge's OpenFlow table: a bridge forwards nothing its flows do not allow. A VM
port may send only from its own MAC and the IPv4 address that MAC encodes
(52:54 followed by the address's four octets; any address of the network where
DHCP leases dynamically): IPv4 and ARP from that address and DHCP discovery,
never a DHCP server's answer, IPv6 or other ethertypes. Only a netd with the
host role manages bridges (others refuse with no_host_role). Run
'netctl host COMMAND --help' for each command.)");
  host->require_subcommand(1);
  host->footer(Footer("  netctl host ports\n  netctl host ports --bridge br-secure"));

  auto* host_ports =
      host->add_subcommand("ports", R"(List the ports of netd's bridges and their state

Lists every port of the bridges netd manages on this host, bridge by bridge,
ports by name: the bridge, the port, the VM that libvirt recorded for it
(the libvirt domain's name where netd follows libvirt and knows it, otherwise
external_ids:vm-id), its MAC (external_ids:attached-mac), the IPv4 address
that MAC encodes, the port's state, its flows, and why a port is refused,
stopped, pending or pinned to its MAC alone (REASON). "-" stands for a value
the port does not have. The states:

  forward     the bridge's internal (gateway) port or its uplink: forwards
              normally
  pinned      a VM port pinned to its MAC and the IPv4 address the MAC encodes
              (52:54 followed by the four octets), an address of the
              network's DHCP range
  pinned-mac  a VM port on a network with a dynamic DHCP pool (dhcp_dynamic):
              pinned to its MAC, with any source address of the network
  refused     gets no flows: everything it sends is dropped (REASON says why:
              no attached-mac, a MAC that encodes no address of the range, ...)
  vm-stopped  a VM port whose VM libvirt reports as defined but not running (a
              port left behind): no flows until the VM runs again
  pending     ovs-vswitchd has not given the port an OpenFlow port number
              yet; it gets its flows once it has one, and until then nothing
              it sends passes

FLOWS is the number of flows the port's state gives it: "5 installed" once the
switch acknowledged them (an OpenFlow barrier), "5 pending" until then, "0" for
a port that gets none. PEERS, on the secure network, lists the VMs this VM
reaches because a group (netctl group) joins them; every other VM of the
network is out of its reach. The list is empty until netd has read the bridges from
ovsdb-server.

Needs the service role (root, or netd's service or admin group). A netd
without the host role refuses with no_host_role (exit status 1).)");
  options->bridge_option = host_ports
                               ->add_option("--bridge", options->bridge,
                                            "List only this bridge's ports (br-secure, ...);\n"
                                            "with --json too")
                               ->type_name("NAME")
                               ->check(kNotEmpty);
  host_ports->footer(
      Footer("  netctl host ports\n"
             "  netctl host ports --bridge br-secure\n"
             "  netctl --json host ports | \\\n"
             "      jq -r '.ports[] | select(.state == \"refused\") | \"\\(.port) \\(.reason)\"'"));
  RunsWith<HostOptions>(host_ports, command, options, ListHostPorts);
}

}  // namespace netd::netctl
