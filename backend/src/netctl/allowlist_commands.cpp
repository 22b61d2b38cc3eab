// allowlist list, show, add, rm, assign and unassign: the secure network's egress rules.
#include <fmt/format.h>

#include "netctl/commands.hpp"
#include "netctl/format.hpp"
#include "netctl/netctl.hpp"
#include "netctl/table.hpp"
#include "netd/client/targets.hpp"

namespace netd::netctl {
namespace {

using client::AllowlistRule;
using client::Response;
namespace targets = client::targets;

// The values of the allowlist commands' options (one command runs, each reads its own).
struct AllowlistOptions {
  std::string rule;
  std::string vm;
  client::AllowlistRuleSpec rule_spec;
  std::string comment;
  // Whether --comment was given: an empty one is still a comment, for netd to judge.
  const CLI::Option* comment_option = nullptr;
};

// How many destinations, ports and VMs a cell of `allowlist list` shows; `show` shows them all.
constexpr std::size_t kItemsPerCell = 3;

std::string Joined(const std::vector<std::string>& items) {
  return fmt::format("{}", fmt::join(items, ", "));
}

std::string DescribeVms(const AllowlistRule& rule) {
  if (rule.all_vms) return "* (every secure VM)";
  return rule.vms.empty() ? "none" : Joined(rule.vms);
}

std::vector<std::pair<std::string, std::string>> RuleFields(const AllowlistRule& rule) {
  std::vector<std::pair<std::string, std::string>> fields = {
      {"rule", rule.name},
      {"destinations", Joined(rule.destinations)},
      {"protocol", rule.protocol},
      {"ports", Joined(rule.ports)},
      {"qtypes", Joined(rule.qtypes)},
      {"vms", DescribeVms(rule)},
      {"comment", rule.comment.empty() ? "-" : rule.comment}};
  // The answer to a delete carries the rule as stored, without times and counts.
  if (rule.created_at) fields.emplace_back("created", *rule.created_at);
  if (rule.updated_at) fields.emplace_back("updated", *rule.updated_at);
  if (rule.bound_vms) {
    std::string bound = std::to_string(*rule.bound_vms);
    if (rule.vms_bound && !rule.vms_bound->empty()) {
      bound += fmt::format(" ({})", Joined(*rule.vms_bound));
    }
    fields.emplace_back("bound VMs", bound);
  }
  return fields;
}

int ListRules(const Context& context, const AllowlistOptions&) {
  const Response response = context.client.Request("GET", targets::kAllowlist);
  if (PrintedAsJson(context, response)) return kExitOk;
  const auto rules = client::DecodeAllowlist(response.body);
  if (rules.empty()) {
    context.out << "no allowlist rules\n";
    return kExitOk;
  }
  Table table({{"RULE"},
               {"PROTOCOL"},
               {"PORTS"},
               {"DESTINATIONS"},
               {"VMS"},
               {"BOUND", Align::kRight},
               {"COMMENT"}});
  for (const auto& rule : rules) {
    table.AddRow({rule.name, rule.protocol, Shortened(rule.ports, kItemsPerCell),
                  Shortened(rule.destinations, kItemsPerCell),
                  rule.all_vms ? "*" : Shortened(rule.vms, kItemsPerCell),
                  std::to_string(rule.bound_vms.value_or(0)),
                  rule.comment.empty() ? "-" : rule.comment});
  }
  context.out << table.Render();
  return kExitOk;
}

int ShowRule(const Context& context, const AllowlistOptions& options) {
  const Response response = context.client.Request("GET", targets::Rule(options.rule));
  if (PrintedAsJson(context, response)) return kExitOk;
  context.out << RenderFields(RuleFields(client::Decode<AllowlistRule>(response.body)));
  return kExitOk;
}

int PutRule(const Context& context, const AllowlistOptions& options) {
  client::AllowlistRuleSpec spec = options.rule_spec;
  if (options.comment_option->count() > 0) spec.comment = options.comment;
  const Response response =
      context.client.Request("PUT", targets::Rule(options.rule), nlohmann::json(spec));
  if (PrintedAsJson(context, response)) return kExitOk;
  const auto rule = client::Decode<AllowlistRule>(response.body);
  // 200: a rule of that name existed and has been replaced as a whole.
  context.out << fmt::format("allowlist rule {} {}\n", rule.name,
                             response.status == 201 ? "created" : "updated");
  context.out << RenderFields(RuleFields(rule));
  return kExitOk;
}

int DeleteRule(const Context& context, const AllowlistOptions& options) {
  const Response response = context.client.Request("DELETE", targets::Rule(options.rule));
  if (PrintedAsJson(context, response)) return kExitOk;
  const auto rule = client::DecodeDeletedRule(response.body);
  // The whole rule, so that a mistaken delete can be undone with `allowlist add`.
  context.out << fmt::format("allowlist rule {} deleted; it was:\n", rule.name);
  context.out << RenderFields(RuleFields(rule));
  return kExitOk;
}

// PUT assigns, DELETE unassigns; both answer the rule as it is now.
int ChangeAssignment(const Context& context, const AllowlistOptions& options, const char* method,
                     const char* done) {
  const Response response =
      context.client.Request(method, targets::RuleVm(options.rule, options.vm));
  if (PrintedAsJson(context, response)) return kExitOk;
  const auto rule = client::Decode<AllowlistRule>(response.body);
  context.out << fmt::format("{} {} allowlist rule {}\n", options.vm, done, rule.name);
  context.out << RenderFields(RuleFields(rule));
  return kExitOk;
}

int AssignRule(const Context& context, const AllowlistOptions& options) {
  return ChangeAssignment(context, options, "PUT", "assigned to");
}

int UnassignRule(const Context& context, const AllowlistOptions& options) {
  return ChangeAssignment(context, options, "DELETE", "unassigned from");
}

}  // namespace

void RegisterAllowlistCommands(CLI::App& app, Command& command) {
  auto options = std::make_shared<AllowlistOptions>();

  auto* allowlist = app.add_subcommand("allowlist", R"(Manage the secure network's egress allowlist

VMs of a network whose egress is "allowlist" (secure) reach nothing outside the
enclave but what allowlist rules open for them. A rule names destinations (IPv4
addresses, CIDRs, host names), a protocol, ports, and the VMs it applies to: a
list of VM ids, or "*" for every secure VM, also those bound later. Only a netd
with the gateway role holds rules (others refuse with not_a_gateway). Listing
and showing rules is open to netd's service group; add, rm, assign and unassign
need admin rights (root or netd's admin group, default netd-admin). Run
'netctl allowlist COMMAND --help' for each command.)");
  allowlist->require_subcommand(1);
  allowlist->footer(
      Footer("  netctl allowlist add flexlm --dest lic.example.org --proto tcp \\\n"
             "      --port 27000-27010 --port 1717 --vm vm-42\n"
             "  netctl allowlist list"));

  const std::string rule_help =
      "The rule's name: 1 to 64 characters out of\n"
      "A-Z a-z 0-9 . _ -";
  const std::string assign_vm_help =
      "The VM's id; it must be bound to an allowlisted\n"
      "network (see 'netctl vm bind')";

  auto* allowlist_list = allowlist->add_subcommand("list", R"(List the allowlist rules

One row per rule: its name, protocol, ports, destinations, the VMs it applies
to ("*": every secure VM), how many of those are bound now (BOUND: the VMs the
kernel opens the rule's destinations for) and its comment. Long lists are
shortened to their first three entries and a count ("+2 more"); 'netctl
allowlist show RULE' prints a rule in full.)");
  allowlist_list->footer(Footer("  netctl allowlist list\n  netctl --json allowlist list"));
  RunsWith<AllowlistOptions>(allowlist_list, command, options, ListRules);

  auto* allowlist_show = allowlist->add_subcommand("show", R"(Show one allowlist rule in full

Prints the rule's destinations, protocol, ports, the VMs it applies to, its
comment, when it was created and last updated, and its bound VMs: those of its
VMs that are bound to an allowlisted network now, for which the kernel holds the
rule's destinations. An unknown rule is refused with code no_such_rule (exit
status 1).)");
  allowlist_show->add_option("RULE", options->rule, rule_help)->type_name("")->required();
  allowlist_show->footer(
      Footer("  netctl allowlist show flexlm\n  netctl --json allowlist show flexlm"));
  RunsWith<AllowlistOptions>(allowlist_show, command, options, ShowRule);

  auto* allowlist_add = allowlist->add_subcommand("add", R"(Create or replace an allowlist rule

Sends the whole rule to netd: a rule named RULE that exists is replaced, not
merged, so give every destination, port and VM it is to keep. Destinations must
lie outside the enclave's networks. A host name is matched against the VMs'
queries to the gateway's filtered DNS: lic.example.org exactly, *.example.org
any one label below example.org. The filtered DNS forwards only the query types
of --qtype for those names (A and AAAA when none is given) and refuses the
others: TXT, MX and the like can carry data in their answers. Each VM must be
bound to an allowlisted network (netd refuses others with vm_not_bound or
vm_not_secure). netd checks every value and names the one it refuses, e.g.
field ports[1] for the second port (exit status 1). Prints whether the rule was
created or updated, and the rule.)");
  allowlist_add->add_option("RULE", options->rule, rule_help)->type_name("")->required();
  allowlist_add
      ->add_option("--dest", options->rule_spec.destinations,
                   "A destination: an IPv4 address (203.0.113.7),\n"
                   "a CIDR (203.0.113.0/24) or a host name\n"
                   "(lic.example.org, *.example.org). Repeat the\n"
                   "option or separate with commas")
      ->type_name("DEST")
      ->required()
      ->allow_extra_args(false)
      ->delimiter(',');
  allowlist_add->add_option("--proto", options->rule_spec.protocol, "tcp, udp or both")
      ->type_name("PROTO")
      ->required();
  allowlist_add
      ->add_option("--port", options->rule_spec.ports,
                   "A port (1717) or an inclusive range\n"
                   "(27000-27010). Repeat the option or separate\n"
                   "with commas")
      ->type_name("PORT")
      ->required()
      ->allow_extra_args(false)
      ->delimiter(',');
  allowlist_add
      ->add_option("--qtype", options->rule_spec.qtypes,
                   "A DNS query type the filtered DNS forwards for\n"
                   "the rule's host names: A, AAAA, CAA, CNAME,\n"
                   "HTTPS, MX, NS, PTR, SOA, SRV, SVCB or TXT.\n"
                   "Repeat the option or separate with commas;\n"
                   "default A and AAAA (AAAA answers come back\n"
                   "without their IPv6 addresses)")
      ->type_name("TYPE")
      ->allow_extra_args(false)
      ->delimiter(',');
  auto* add_vm = allowlist_add
                     ->add_option("--vm", options->rule_spec.vms,
                                  "A VM the rule applies to. Repeat the option\n"
                                  "or separate with commas")
                     ->type_name("VM")
                     ->allow_extra_args(false)
                     ->delimiter(',');
  auto* add_all_vms = allowlist_add->add_flag("--all-vms", options->rule_spec.all_vms,
                                              "Apply the rule to every secure VM, also to\n"
                                              "those bound later (instead of --vm)");
  options->comment_option = allowlist_add
                                ->add_option("--comment", options->comment,
                                             "Why the rule exists, up to 256 bytes\n"
                                             "(optional)")
                                ->type_name("TEXT");
  allowlist_add->footer(
      Footer("  netctl allowlist add flexlm --dest lic.example.org --proto tcp \\\n"
             "      --port 27000-27010,1717 --vm vm-42 --vm vm-43 --comment 'FlexLM licences'\n"
             "  netctl allowlist add updates --dest 203.0.113.0/24 --dest '*.example.org' \\\n"
             "      --proto both --port 443 --all-vms\n"
             "  netctl allowlist add flexlm --dest lic.example.org --proto tcp --port 1717 \\\n"
             "      --qtype A --vm vm-42"));
  allowlist_add->callback([&command, options, add_vm, add_all_vms] {
    // Checked here rather than with Option::excludes, which clutters every option's help line.
    if (add_vm->count() == 0 && add_all_vms->count() == 0) {
      throw CLI::RequiredError("--vm or --all-vms");
    }
    if (add_vm->count() > 0 && add_all_vms->count() > 0) {
      throw CLI::ExcludesError("--all-vms", "--vm");
    }
    command = [options](const Context& context) { return PutRule(context, *options); };
  });

  auto* allowlist_rm = allowlist->add_subcommand("rm", R"(Delete an allowlist rule

Removes the rule. Its VMs lose its destinations at once, established connections
included, unless another rule still allows them. Prints the deleted rule (to
re-create it with 'netctl allowlist add'). An unknown rule is refused with code
no_such_rule (exit status 1).)");
  allowlist_rm->add_option("RULE", options->rule, rule_help)->type_name("")->required();
  allowlist_rm->footer(Footer("  netctl allowlist rm flexlm"));
  RunsWith<AllowlistOptions>(allowlist_rm, command, options, DeleteRule);

  auto* allowlist_assign = allowlist->add_subcommand("assign", R"(Add a VM to an allowlist rule

Adds VM to the VMs the rule applies to: it gets the rule's destinations at once.
A VM the rule lists already stays as it is. The VM must be bound to an
allowlisted network: netd refuses a VM that is not bound (vm_not_bound) and one
on an open network such as service or datain (vm_not_secure), exit status 1. A
rule for every VM ("*") is refused with rule_applies_to_all: replace it with a
list of VMs first ('netctl allowlist add RULE ... --vm VM').)");
  allowlist_assign->add_option("RULE", options->rule, rule_help)->type_name("")->required();
  allowlist_assign->add_option("VM", options->vm, assign_vm_help)->type_name("")->required();
  allowlist_assign->footer(Footer("  netctl allowlist assign flexlm vm-44"));
  RunsWith<AllowlistOptions>(allowlist_assign, command, options, AssignRule);

  auto* allowlist_unassign =
      allowlist->add_subcommand("unassign", R"(Remove a VM from an allowlist rule

Removes VM from the VMs the rule applies to: it loses the rule's destinations at
once, established connections included, unless another rule still allows them.
A VM the rule does not list is refused with vm_not_assigned, a rule for every VM
("*") with rule_applies_to_all (exit status 1).)");
  allowlist_unassign->add_option("RULE", options->rule, rule_help)->type_name("")->required();
  allowlist_unassign->add_option("VM", options->vm, "The VM's id")->type_name("")->required();
  allowlist_unassign->footer(Footer("  netctl allowlist unassign flexlm vm-44"));
  RunsWith<AllowlistOptions>(allowlist_unassign, command, options, UnassignRule);
}

}  // namespace netd::netctl
