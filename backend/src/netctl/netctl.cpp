#include "netctl/netctl.hpp"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <sstream>
#include <string_view>
#include <vector>

#include "netctl/format.hpp"
#include "netctl/table.hpp"
#include "netd/client/client.hpp"
#include "netd/client/targets.hpp"

namespace netd::netctl {
namespace {

using client::AllowlistRule;
using client::Client;
using client::Response;
using client::VmBinding;
namespace targets = client::targets;

// CLI11 lists subcommands with their whole description; the list shows only the first line (the
// summary) and a subcommand's own --help shows all of it.
class SummaryListFormatter : public CLI::Formatter {
 public:
  std::string make_subcommand(const CLI::App* subcommand) const override {
    const std::string& description = subcommand->get_description();
    std::stringstream out;
    CLI::detail::format_help(out, subcommand->get_display_name(true),
                             description.substr(0, description.find('\n')), column_width_);
    return out.str();
  }

  // A blank line between the description and the usage line that follows it.
  std::string make_description(const CLI::App* app) const override {
    return CLI::Formatter::make_description(app) + "\n";
  }
};

constexpr std::string_view kExitStatus = R"text(EXIT STATUS
  0  success
  1  netd refused the request; stderr reads
       netctl: <message> (<code>[, field <field>])
     also: audit --verify found the chain broken
  2  usage error: unknown command, missing or malformed argument
  3  netd not reachable at the socket (missing, connection refused, permission
     denied, no complete answer within --timeout), or not answering in netd's
     protocol)text";

std::string ExamplesAndExitStatus(std::string_view examples) {
  return fmt::format("EXAMPLES\n{}\n\n{}\n", examples, kExitStatus);
}

// A subcommand's help does not list the global options; point at them.
std::string Footer(std::string_view examples) {
  return "GLOBAL OPTIONS\n  --socket PATH, --json, --timeout SECONDS: see 'netctl --help'\n\n" +
         ExamplesAndExitStatus(examples);
}

// An option whose value names something ("--bridge ''" would match nothing).
const CLI::Validator kNotEmpty(
    [](const std::string& value) {
      return value.empty() ? std::string("must not be empty") : std::string();
    },
    "");

// CLI11 reads "-1" into an unsigned option as a huge number; refuse it instead.
const CLI::Validator kNotNegative(
    [](const std::string& value) {
      return value.starts_with('-') ? std::string("must not be negative") : std::string();
    },
    "");

constexpr double kMaxTimeoutSeconds = 86400;
const CLI::Validator kTimeoutSeconds(
    [](const std::string& value) {
      char* end = nullptr;
      const double seconds = std::strtod(value.c_str(), &end);
      const bool valid =
          end != value.c_str() && *end == '\0' && seconds > 0 && seconds <= kMaxTimeoutSeconds;
      return valid ? std::string()
                   : fmt::format("must be a number of seconds above 0, at most {}",
                                 kMaxTimeoutSeconds);
    },
    "");

// What the command line asked for.
struct Invocation {
  std::string socket_path;
  bool json = false;
  double timeout_s = 10;
  std::string vm;
  std::string network;
  std::string hostname;
  std::uint64_t after = 0;
  std::uint64_t limit = 0;
  bool verify = false;
  std::string rule;
  client::AllowlistRuleSpec rule_spec;
  std::string comment;
  client::ForwardSpec forward_spec;
  std::string forward_id;
  std::int64_t ttl_s = 0;
  std::string bridge;
};

struct Context {
  const Client& client;
  const Invocation& invocation;
  // Options whose absence matters (an empty --hostname is still a hostname, for netd to judge).
  bool has_list_network = false;
  bool has_dns_vm = false;
  bool has_hostname = false;
  bool has_after = false;
  bool has_limit = false;
  bool has_comment = false;
  bool has_ttl = false;
  bool has_port = false;
  bool has_bridge = false;
  std::ostream& out;
  std::ostream& err;
};

using Command = std::function<int(const Context&)>;

// With --json, prints netd's response body unchanged and returns true.
bool PrintedAsJson(const Context& context, const Response& response) {
  if (!context.invocation.json) return false;
  context.out << response.body.dump(2) << '\n';
  return true;
}

std::vector<std::pair<std::string, std::string>> BindingFields(const VmBinding& binding) {
  return {{"vm", binding.vm},
          {"network", binding.network},
          {"ip", binding.ip},
          {"mac", binding.mac},
          {"hostname", OrDash(binding.hostname)},
          {"created", binding.created_at}};
}

int ShowStatus(const Context& context) {
  const Response response = context.client.Request("GET", targets::kStatus);
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
  const Response response = context.client.Request("GET", targets::kNetworks);
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

int BindVm(const Context& context) {
  const Invocation& invocation = context.invocation;
  nlohmann::json request = {{"network", invocation.network}};
  if (context.has_hostname) request["hostname"] = invocation.hostname;
  const Response response = context.client.Request("PUT", targets::Vm(invocation.vm), request);
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

int ShowVm(const Context& context) {
  const Response response = context.client.Request("GET", targets::Vm(context.invocation.vm));
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

int ListVms(const Context& context) {
  std::optional<std::string_view> network;
  if (context.has_list_network) network = context.invocation.network;
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

int UnbindVm(const Context& context) {
  const Response response = context.client.Request("DELETE", targets::Vm(context.invocation.vm));
  if (PrintedAsJson(context, response)) return kExitOk;
  const auto binding = client::DecodeUnbound(response.body);
  context.out << fmt::format("{} unbound from {}; released {} ({})\n", binding.vm, binding.network,
                             binding.ip, binding.mac);
  return kExitOk;
}

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

int ListRules(const Context& context) {
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

int ShowRule(const Context& context) {
  const Response response = context.client.Request("GET", targets::Rule(context.invocation.rule));
  if (PrintedAsJson(context, response)) return kExitOk;
  context.out << RenderFields(RuleFields(client::Decode<AllowlistRule>(response.body)));
  return kExitOk;
}

int PutRule(const Context& context) {
  const Invocation& invocation = context.invocation;
  client::AllowlistRuleSpec spec = invocation.rule_spec;
  if (context.has_comment) spec.comment = invocation.comment;
  const Response response =
      context.client.Request("PUT", targets::Rule(invocation.rule), nlohmann::json(spec));
  if (PrintedAsJson(context, response)) return kExitOk;
  const auto rule = client::Decode<AllowlistRule>(response.body);
  // 200: a rule of that name existed and has been replaced as a whole.
  context.out << fmt::format("allowlist rule {} {}\n", rule.name,
                             response.status == 201 ? "created" : "updated");
  context.out << RenderFields(RuleFields(rule));
  return kExitOk;
}

int DeleteRule(const Context& context) {
  const Response response =
      context.client.Request("DELETE", targets::Rule(context.invocation.rule));
  if (PrintedAsJson(context, response)) return kExitOk;
  const auto rule = client::DecodeDeletedRule(response.body);
  // The whole rule, so that a mistaken delete can be undone with `allowlist add`.
  context.out << fmt::format("allowlist rule {} deleted; it was:\n", rule.name);
  context.out << RenderFields(RuleFields(rule));
  return kExitOk;
}

// PUT assigns, DELETE unassigns; both answer the rule as it is now.
int ChangeAssignment(const Context& context, const char* method, const char* done) {
  const Invocation& invocation = context.invocation;
  const Response response =
      context.client.Request(method, targets::RuleVm(invocation.rule, invocation.vm));
  if (PrintedAsJson(context, response)) return kExitOk;
  const auto rule = client::Decode<AllowlistRule>(response.body);
  context.out << fmt::format("{} {} allowlist rule {}\n", invocation.vm, done, rule.name);
  context.out << RenderFields(RuleFields(rule));
  return kExitOk;
}

int AssignRule(const Context& context) {
  return ChangeAssignment(context, "PUT", "assigned to");
}

int UnassignRule(const Context& context) {
  return ChangeAssignment(context, "DELETE", "unassigned from");
}

std::vector<std::pair<std::string, std::string>> ForwardFields(const client::Forward& forward) {
  return {{"forward", forward.id},
          {"client", forward.client_ip},
          {"connect to",
           fmt::format("{}:{}", forward.listen_ip.value_or("(gateway)"), forward.listen_port)},
          {"reaches", fmt::format("{} {}:{}", forward.vm, forward.vm_ip, forward.vm_port)},
          {"created", forward.created_at},
          {"expires", fmt::format("{} (in {} s)", forward.expires_at, forward.expires_in_s)}};
}

int OpenForward(const Context& context) {
  client::ForwardSpec spec = context.invocation.forward_spec;
  if (!context.has_port) spec.port.reset();
  if (!context.has_ttl) spec.ttl_s.reset();
  const Response response =
      context.client.Request("POST", targets::kForwards, nlohmann::json(spec));
  if (PrintedAsJson(context, response)) return kExitOk;
  const auto forward = client::Decode<client::Forward>(response.body);
  context.out << fmt::format("forward {} opened for {}\n", forward.id, forward.client_ip);
  context.out << RenderFields(ForwardFields(forward));
  return kExitOk;
}

int ListForwards(const Context& context) {
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

int RenewForward(const Context& context) {
  nlohmann::json body = nlohmann::json::object();
  if (context.has_ttl) body["ttl_s"] = context.invocation.ttl_s;
  const Response response = context.client.Request(
      "POST", targets::Forward(context.invocation.forward_id) + "/renew", body);
  if (PrintedAsJson(context, response)) return kExitOk;
  const auto forward = client::Decode<client::Forward>(response.body);
  context.out << fmt::format("forward {} renewed\n", forward.id);
  context.out << RenderFields(ForwardFields(forward));
  return kExitOk;
}

int CloseForward(const Context& context) {
  const Response response =
      context.client.Request("DELETE", targets::Forward(context.invocation.forward_id));
  if (PrintedAsJson(context, response)) return kExitOk;
  const auto forward = client::DecodeClosedForward(response.body);
  context.out << fmt::format("forward {} closed; its sessions are cut\n", forward.id);
  context.out << RenderFields(ForwardFields(forward));
  return kExitOk;
}

std::string DescribeResult(const client::AuditRecord& record) {
  if (record.result == "ok") return fmt::format("ok {}", record.status);
  return fmt::format("{} {} {}", record.result, record.status, OrDash(record.error_code));
}

int ListAudit(const Context& context) {
  std::optional<std::uint64_t> after;
  std::optional<std::uint64_t> limit;
  if (context.has_after) after = context.invocation.after;
  if (context.has_limit) limit = context.invocation.limit;
  const Response response = context.client.Request("GET", targets::Audit(after, limit));
  if (PrintedAsJson(context, response)) return kExitOk;
  const auto page = client::Decode<client::AuditPage>(response.body);
  if (page.records.empty()) {
    context.out << (after ? fmt::format("no audit records after {}\n", *after)
                          : "no audit records\n");
    return kExitOk;
  }
  Table table({{"SEQ", Align::kRight},
               {"TIME (UTC)"},
               {"ACTION"},
               {"OBJECT"},
               {"RESULT"},
               {"UID", Align::kRight},
               {"PID", Align::kRight},
               {"EXE"}});
  for (const auto& record : page.records) {
    if (record.unparsable) {
      table.AddRow({std::to_string(record.seq), "-", "-", "-", "unparsable record", "-", "-", "-"});
      continue;
    }
    table.AddRow({std::to_string(record.seq), FormatUnixMillis(record.time_ms), record.action,
                  record.object, DescribeResult(record), std::to_string(record.caller.uid),
                  std::to_string(record.caller.pid), record.caller.exe});
  }
  context.out << table.Render();
  // A full page may have more behind it: say how to read on.
  if (limit && page.records.size() == *limit && page.next_after) {
    context.out << fmt::format("more may follow: netctl audit --after {} --limit {}\n",
                               *page.next_after, *limit);
  }
  return kExitOk;
}

int VerifyAudit(const Context& context) {
  const Response response = context.client.Request("GET", targets::kAuditVerify);
  const bool printed = PrintedAsJson(context, response);
  const auto verification = client::Decode<client::AuditVerification>(response.body);
  if (verification.ok) {
    if (!printed) {
      context.out << fmt::format("audit chain intact: {} records\n", verification.length);
    }
    return kExitOk;
  }
  const std::string where = verification.first_bad_seq
                                ? fmt::format("record {}", *verification.first_bad_seq)
                                : std::string("an unknown record");
  context.err << fmt::format("netctl: audit chain broken at {} of {}: {}\n", where,
                             verification.length, verification.reason.value_or("no reason given"));
  return kExitRefused;
}

int ListDnsLog(const Context& context) {
  std::optional<std::string_view> vm;
  std::optional<std::uint64_t> limit;
  if (context.has_dns_vm) vm = context.invocation.vm;
  if (context.has_limit) limit = context.invocation.limit;
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

// "5 installed" once the switch acknowledged the port's flows, "5 pending" before; "0" for a
// port that gets none (refused, pending).
std::string DescribeFlows(const client::HostPort& port) {
  if (port.flows == 0) return "0";
  return fmt::format("{} {}", port.flows, port.flows_installed ? "installed" : "pending");
}

int ListHostPorts(const Context& context) {
  std::optional<std::string_view> bridge;
  if (context.has_bridge) bridge = context.invocation.bridge;
  const Response response = context.client.Request("GET", targets::kHostPorts);
  // netd lists every bridge's ports; --bridge picks one bridge's here, also from the JSON.
  if (!bridge && PrintedAsJson(context, response)) return kExitOk;
  auto ports = client::DecodeHostPorts(response.body);
  if (bridge && context.invocation.json) {
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
  Table table(
      {{"BRIDGE"}, {"PORT"}, {"VM"}, {"MAC"}, {"ADDRESS"}, {"STATE"}, {"FLOWS"}, {"REASON"}});
  for (const auto& port : ports) {
    table.AddRow({port.bridge, port.port, OrDash(port.vm ? port.vm : port.vm_id), OrDash(port.mac),
                  OrDash(port.address), port.state, DescribeFlows(port), OrDash(port.reason)});
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

std::string DescribeSocketSource(const std::optional<std::string>& from_option,
                                 const std::optional<std::string>& from_environment) {
  if (from_option && !from_option->empty()) return "socket path from --socket";
  if (from_environment && !from_environment->empty()) {
    return fmt::format("socket path from {}", kSocketEnvironmentVariable);
  }
  return fmt::format("the default socket path; set --socket or {} for another",
                     kSocketEnvironmentVariable);
}

// Usage errors in netctl's own voice, pointing at the help.
std::string DescribeUsageError(const CLI::App*, const CLI::Error& error) {
  return fmt::format("netctl: {}\nRun 'netctl --help' or 'netctl COMMAND --help' for usage.\n",
                     error.what());
}

constexpr const char* kNetctlDescription =
    R"(netctl - control netd, the enclave's network control plane

netctl talks to netd's control API (HTTP and JSON over netd's unix socket). It
binds VMs to the enclave's networks, manages the secure network's egress
allowlist and the kernel port forwards to VMs, shows what netd holds, what its
filtered DNS decided and how a VM host's Open vSwitch ports are secured, and
reads and checks the audit chain. Output is aligned tables for people; --json
prints netd's JSON response unchanged, for scripts. Global options (--socket,
--json, --timeout) may come before or after the command.)";

constexpr const char* kNetctlExamples = R"(  netctl status
  netctl networks
  netctl vm bind vm-42 --network secure --hostname analysis-42
  netctl --json vm list --network secure
  netctl allowlist add flexlm --dest lic.example.org --proto tcp --port 1717 \
      --vm vm-42
  netctl forward open vm-42 --client 198.51.100.7
  netctl dns log --vm vm-42
  netctl host ports --bridge br-secure
  NETD_SOCKET=/tmp/netd/s.sock netctl audit --verify

ENVIRONMENT
  NETD_SOCKET  the socket path when --socket is not given
               (default /run/netd/netd.sock))";

}  // namespace

std::string ResolveSocketPath(const std::optional<std::string>& from_option,
                              const std::optional<std::string>& from_environment) {
  if (from_option && !from_option->empty()) return *from_option;
  if (from_environment && !from_environment->empty()) return *from_environment;
  return std::string(client::kDefaultSocketPath);
}

int RunNetctl(int argc, const char* const* argv,
              const std::optional<std::string>& socket_from_environment, std::ostream& out,
              std::ostream& err) {
  Invocation invocation;
  Command command;

  CLI::App app(kNetctlDescription, "netctl");
  app.formatter(std::make_shared<SummaryListFormatter>());
  app.failure_message(DescribeUsageError);
  // Set before adding subcommands, which inherit it: global options work after the command too.
  app.fallthrough();
  app.require_subcommand(1);
  app.footer(ExamplesAndExitStatus(kNetctlExamples) +
             "\nRun 'netctl COMMAND --help' for each command.");
  auto* socket_option = app.add_option("--socket", invocation.socket_path,
                                       "netd's control socket. Default: $NETD_SOCKET if\n"
                                       "set, else /run/netd/netd.sock")
                            ->type_name("PATH");
  app.add_flag("--json", invocation.json,
               "Print netd's JSON response body unchanged\n"
               "(pretty-printed) instead of a table. On a\n"
               "refusal, netd's error body goes to stdout too.");
  app.add_option("--timeout", invocation.timeout_s,
                 "Give up when netd has not answered completely\n"
                 "within SECONDS (exit status 3). Default: 10")
      ->type_name("SECONDS")
      ->check(kTimeoutSeconds);

  auto* status = app.add_subcommand("status", R"(Show netd's version, roles, uptime and counts

Prints netd's version, its roles (gateway, host), when it started and its
uptime, the number of bound VMs in total and per network, the length of the
audit chain, the last reconcile pass and the number of drift repairs so far.)");
  status->footer(Footer("  netctl status\n  netctl --json status | jq .vms.by_network"));
  status->callback([&] { command = ShowStatus; });

  auto* networks = app.add_subcommand("networks", R"(List the configured networks and their state

One row per network: its name, OVS bridge, VLAN, CIDR, gateway address, DHCP
range, egress policy ("allowlist": denied except per-VM allowlists; "open":
masqueraded), the number of bound VMs and of free addresses in its DHCP range.)");
  networks->footer(Footer("  netctl networks\n  netctl --json networks"));
  networks->callback([&] { command = ShowNetworks; });

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
  bind->add_option("VM", invocation.vm, vm_id_help)->type_name("")->required();
  bind->add_option("--network", invocation.network,
                   "The network to bind to: secure, service, datain or\n"
                   "another configured network (see 'netctl networks')")
      ->type_name("NETWORK")
      ->required();
  auto* bind_hostname = bind->add_option("--hostname", invocation.hostname,
                                         "The hostname the VM gets with its DHCP lease\n"
                                         "(optional)")
                            ->type_name("HOSTNAME");
  bind->footer(
      Footer("  netctl vm bind vm-42 --network secure\n"
             "  netctl vm bind vm-42 --network secure --hostname analysis-42\n"
             "  netctl --json vm bind vm-43 --network service | jq -r .ip"));
  bind->callback([&] { command = BindVm; });

  auto* show = vm->add_subcommand("show", R"(Show one VM's binding

Prints the VM's network, IP address, MAC address, hostname and when it was
bound. A netd with the gateway role adds the VM's DHCP lease (active or expired,
with its expiry; none when the VM has not taken it) and one "dns learned" line
per destination its filtered DNS has opened for the VM: the address, protocol
and port, the name whose answer held the address, and when it closes again
(see 'netctl dns --help'). A VM that is not bound is refused with code
vm_not_bound (exit status 1).)");
  show->add_option("VM", invocation.vm, vm_id_help)->type_name("")->required();
  show->footer(Footer("  netctl vm show vm-42\n  netctl --json vm show vm-42"));
  show->callback([&] { command = ShowVm; });

  auto* list = vm->add_subcommand("list", R"(List bound VMs

One row per bound VM, optionally only those of one network.)");
  auto* list_network =
      list->add_option("--network", invocation.network, "List only the VMs bound to NETWORK")
          ->type_name("NETWORK");
  list->footer(Footer("  netctl vm list\n  netctl vm list --network secure"));
  list->callback([&] { command = ListVms; });

  auto* unbind = vm->add_subcommand("unbind", R"(Unbind a VM and release its addresses

Removes the VM's binding and releases its IP and MAC addresses for the next VM.
A VM that is not bound is refused with code vm_not_bound (exit status 1).)");
  unbind->add_option("VM", invocation.vm, vm_id_help)->type_name("")->required();
  unbind->footer(Footer("  netctl vm unbind vm-42"));
  unbind->callback([&] { command = UnbindVm; });

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
  allowlist_list->callback([&] { command = ListRules; });

  auto* allowlist_show = allowlist->add_subcommand("show", R"(Show one allowlist rule in full

Prints the rule's destinations, protocol, ports, the VMs it applies to, its
comment, when it was created and last updated, and its bound VMs: those of its
VMs that are bound to an allowlisted network now, for which the kernel holds the
rule's destinations. An unknown rule is refused with code no_such_rule (exit
status 1).)");
  allowlist_show->add_option("RULE", invocation.rule, rule_help)->type_name("")->required();
  allowlist_show->footer(
      Footer("  netctl allowlist show flexlm\n  netctl --json allowlist show flexlm"));
  allowlist_show->callback([&] { command = ShowRule; });

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
  allowlist_add->add_option("RULE", invocation.rule, rule_help)->type_name("")->required();
  allowlist_add
      ->add_option("--dest", invocation.rule_spec.destinations,
                   "A destination: an IPv4 address (203.0.113.7),\n"
                   "a CIDR (203.0.113.0/24) or a host name\n"
                   "(lic.example.org, *.example.org). Repeat the\n"
                   "option or separate with commas")
      ->type_name("DEST")
      ->required()
      ->allow_extra_args(false)
      ->delimiter(',');
  allowlist_add->add_option("--proto", invocation.rule_spec.protocol, "tcp, udp or both")
      ->type_name("PROTO")
      ->required();
  allowlist_add
      ->add_option("--port", invocation.rule_spec.ports,
                   "A port (1717) or an inclusive range\n"
                   "(27000-27010). Repeat the option or separate\n"
                   "with commas")
      ->type_name("PORT")
      ->required()
      ->allow_extra_args(false)
      ->delimiter(',');
  allowlist_add
      ->add_option("--qtype", invocation.rule_spec.qtypes,
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
                     ->add_option("--vm", invocation.rule_spec.vms,
                                  "A VM the rule applies to. Repeat the option\n"
                                  "or separate with commas")
                     ->type_name("VM")
                     ->allow_extra_args(false)
                     ->delimiter(',');
  auto* add_all_vms = allowlist_add->add_flag("--all-vms", invocation.rule_spec.all_vms,
                                              "Apply the rule to every secure VM, also to\n"
                                              "those bound later (instead of --vm)");
  auto* add_comment = allowlist_add
                          ->add_option("--comment", invocation.comment,
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
  allowlist_add->callback([&] {
    // Checked here rather than with Option::excludes, which clutters every option's help line.
    if (add_vm->count() == 0 && add_all_vms->count() == 0) {
      throw CLI::RequiredError("--vm or --all-vms");
    }
    if (add_vm->count() > 0 && add_all_vms->count() > 0) {
      throw CLI::ExcludesError("--all-vms", "--vm");
    }
    command = PutRule;
  });

  auto* allowlist_rm = allowlist->add_subcommand("rm", R"(Delete an allowlist rule

Removes the rule. Its VMs lose its destinations at once, established connections
included, unless another rule still allows them. Prints the deleted rule (to
re-create it with 'netctl allowlist add'). An unknown rule is refused with code
no_such_rule (exit status 1).)");
  allowlist_rm->add_option("RULE", invocation.rule, rule_help)->type_name("")->required();
  allowlist_rm->footer(Footer("  netctl allowlist rm flexlm"));
  allowlist_rm->callback([&] { command = DeleteRule; });

  auto* allowlist_assign = allowlist->add_subcommand("assign", R"(Add a VM to an allowlist rule

Adds VM to the VMs the rule applies to: it gets the rule's destinations at once.
A VM the rule lists already stays as it is. The VM must be bound to an
allowlisted network: netd refuses a VM that is not bound (vm_not_bound) and one
on an open network such as service or datain (vm_not_secure), exit status 1. A
rule for every VM ("*") is refused with rule_applies_to_all: replace it with a
list of VMs first ('netctl allowlist add RULE ... --vm VM').)");
  allowlist_assign->add_option("RULE", invocation.rule, rule_help)->type_name("")->required();
  allowlist_assign->add_option("VM", invocation.vm, assign_vm_help)->type_name("")->required();
  allowlist_assign->footer(Footer("  netctl allowlist assign flexlm vm-44"));
  allowlist_assign->callback([&] { command = AssignRule; });

  auto* allowlist_unassign =
      allowlist->add_subcommand("unassign", R"(Remove a VM from an allowlist rule

Removes VM from the VMs the rule applies to: it loses the rule's destinations at
once, established connections included, unless another rule still allows them.
A VM the rule does not list is refused with vm_not_assigned, a rule for every VM
("*") with rule_applies_to_all (exit status 1).)");
  allowlist_unassign->add_option("RULE", invocation.rule, rule_help)->type_name("")->required();
  allowlist_unassign->add_option("VM", invocation.vm, "The VM's id")->type_name("")->required();
  allowlist_unassign->footer(Footer("  netctl allowlist unassign flexlm vm-44"));
  allowlist_unassign->callback([&] { command = UnassignRule; });

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
  forward_open->add_option("VM", invocation.forward_spec.vm, "The bound VM to reach")
      ->type_name("")
      ->required();
  forward_open
      ->add_option("--client", invocation.forward_spec.client_ip,
                   "The one IPv4 address the forward serves")
      ->type_name("IP")
      ->required();
  auto* open_port =
      forward_open->add_option("--port", invocation.forward_spec.port, "The VM's port (default 22)")
          ->type_name("PORT");
  auto* open_ttl = forward_open
                       ->add_option("--ttl", invocation.forward_spec.ttl_s,
                                    "Seconds until it expires (default\n"
                                    "gateway.forward_ttl_s, 3600)")
                       ->type_name("SECONDS");
  forward_open->footer(
      Footer("  netctl forward open vm-42 --client 198.51.100.7\n"
             "  netctl forward open vm-42 --client 198.51.100.7 --ttl 600"));
  forward_open->callback([&] { command = OpenForward; });

  auto* forward_list = forward->add_subcommand("list", R"(List the open forwards

One line per forward: id, client, listen port, VM, the VM's address and port,
and the seconds until it expires.)");
  forward_list->footer(Footer("  netctl forward list\n  netctl --json forward list"));
  forward_list->callback([&] { command = ListForwards; });

  auto* forward_renew = forward->add_subcommand("renew", R"(Extend a forward's life

The forward expires TTL seconds from now (default gateway.forward_ttl_s), its
port and sessions unchanged. An unknown id is refused with no_such_forward.)");
  forward_renew->add_option("ID", invocation.forward_id, forward_id_help)
      ->type_name("")
      ->required();
  auto* renew_ttl = forward_renew->add_option("--ttl", invocation.ttl_s, "Seconds from now")
                        ->type_name("SECONDS");
  forward_renew->footer(Footer("  netctl forward renew fwd-5c1e0a9b77f2 --ttl 3600"));
  forward_renew->callback([&] { command = RenewForward; });

  auto* forward_close = forward->add_subcommand("close", R"(Close a forward

Removes the forward and cuts its open sessions. Prints what was closed.)");
  forward_close->add_option("ID", invocation.forward_id, forward_id_help)
      ->type_name("")
      ->required();
  forward_close->footer(Footer("  netctl forward close fwd-5c1e0a9b77f2"));
  forward_close->callback([&] { command = CloseForward; });

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
  auto* dns_vm =
      dns_log->add_option("--vm", invocation.vm, "List only this VM's decisions")->type_name("VM");
  auto* dns_limit = dns_log
                        ->add_option("--limit", invocation.limit,
                                     "List at most N decisions, 1 to 1000\n"
                                     "(default 100)")
                        ->type_name("N")
                        ->check(kNotNegative);
  dns_log->footer(
      Footer("  netctl dns log\n"
             "  netctl dns log --vm vm-42 --limit 20\n"
             "  netctl --json dns log --vm vm-42 | \\\n"
             "      jq -r '.decisions[] | select(.verdict == \"refused\") | .name'"));
  dns_log->callback([&] { command = ListDnsLog; });

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
a port that gets none. The list is empty until netd has read the bridges from
ovsdb-server.

Needs the service role (root, or netd's service or admin group). A netd
without the host role refuses with no_host_role (exit status 1).)");
  auto* ports_bridge = host_ports
                           ->add_option("--bridge", invocation.bridge,
                                        "List only this bridge's ports (br-secure, ...);\n"
                                        "with --json too")
                           ->type_name("NAME")
                           ->check(kNotEmpty);
  host_ports->footer(
      Footer("  netctl host ports\n"
             "  netctl host ports --bridge br-secure\n"
             "  netctl --json host ports | \\\n"
             "      jq -r '.ports[] | select(.state == \"refused\") | \"\\(.port) \\(.reason)\"'"));
  host_ports->callback([&] { command = ListHostPorts; });

  auto* audit = app.add_subcommand("audit", R"(Read or verify the audit chain

Without --verify, lists audit records in sequence order: time, action, object,
result (ok or refused, with the HTTP status and netd's error code) and the
caller's uid, pid and executable. --after and --limit page through the chain.

With --verify, netd recomputes the hash chain: exit status 0 if it is intact, 1
if not, naming the first record whose hash does not match. Needs admin rights
(root or netd's admin group, default netd-admin).)");
  auto* after = audit
                    ->add_option("--after", invocation.after,
                                 "List only records with a sequence number above N")
                    ->type_name("N")
                    ->check(kNotNegative);
  auto* limit = audit->add_option("--limit", invocation.limit, "List at most M records")
                    ->type_name("M")
                    ->check(kNotNegative);
  audit->add_flag("--verify", invocation.verify,
                  "Check the hash chain instead of listing\n"
                  "records (not with --after or --limit)");
  audit->footer(
      Footer("  netctl audit\n"
             "  netctl audit --after 100 --limit 50\n"
             "  netctl audit --verify"));
  audit->callback([&] {
    // Checked here rather than with Option::excludes, which clutters every option's help line.
    if (invocation.verify && (after->count() > 0 || limit->count() > 0)) {
      throw CLI::ExcludesError("--verify", after->count() > 0 ? "--after" : "--limit");
    }
    command = invocation.verify ? Command(VerifyAudit) : ListAudit;
  });

  auto* metrics = app.add_subcommand("metrics", R"(Print netd's metrics

Prints netd's metrics in the Prometheus text format, as GET /metrics returns
them (--json does not apply).)");
  metrics->footer(Footer("  netctl metrics | grep ^netd_"));
  metrics->callback([&] { command = ShowMetrics; });

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    // --help is reported as a "parse error" with exit code 0.
    return app.exit(error, out, err) == 0 ? kExitOk : kExitUsage;
  }

  std::optional<std::string> socket_from_option;
  if (socket_option->count() > 0) socket_from_option = invocation.socket_path;
  const auto timeout = std::chrono::milliseconds(std::llround(invocation.timeout_s * 1000));
  const Client client(ResolveSocketPath(socket_from_option, socket_from_environment), timeout);
  const Context context{.client = client,
                        .invocation = invocation,
                        .has_list_network = list_network->count() > 0,
                        .has_dns_vm = dns_vm->count() > 0,
                        .has_hostname = bind_hostname->count() > 0,
                        .has_after = after->count() > 0,
                        .has_limit = limit->count() > 0 || dns_limit->count() > 0,
                        .has_comment = add_comment->count() > 0,
                        .has_ttl = open_ttl->count() > 0 || renew_ttl->count() > 0,
                        .has_port = open_port->count() > 0,
                        .has_bridge = ports_bridge->count() > 0,
                        .out = out,
                        .err = err};
  try {
    return command(context);
  } catch (const client::ApiError& refusal) {
    if (invocation.json) {
      nlohmann::json error = {{"code", refusal.code()}, {"message", refusal.message()}};
      if (refusal.field()) error["field"] = *refusal.field();
      out << nlohmann::json{{"error", error}}.dump(2) << '\n';
    }
    err << "netctl: " << refusal.what() << '\n';
    return kExitRefused;
  } catch (const client::UnreachableError& unreachable) {
    err << "netctl: " << unreachable.what() << '\n';
    std::string hint;
    const int cause = unreachable.cause().value();
    if (cause == ENOENT || cause == ECONNREFUSED) hint = "; is netd running?";
    if (cause == EACCES) {
      hint = "; only root and members of netd's service group (default netd) may connect";
    }
    err << fmt::format("netctl: ({}{})\n",
                       DescribeSocketSource(socket_from_option, socket_from_environment), hint);
    return kExitUnreachable;
  } catch (const client::ProtocolError& garbled) {
    err << "netctl: " << garbled.what() << '\n';
    return kExitUnreachable;
  }
}

}  // namespace netd::netctl
