// forward open, list, renew and close: kernel port forwards from one client to a VM.
#include <fmt/format.h>

#include "netctl/commands.hpp"
#include "netctl/netctl.hpp"
#include "netctl/table.hpp"
#include "netd/client/targets.hpp"

namespace netd::netctl {
namespace {

using client::Response;
namespace targets = client::targets;

// The values of the forward commands' options (one command runs, each reads its own).
struct ForwardOptions {
  client::ForwardSpec forward_spec;
  std::string forward_id;
  std::int64_t ttl_s = 0;
  // Whether the option was given: netd's defaults apply to the others.
  const CLI::Option* open_port = nullptr;
  const CLI::Option* open_ttl = nullptr;
  const CLI::Option* renew_ttl = nullptr;
};

std::vector<std::pair<std::string, std::string>> ForwardFields(const client::Forward& forward) {
  return {{"forward", forward.id},
          {"client", forward.client_ip},
          {"connect to",
           fmt::format("{}:{}", forward.listen_ip.value_or("(gateway)"), forward.listen_port)},
          {"reaches", fmt::format("{} {}:{}", forward.vm, forward.vm_ip, forward.vm_port)},
          {"created", forward.created_at},
          {"expires", fmt::format("{} (in {} s)", forward.expires_at, forward.expires_in_s)}};
}

int OpenForward(const Context& context, const ForwardOptions& options) {
  client::ForwardSpec spec = options.forward_spec;
  if (options.open_port->count() == 0) spec.port.reset();
  if (options.open_ttl->count() == 0) spec.ttl_s.reset();
  const Response response =
      context.client.Request("POST", targets::kForwards, nlohmann::json(spec));
  if (PrintedAsJson(context, response)) return kExitOk;
  const auto forward = client::Decode<client::Forward>(response.body);
  context.out << fmt::format("forward {} opened for {}\n", forward.id, forward.client_ip);
  context.out << RenderFields(ForwardFields(forward));
  return kExitOk;
}

int ListForwards(const Context& context, const ForwardOptions&) {
  const Response response = context.client.Request("GET", targets::kForwards);
  if (PrintedAsJson(context, response)) return kExitOk;
  const auto forwards = client::DecodeForwards(response.body);
  if (forwards.empty()) {
    context.out << "no forwards\n";
    return kExitOk;
  }
  Table table({{"ID"},
               {"CLIENT"},
               {"LISTEN", Align::kRight},
               {"VM"},
               {"VM ADDRESS"},
               {"EXPIRES IN", Align::kRight}});
  for (const auto& forward : forwards) {
    table.AddRow({forward.id, forward.client_ip, std::to_string(forward.listen_port), forward.vm,
                  fmt::format("{}:{}", forward.vm_ip, forward.vm_port),
                  fmt::format("{} s", forward.expires_in_s)});
  }
  context.out << table.Render();
  return kExitOk;
}

int RenewForward(const Context& context, const ForwardOptions& options) {
  nlohmann::json body = nlohmann::json::object();
  if (options.renew_ttl->count() > 0) body["ttl_s"] = options.ttl_s;
  const Response response =
      context.client.Request("POST", targets::Forward(options.forward_id) + "/renew", body);
  if (PrintedAsJson(context, response)) return kExitOk;
  const auto forward = client::Decode<client::Forward>(response.body);
  context.out << fmt::format("forward {} renewed\n", forward.id);
  context.out << RenderFields(ForwardFields(forward));
  return kExitOk;
}

int CloseForward(const Context& context, const ForwardOptions& options) {
  const Response response = context.client.Request("DELETE", targets::Forward(options.forward_id));
  if (PrintedAsJson(context, response)) return kExitOk;
  const auto forward = client::DecodeClosedForward(response.body);
  context.out << fmt::format("forward {} closed; its sessions are cut\n", forward.id);
  context.out << RenderFields(ForwardFields(forward));
  return kExitOk;
}

}  // namespace

void RegisterForwardCommands(CLI::App& app, Command& command) {
  auto options = std::make_shared<ForwardOptions>();

  auto* forward = app.add_subcommand("forward", R"(Open, list, renew and close kernel port forwards

A forward lets one client IP reach a VM's port (22 unless netd allows others:
gateway.forward_vm_ports) through a port of the backend's external address,
allocated from gateway.forward_ports (default 6000-6100) per client IP. netd
translates it in the kernel (nftables DNAT): no byte passes through userspace,
and the same port from any other address is dropped. A forward expires after its
time to live unless renewed; closing, expiry or unbinding the VM cut its open
sessions. Needs the service role. Run 'netctl forward COMMAND --help' for each
command.)");
  forward->require_subcommand(1);
  forward->footer(
      Footer("  netctl forward open vm-42 --client 198.51.100.7 --ttl 3600\n"
             "  netctl forward list\n"
             "  netctl forward close fwd-5c1e0a9b77f2"));
  const std::string forward_id_help = "The forward's id, as open and list print it";

  auto* forward_open = forward->add_subcommand("open", R"(Open a forward to a VM for one client

Allocates the lowest port of gateway.forward_ports that the client IP does not use
and prints where the client connects to. A client that holds a forward on every
port of the range is refused with forward_ports_exhausted (exit status 1); so
are an address that is not unicast IPv4 or lies inside an enclave network
(invalid_client_ip), a VM port netd does not allow (port_not_allowed) and a VM
that is not bound (vm_not_bound).)");
  forward_open->add_option("VM", options->forward_spec.vm, "The bound VM to reach")
      ->type_name("")
      ->required();
  forward_open
      ->add_option("--client", options->forward_spec.client_ip,
                   "The one IPv4 address the forward serves")
      ->type_name("IP")
      ->required();
  options->open_port =
      forward_open->add_option("--port", options->forward_spec.port, "The VM's port (default 22)")
          ->type_name("PORT");
  options->open_ttl = forward_open
                          ->add_option("--ttl", options->forward_spec.ttl_s,
                                       "Seconds until it expires (default\n"
                                       "gateway.forward_ttl_s, 3600)")
                          ->type_name("SECONDS");
  forward_open->footer(
      Footer("  netctl forward open vm-42 --client 198.51.100.7\n"
             "  netctl forward open vm-42 --client 198.51.100.7 --ttl 600"));
  RunsWith<ForwardOptions>(forward_open, command, options, OpenForward);

  auto* forward_list = forward->add_subcommand("list", R"(List the open forwards

One line per forward: id, client, listen port, VM, the VM's address and port,
and the seconds until it expires.)");
  forward_list->footer(Footer("  netctl forward list\n  netctl --json forward list"));
  RunsWith<ForwardOptions>(forward_list, command, options, ListForwards);

  auto* forward_renew = forward->add_subcommand("renew", R"(Extend a forward's life

The forward expires TTL seconds from now (default gateway.forward_ttl_s), its
port and sessions unchanged. An unknown id is refused with no_such_forward.)");
  forward_renew->add_option("ID", options->forward_id, forward_id_help)->type_name("")->required();
  options->renew_ttl =
      forward_renew->add_option("--ttl", options->ttl_s, "Seconds from now")->type_name("SECONDS");
  forward_renew->footer(Footer("  netctl forward renew fwd-5c1e0a9b77f2 --ttl 3600"));
  RunsWith<ForwardOptions>(forward_renew, command, options, RenewForward);

  auto* forward_close = forward->add_subcommand("close", R"(Close a forward

Removes the forward and cuts its open sessions. Prints what was closed.)");
  forward_close->add_option("ID", options->forward_id, forward_id_help)->type_name("")->required();
  forward_close->footer(Footer("  netctl forward close fwd-5c1e0a9b77f2"));
  RunsWith<ForwardOptions>(forward_close, command, options, CloseForward);
}

}  // namespace netd::netctl
