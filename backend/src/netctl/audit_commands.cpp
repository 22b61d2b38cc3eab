// audit: reading and verifying the audit chain.
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

// The values of audit's options.
struct AuditOptions {
  std::uint64_t after = 0;
  std::uint64_t limit = 0;
  bool verify = false;
  // Whether the option was given: netd lists from the start, a page of its size, by default.
  const CLI::Option* after_option = nullptr;
  const CLI::Option* limit_option = nullptr;
};

std::string DescribeResult(const client::AuditRecord& record) {
  if (record.result == "ok") return fmt::format("ok {}", record.status);
  return fmt::format("{} {} {}", record.result, record.status, OrDash(record.error_code));
}

int ListAudit(const Context& context, const AuditOptions& options) {
  std::optional<std::uint64_t> after;
  std::optional<std::uint64_t> limit;
  if (options.after_option->count() > 0) after = options.after;
  if (options.limit_option->count() > 0) limit = options.limit;
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

int VerifyAudit(const Context& context, const AuditOptions&) {
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

}  // namespace

void RegisterAuditCommands(CLI::App& app, Command& command) {
  auto options = std::make_shared<AuditOptions>();

  auto* audit = app.add_subcommand("audit", R"(Read or verify the audit chain

Without --verify, lists audit records in sequence order: time, action, object,
result (ok or refused, with the HTTP status and netd's error code) and the
caller's uid, pid and executable. --after and --limit page through the chain.

With --verify, netd recomputes the hash chain: exit status 0 if it is intact, 1
if not, naming the first record whose hash does not match. Needs admin rights
(root or netd's admin group, default netd-admin).)");
  options->after_option = audit
                              ->add_option("--after", options->after,
                                           "List only records with a sequence number above N")
                              ->type_name("N")
                              ->check(kNotNegative);
  options->limit_option = audit->add_option("--limit", options->limit, "List at most M records")
                              ->type_name("M")
                              ->check(kNotNegative);
  audit->add_flag("--verify", options->verify,
                  "Check the hash chain instead of listing\n"
                  "records (not with --after or --limit)");
  audit->footer(
      Footer("  netctl audit\n"
             "  netctl audit --after 100 --limit 50\n"
             "  netctl audit --verify"));
  audit->callback([&command, options] {
    // Checked here rather than with Option::excludes, which clutters every option's help line.
    const bool has_after = options->after_option->count() > 0;
    if (options->verify && (has_after || options->limit_option->count() > 0)) {
      throw CLI::ExcludesError("--verify", has_after ? "--after" : "--limit");
    }
    const auto work = options->verify ? VerifyAudit : ListAudit;
    command = [options, work](const Context& context) { return work(context, *options); };
  });
}

}  // namespace netd::netctl
