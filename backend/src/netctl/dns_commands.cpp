// dns log: the decisions of the secure networks' filtered DNS.
#include <fmt/format.h>

#include "netctl/commands.hpp"
#include "netctl/format.hpp"
#include "netctl/netctl.hpp"
#include "netctl/table.hpp"
#include "netd/client/targets.hpp"

namespace netd::netctl {
namespace {

using client::Response;
namespace targets = client::targets;

// The values of dns log's options.
struct DnsOptions {
  std::string vm;
  std::uint64_t limit = 0;
  // Whether the option was given: netd lists every VM's decisions, and 100, by default.
  const CLI::Option* vm_option = nullptr;
  const CLI::Option* limit_option = nullptr;
};

int ListDnsLog(const Context& context, const DnsOptions& options) {
  std::optional<std::string_view> vm;
  std::optional<std::uint64_t> limit;
  if (options.vm_option->count() > 0) vm = options.vm;
  if (options.limit_option->count() > 0) limit = options.limit;
  const Response response = context.client.Request("GET", targets::DnsLog(vm, limit));
  if (PrintedAsJson(context, response)) return kExitOk;
  const auto decisions = client::DecodeDnsLog(response.body);
  if (decisions.empty()) {
    context.out << (vm ? fmt::format("no DNS decisions for VM {}\n", *vm) : "no DNS decisions\n");
    return kExitOk;
  }
  Table table({{"TIME (UTC)"}, {"VM"}, {"SOURCE"}, {"NAME"}, {"TYPE"}, {"VERDICT"}, {"OPENED"}});
  for (const auto& decision : decisions) {
    table.AddRow(
        {decision.at, OrDash(decision.vm), decision.source,
         decision.name.empty() ? "-" : decision.name, DnsTypeName(decision.type), decision.verdict,
         decision.opened.empty() ? "-" : fmt::format("{}", fmt::join(decision.opened, ","))});
  }
  context.out << table.Render();
  return kExitOk;
}

}  // namespace

void RegisterDnsCommands(CLI::App& app, Command& command) {
  auto options = std::make_shared<DnsOptions>();

  auto* dns = app.add_subcommand("dns", R"(Read the secure networks' filtered DNS decisions

VMs of a network whose egress is "allowlist" (secure) resolve names only through
netd, on their gateway address, and only the names their allowlist rules name
(lic.example.org exactly, *.example.org any one label below example.org; see
'netctl allowlist --help'). An allowed answer opens the addresses it holds for
that VM alone, on the rule's protocols and ports, for about the answer's time to
live, before the VM sees it ('netctl vm show VM' lists them). Any other name is
refused and never leaves the backend, not even to the upstream resolver. Only a
netd with the gateway role runs the filtered DNS (others refuse with
no_filtered_dns). Run 'netctl dns COMMAND --help' for each command.)");
  dns->require_subcommand(1);
  dns->footer(Footer("  netctl dns log\n  netctl dns log --vm vm-42 --limit 20"));

  auto* dns_log = dns->add_subcommand("log", R"(List the filtered DNS's recent decisions

netd keeps the last 1000 decisions of its filtered DNS in memory (a restart
forgets them). Lists them newest first, one row per query: its time, the VM
("-" for a source that is not a bound secure VM), the source address, the name
("-" for one that is not plain text), the query type, the verdict, and the
addresses the answer opened for the VM (OPENED; not those on the learned-address
deny list, which the VM is not given either). The verdicts:

  allowed           a rule of the VM names the name: asked upstream, the
                    answer's addresses opened before the VM got it
  cached            allowed, answered from netd's cache
  local             one of netd's dns.local_names, answered by netd
  refused           no rule of the VM names the name (or it is not plain text):
                    refused without asking upstream
  qtype_refused     a rule names the name, but none allows the query type
                    (the rule's qtypes, default A and AAAA): refused
  over_name_budget  a new name that only a wildcard rule names, beyond the
                    VM's dns.vm_wildcard_names per dns.vm_wildcard_window_s:
                    refused
  unknown_source    the source is not a bound secure VM: refused
  rate_limited      the VM asked more than dns.vm_queries_per_second: refused
  servfail          the upstream failed, or the kernel refused the addresses
  upstream_timeout  no upstream answer within dns.upstream_timeout_ms
  overloaded        too many queries waiting upstream (dns.max_in_flight)

Needs admin rights (root or netd's admin group, default netd-admin). An invalid
VM id is refused with invalid_vm_id, a --limit outside 1 to 1000 with
invalid_query (exit status 1).)");
  options->vm_option =
      dns_log->add_option("--vm", options->vm, "List only this VM's decisions")->type_name("VM");
  options->limit_option = dns_log
                              ->add_option("--limit", options->limit,
                                           "List at most N decisions, 1 to 1000\n"
                                           "(default 100)")
                              ->type_name("N")
                              ->check(kNotNegative);
  dns_log->footer(
      Footer("  netctl dns log\n"
             "  netctl dns log --vm vm-42 --limit 20\n"
             "  netctl --json dns log --vm vm-42 | \\\n"
             "      jq -r '.decisions[] | select(.verdict == \"refused\") | .name'"));
  RunsWith<DnsOptions>(dns_log, command, options, ListDnsLog);
}

}  // namespace netd::netctl
