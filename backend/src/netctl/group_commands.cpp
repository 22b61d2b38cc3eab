// group list, show, add, rm, assign and unassign: the segmentation groups of secure VMs.
#include <fmt/format.h>

#include "netctl/commands.hpp"
#include "netctl/format.hpp"
#include "netctl/netctl.hpp"
#include "netctl/table.hpp"
#include "netd/client/targets.hpp"

namespace netd::netctl {
namespace {

using client::Group;
using client::Response;
namespace targets = client::targets;

// The values of the group commands' options (one command runs, each reads its own).
struct GroupOptions {
  std::string group;
  std::vector<std::string> vms;
  client::GroupSpec spec;
  std::string protocol;
  std::string comment;
  // Whether --protocol and --comment were given: an empty value is still one, for netd to judge.
  const CLI::Option* protocol_option = nullptr;
  const CLI::Option* comment_option = nullptr;
};

// How many members and ports a cell of `group list` shows; `show` shows them all.
constexpr std::size_t kItemsPerCell = 3;

std::vector<std::string> PortTexts(const std::vector<std::uint16_t>& ports) {
  std::vector<std::string> texts;
  for (auto port : ports) texts.push_back(std::to_string(port));
  return texts;
}

// The ports, "every port" where a protocol with ports opens them all, "-" where the protocol has
// none.
std::string DescribeNoPorts(const Group& group) {
  return group.protocol == "tcp" || group.protocol == "udp" ? "every port" : "-";
}

std::vector<std::pair<std::string, std::string>> GroupFields(const Group& group) {
  std::vector<std::pair<std::string, std::string>> fields = {
      {"group", group.name},
      {"network", group.network},
      {"protocol", group.protocol},
      {"ports", group.ports.empty() ? DescribeNoPorts(group)
                                    : fmt::format("{}", fmt::join(PortTexts(group.ports), ", "))},
      {"members",
       group.members.empty() ? "none" : fmt::format("{}", fmt::join(group.members, ", "))},
      {"comment", group.comment.empty() ? "-" : group.comment}};
  if (group.created_at) fields.emplace_back("created", *group.created_at);
  if (group.updated_at) fields.emplace_back("updated", *group.updated_at);
  if (group.bound_members) {
    std::string bound = std::to_string(*group.bound_members);
    if (group.members_bound && !group.members_bound->empty()) {
      bound += fmt::format(" ({})", fmt::join(*group.members_bound, ", "));
    }
    fields.emplace_back("bound members", bound);
  }
  return fields;
}

int ListGroups(const Context& context, const GroupOptions&) {
  const Response response = context.client.Request("GET", targets::kGroups);
  if (PrintedAsJson(context, response)) return kExitOk;
  const auto groups = client::DecodeGroups(response.body);
  if (groups.empty()) {
    context.out << "no groups\n";
    return kExitOk;
  }
  Table table({{"GROUP"},
               {"NETWORK"},
               {"PROTOCOL"},
               {"PORTS"},
               {"MEMBERS"},
               {"BOUND", Align::kRight},
               {"COMMENT"}});
  for (const auto& group : groups) {
    table.AddRow({group.name, group.network, group.protocol,
                  group.ports.empty() ? DescribeNoPorts(group)
                                      : Shortened(PortTexts(group.ports), kItemsPerCell),
                  Shortened(group.members, kItemsPerCell),
                  std::to_string(group.bound_members.value_or(0)),
                  group.comment.empty() ? "-" : group.comment});
  }
  context.out << table.Render();
  return kExitOk;
}

int ShowGroup(const Context& context, const GroupOptions& options) {
  const Response response = context.client.Request("GET", targets::Group(options.group));
  if (PrintedAsJson(context, response)) return kExitOk;
  context.out << RenderFields(GroupFields(client::Decode<Group>(response.body)));
  return kExitOk;
}

int PutGroup(const Context& context, const GroupOptions& options) {
  client::GroupSpec spec = options.spec;
  if (options.protocol_option->count() > 0) spec.protocol = options.protocol;
  if (options.comment_option->count() > 0) spec.comment = options.comment;
  const Response response =
      context.client.Request("PUT", targets::Group(options.group), nlohmann::json(spec));
  if (PrintedAsJson(context, response)) return kExitOk;
  const auto group = client::Decode<Group>(response.body);
  // 200: a group of that name existed and has been replaced as a whole.
  context.out << fmt::format("group {} {}\n", group.name,
                             response.status == 201 ? "created" : "updated");
  context.out << RenderFields(GroupFields(group));
  return kExitOk;
}

int DeleteGroup(const Context& context, const GroupOptions& options) {
  const Response response = context.client.Request("DELETE", targets::Group(options.group));
  if (PrintedAsJson(context, response)) return kExitOk;
  const auto group = client::DecodeDeletedGroup(response.body);
  // The whole group, so that a mistaken delete can be undone with `group add`.
  context.out << fmt::format("group {} deleted; it was:\n", group.name);
  context.out << RenderFields(GroupFields(group));
  return kExitOk;
}

// One call per VM, each reported: a refusal of one does not stop the others, and makes the exit
// status 1. PUT adds, DELETE removes; netd answers the group as it is after each.
int ChangeMembers(const Context& context, const GroupOptions& options, const char* method,
                  const char* done) {
  int status = kExitOk;
  std::optional<Group> last;
  for (const auto& vm : options.vms) {
    try {
      const Response response =
          context.client.Request(method, targets::GroupMember(options.group, vm));
      if (PrintedAsJson(context, response)) continue;
      last = client::Decode<Group>(response.body);
      context.out << fmt::format("{} {} group {}\n", vm, done, options.group);
    } catch (const client::ApiError& refusal) {
      if (context.json) {
        nlohmann::json error = {{"code", refusal.code()}, {"message", refusal.message()}};
        if (refusal.field()) error["field"] = *refusal.field();
        context.out << nlohmann::json{{"error", error}}.dump(2) << '\n';
      }
      context.err << fmt::format("netctl: {}: {}\n", vm, refusal.what());
      status = kExitRefused;
    }
  }
  if (last) context.out << RenderFields(GroupFields(*last));
  return status;
}

int AssignMembers(const Context& context, const GroupOptions& options) {
  return ChangeMembers(context, options, "PUT", "added to");
}

int UnassignMembers(const Context& context, const GroupOptions& options) {
  return ChangeMembers(context, options, "DELETE", "removed from");
}

}  // namespace

void RegisterGroupCommands(CLI::App& app, Command& command) {
  auto options = std::make_shared<GroupOptions>();

  auto* group = app.add_subcommand("group", R"(Manage the segmentation groups of VMs

VMs of the secure network cannot reach each other: the VM hosts drop traffic
between them. A group lets its members reach each other, in both directions, on
one network: on every protocol ("all"), or only on tcp or udp (on the ports
given, or on every port) or icmp. A VM may be a member of several groups; two
VMs reach each other on what the groups they share open. Members are VM ids and
need not be bound yet: a member reaches the others once both are bound on the
group's network. Only a netd with the gateway role holds groups (others refuse
with not_a_gateway); it publishes them to the hosts through the policy
database. Listing and showing groups is open to netd's service group; add, rm,
assign and unassign need admin rights (root or netd's admin group, default
netd-admin). Run 'netctl group COMMAND --help' for each command.)");
  group->require_subcommand(1);
  group->footer(
      Footer("  netctl group add slurm --network secure --member vm-42 --member vm-43 \\\n"
             "      --protocol tcp --port 22 --port 6817\n"
             "  netctl group list"));

  const std::string group_help =
      "The group's name: 1 to 64 characters out of\n"
      "A-Z a-z 0-9 . _ -";
  const std::string vms_help =
      "The VMs' ids, one call to netd each; they need\n"
      "not be bound";

  auto* group_list = group->add_subcommand("list", R"(List the groups

One row per group: its name, network, protocol, ports ("every port" for tcp or
udp without ports, "-" for all and icmp), members, how many of the members are
bound to the group's network now (BOUND) and its comment. Long lists are
shortened to their first three entries and a count ("+2 more"); 'netctl group
show GROUP' prints a group in full.)");
  group_list->footer(Footer("  netctl group list\n  netctl --json group list"));
  RunsWith<GroupOptions>(group_list, command, options, ListGroups);

  auto* group_show = group->add_subcommand("show", R"(Show one group in full

Prints the group's network, protocol, ports, members, comment, when it was
created and last updated, and its bound members: those bound to the group's
network now. An unknown group is refused with code no_such_group (exit status
1).)");
  group_show->add_option("GROUP", options->group, group_help)->type_name("")->required();
  group_show->footer(Footer("  netctl group show slurm\n  netctl --json group show slurm"));
  RunsWith<GroupOptions>(group_show, command, options, ShowGroup);

  auto* group_add = group->add_subcommand("add", R"(Create or replace a group

Sends the whole group to netd: a group named GROUP that exists is replaced, not
merged, so give every member and port it is to keep (to change one member, use
'netctl group assign' or 'unassign'). A member given twice is a member once.
netd checks every value and names the one it refuses, e.g. field members[1] for
the second member or ports[0] for the first port (exit status 1). Prints whether
the group was created or updated, and the group.)");
  group_add->add_option("GROUP", options->group, group_help)->type_name("")->required();
  group_add
      ->add_option("--network", options->spec.network,
                   "The network whose VMs the group holds\n"
                   "(secure)")
      ->type_name("NETWORK")
      ->required();
  group_add
      ->add_option("--member", options->spec.members,
                   "A member's VM id, at most 1024. Repeat the\n"
                   "option or separate with commas")
      ->type_name("VM")
      ->allow_extra_args(false)
      ->delimiter(',');
  options->protocol_option = group_add
                                 ->add_option("--protocol", options->protocol,
                                              "all, tcp, udp or icmp. Default: all (every\n"
                                              "protocol)")
                                 ->type_name("PROTO");
  group_add
      ->add_option("--port", options->spec.ports,
                   "A destination port 1-65535 the group opens,\n"
                   "with --protocol tcp or udp only; at most 64.\n"
                   "Repeat the option or separate with commas.\n"
                   "Default: every port")
      ->type_name("PORT")
      ->allow_extra_args(false)
      ->delimiter(',');
  options->comment_option = group_add
                                ->add_option("--comment", options->comment,
                                             "Why the group exists, up to 256 bytes\n"
                                             "(optional)")
                                ->type_name("TEXT");
  group_add->footer(
      Footer("  netctl group add cluster-7 --network secure --member vm-42,vm-43,vm-44\n"
             "  netctl group add slurm --network secure --member vm-42 --member vm-43 \\\n"
             "      --protocol tcp --port 22,6817 --comment 'Slurm jobs'"));
  RunsWith<GroupOptions>(group_add, command, options, PutGroup);

  auto* group_rm = group->add_subcommand("rm", R"(Delete a group

Removes the group: its members no longer reach each other through it (they
still do through other groups they share). Prints the deleted group (to
re-create it with 'netctl group add'). An unknown group is refused with code
no_such_group (exit status 1).)");
  group_rm->add_option("GROUP", options->group, group_help)->type_name("")->required();
  group_rm->footer(Footer("  netctl group rm slurm"));
  RunsWith<GroupOptions>(group_rm, command, options, DeleteGroup);

  auto* group_assign = group->add_subcommand("assign", R"(Add VMs to a group

Adds each VM to the group's members, with one call to netd per VM, and reports
each; the rest of the group stays as it is. A VM that is a member already stays
one. A refused VM (an invalid id, a group already holding 1024 members) is
reported on stderr and the others still go; the exit status is then 1. Prints
the group as it is after the last change; with --json, netd's answer to each
call.)");
  group_assign->add_option("GROUP", options->group, group_help)->type_name("")->required();
  group_assign->add_option("VM", options->vms, vms_help)->type_name("")->required();
  group_assign->footer(Footer("  netctl group assign slurm vm-44 vm-45"));
  RunsWith<GroupOptions>(group_assign, command, options, AssignMembers);

  auto* group_unassign = group->add_subcommand("unassign", R"(Remove VMs from a group

Removes each VM from the group's members, with one call to netd per VM, and
reports each. A VM that is not a member is refused with vm_not_member, reported
on stderr, and the others still go; the exit status is then 1. Prints the group
as it is after the last change; with --json, netd's answer to each call.)");
  group_unassign->add_option("GROUP", options->group, group_help)->type_name("")->required();
  group_unassign->add_option("VM", options->vms, "The VMs' ids, one call to netd each")
      ->type_name("")
      ->required();
  group_unassign->footer(Footer("  netctl group unassign slurm vm-44"));
  RunsWith<GroupOptions>(group_unassign, command, options, UnassignMembers);
}

}  // namespace netd::netctl
