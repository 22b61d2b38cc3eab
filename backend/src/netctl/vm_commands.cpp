// vm bind, show, list and unbind: a VM's binding to a network.
#include <fmt/format.h>

#include "netctl/commands.hpp"
#include "netctl/format.hpp"
#include "netctl/netctl.hpp"
#include "netctl/table.hpp"
#include "netd/client/targets.hpp"

namespace netd::netctl {
namespace {

using client::Response;
using client::VmBinding;
namespace targets = client::targets;

// The values of the vm commands' options (one command runs, each reads its own).
struct VmOptions {
  std::string vm;
  std::string network;
  std::string hostname;
  // Whether the option was given: an empty --hostname is still a hostname, for netd to judge.
  const CLI::Option* bind_hostname = nullptr;
  const CLI::Option* list_network = nullptr;
};

std::vector<std::pair<std::string, std::string>> BindingFields(const VmBinding& binding) {
  return {{"vm", binding.vm},
          {"network", binding.network},
          {"ip", binding.ip},
          {"mac", binding.mac},
          {"hostname", OrDash(binding.hostname)},
          {"created", binding.created_at}};
}

int BindVm(const Context& context, const VmOptions& options) {
  nlohmann::json request = {{"network", options.network}};
  if (options.bind_hostname->count() > 0) request["hostname"] = options.hostname;
  const Response response = context.client.Request("PUT", targets::Vm(options.vm), request);
  if (PrintedAsJson(context, response)) return kExitOk;
  const auto binding = client::Decode<VmBinding>(response.body);
  if (response.status == 201) {
    context.out << fmt::format("{} bound to {}\n", binding.vm, binding.network);
  } else {
    // 200: bound before this call; the hostname may just have been replaced.
    context.out << fmt::format("{} already bound to {}\n", binding.vm, binding.network);
  }
  context.out << RenderFields(BindingFields(binding));
  return kExitOk;
}

int ShowVm(const Context& context, const VmOptions& options) {
  const Response response = context.client.Request("GET", targets::Vm(options.vm));
  if (PrintedAsJson(context, response)) return kExitOk;
  const auto binding = client::Decode<VmBinding>(response.body);
  auto fields = BindingFields(binding);
  if (binding.lease_state) {
    std::string lease = *binding.lease_state;
    if (binding.lease_expires_at) lease += fmt::format(", expires {}", *binding.lease_expires_at);
    fields.emplace_back("lease", lease);
  }
  // One line per destination the filtered DNS opened for the VM (gateway only).
  for (const auto& learned : binding.dns_learned.value_or(std::vector<client::DnsLearned>())) {
    fields.emplace_back(
        "dns learned", fmt::format("{} {}/{} {}, expires {}", learned.destination, learned.protocol,
                                   learned.port, learned.name, learned.expires_at));
  }
  context.out << RenderFields(fields);
  return kExitOk;
}

int ListVms(const Context& context, const VmOptions& options) {
  std::optional<std::string_view> network;
  if (options.list_network->count() > 0) network = options.network;
  const Response response = context.client.Request("GET", targets::Vms(network));
  if (PrintedAsJson(context, response)) return kExitOk;
  const auto bindings = client::DecodeVms(response.body);
  if (bindings.empty()) {
    context.out << (network ? fmt::format("no VMs bound to {}\n", *network) : "no VMs bound\n");
    return kExitOk;
  }
  Table table({{"VM"}, {"NETWORK"}, {"IP"}, {"MAC"}, {"HOSTNAME"}, {"CREATED"}});
  for (const auto& binding : bindings) {
    table.AddRow({binding.vm, binding.network, binding.ip, binding.mac, OrDash(binding.hostname),
                  binding.created_at});
  }
  context.out << table.Render();
  return kExitOk;
}

int UnbindVm(const Context& context, const VmOptions& options) {
  const Response response = context.client.Request("DELETE", targets::Vm(options.vm));
  if (PrintedAsJson(context, response)) return kExitOk;
  const auto binding = client::DecodeUnbound(response.body);
  context.out << fmt::format("{} unbound from {}; released {} ({})\n", binding.vm, binding.network,
                             binding.ip, binding.mac);
  return kExitOk;
}

}  // namespace

void RegisterVmCommands(CLI::App& app, Command& command) {
  auto options = std::make_shared<VmOptions>();

  auto* vm = app.add_subcommand("vm", R"(Bind, show, list and unbind VMs

A binding ties a VM to one network with an IP address from that network's DHCP
range and the MAC address derived from it (52:54 followed by the four octets of
the IP). Run 'netctl vm COMMAND --help' for each command.)");
  vm->require_subcommand(1);
  vm->footer(Footer("  netctl vm bind vm-42 --network secure\n  netctl vm list"));

  const std::string vm_id_help =
      "The VM's id: 1 to 64 characters out of\n"
      "A-Z a-z 0-9 . _ -";
  auto* bind = vm->add_subcommand("bind", R"(Bind a VM to a network

Allocates the lowest free IP address of NETWORK's DHCP range for VM, and the MAC
address that encodes it (52:54 followed by the IP's four octets). Idempotent:
binding a VM again to the same network keeps its addresses (a different
--hostname replaces the hostname) and prints the binding. A VM bound to another network must be unbound
first (netd refuses, exit status 1).)");
  bind->add_option("VM", options->vm, vm_id_help)->type_name("")->required();
  bind->add_option("--network", options->network,
                   "The network to bind to: secure, service, datain or\n"
                   "another configured network (see 'netctl networks')")
      ->type_name("NETWORK")
      ->required();
  options->bind_hostname = bind->add_option("--hostname", options->hostname,
                                            "The hostname the VM gets with its DHCP lease\n"
                                            "(optional)")
                               ->type_name("HOSTNAME");
  bind->footer(
      Footer("  netctl vm bind vm-42 --network secure\n"
             "  netctl vm bind vm-42 --network secure --hostname analysis-42\n"
             "  netctl --json vm bind vm-43 --network service | jq -r .ip"));
  RunsWith<VmOptions>(bind, command, options, BindVm);

  auto* show = vm->add_subcommand("show", R"(Show one VM's binding

Prints the VM's network, IP address, MAC address, hostname and when it was
bound. A netd with the gateway role adds the VM's DHCP lease (active or expired,
with its expiry; none when the VM has not taken it) and one "dns learned" line
per destination its filtered DNS has opened for the VM: the address, protocol
and port, the name whose answer held the address, and when it closes again
(see 'netctl dns --help'). A VM that is not bound is refused with code
vm_not_bound (exit status 1).)");
  show->add_option("VM", options->vm, vm_id_help)->type_name("")->required();
  show->footer(Footer("  netctl vm show vm-42\n  netctl --json vm show vm-42"));
  RunsWith<VmOptions>(show, command, options, ShowVm);

  auto* list = vm->add_subcommand("list", R"(List bound VMs

One row per bound VM, optionally only those of one network.)");
  options->list_network =
      list->add_option("--network", options->network, "List only the VMs bound to NETWORK")
          ->type_name("NETWORK");
  list->footer(Footer("  netctl vm list\n  netctl vm list --network secure"));
  RunsWith<VmOptions>(list, command, options, ListVms);

  auto* unbind = vm->add_subcommand("unbind", R"(Unbind a VM and release its addresses

Removes the VM's binding and releases its IP and MAC addresses for the next VM.
A VM that is not bound is refused with code vm_not_bound (exit status 1).)");
  unbind->add_option("VM", options->vm, vm_id_help)->type_name("")->required();
  unbind->footer(Footer("  netctl vm unbind vm-42"));
  RunsWith<VmOptions>(unbind, command, options, UnbindVm);
}

}  // namespace netd::netctl
