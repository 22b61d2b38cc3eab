// audit: reading and verifying the audit chain.
#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>
#include <stdexcept>

#include "netctl/commands.hpp"
#include "netctl/format.hpp"
#include "netctl/netctl.hpp"
#include "netctl/table.hpp"
#include "netd/audit/chain_check.hpp"
#include "netd/client/targets.hpp"

namespace netd::netctl {
namespace {

using client::Response;
namespace targets = client::targets;

// The values of audit's options.
struct AuditOptions {
  std::uint64_t after = 0;
  std::uint64_t limit = 0;
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

// netctl's own reading of the chain: an exported file (one record per line), or netd's records
// page by page; each record as GET /v1/audit gives it, prev_hash and hash included.
using RecordVisitor = std::function<void(const nlohmann::json& record)>;

void ForEachRecordFromNetd(const Context& context, const RecordVisitor& visit) {
  constexpr std::uint64_t kPage = 1000;
  for (std::uint64_t after = 0;;) {
    const Response response = context.client.Request("GET", targets::Audit(after, kPage));
    const auto& records = response.body.at("records");
    for (const auto& record : records) visit(record);
    if (records.size() < kPage) return;
    after = response.body.at("next_after").get<std::uint64_t>();
  }
}

void ForEachRecordInFile(const std::string& path, const RecordVisitor& visit) {
  std::ifstream in(path);
  if (!in) throw LocalFileError(fmt::format("cannot read {}: {}", path, std::strerror(errno)));
  std::string line;
  for (std::size_t number = 1; std::getline(in, line); ++number) {
    if (line.empty()) continue;
    auto record = nlohmann::json::parse(line, nullptr, false);
    if (!record.is_object()) {
      throw LocalFileError(
          fmt::format("{}: line {}: expected an audit record as JSON", path, number));
    }
    visit(record);
  }
}

// The record as netd stored and hashed it: the object without the hashes beside it, in the
// canonical form (docs/api.md, "Hashing"); a record netd could not parse, as it was stored.
std::string StoredBytes(const nlohmann::json& record) {
  if (auto text = record.find("unparsable"); text != record.end() && text->is_string()) {
    return text->get<std::string>();
  }
  auto stored = record;
  stored.erase("prev_hash");
  stored.erase("hash");
  return stored.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string ReadAnchorFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw LocalFileError(fmt::format("cannot read {}: {}", path, std::strerror(errno)));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The options of `audit verify` and `audit export`.
struct ChainOptions {
  std::string anchor;  // verify: the anchor file
  std::string input;   // verify: an exported chain instead of netd's
  std::string output;  // export: a file instead of standard output
};

int VerifyOnNetd(const Context& context) {
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

int VerifyAudit(const Context& context, const ChainOptions& options) {
  if (options.anchor.empty() && options.input.empty()) return VerifyOnNetd(context);
  std::vector<AuditAnchor> anchors;
  if (!options.anchor.empty()) {
    try {
      anchors = ParseAnchors(ReadAnchorFile(options.anchor));
    } catch (const std::invalid_argument& error) {
      throw LocalFileError(fmt::format("{}: {}", options.anchor, error.what()));
    }
  }
  ChainCheck check(anchors);
  std::int64_t length = 0;
  auto visit = [&](const nlohmann::json& record) {
    ++length;
    if (!check.ok()) return;
    auto text = [&](const char* field) { return record.value(field, std::string()); };
    check.Add(record.value("seq", std::int64_t{0}), StoredBytes(record), text("prev_hash"),
              text("hash"));
  };
  if (options.input.empty()) {
    ForEachRecordFromNetd(context, visit);
  } else {
    ForEachRecordInFile(options.input, visit);
  }
  check.Finish();
  const std::string source = options.input.empty() ? "netd's chain" : options.input;
  if (context.json) {
    nlohmann::json body = {{"ok", check.ok()}, {"length", length}, {"anchors", anchors.size()}};
    if (!check.ok()) {
      body["first_bad_seq"] = check.first_bad_seq();
      body["reason"] = check.reason();
    }
    context.out << body.dump() << "\n";
  } else if (check.ok()) {
    context.out << fmt::format("audit chain intact: {} records in {}, anchors checked: {}\n",
                               length, source, anchors.size());
  }
  if (check.ok()) return kExitOk;
  if (!context.json) {
    context.err << fmt::format("netctl: audit chain broken at record {} of {} in {}: {}\n",
                               check.first_bad_seq(), length, source, check.reason());
  }
  return kExitRefused;
}

int ExportAudit(const Context& context, const ChainOptions& options) {
  std::ofstream file;
  if (!options.output.empty()) {
    file.open(options.output, std::ios::trunc);
    if (!file) {
      throw LocalFileError(
          fmt::format("cannot write {}: {}", options.output, std::strerror(errno)));
    }
  }
  std::ostream& out = options.output.empty() ? context.out : file;
  std::uint64_t records = 0;
  ForEachRecordFromNetd(context, [&](const nlohmann::json& record) {
    out << record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    ++records;
  });
  out.flush();
  if (!out) throw LocalFileError(fmt::format("writing {} failed", options.output));
  if (!options.output.empty()) {
    context.err << fmt::format("exported {} audit records to {}\n", records, options.output);
  }
  return kExitOk;
}

}  // namespace

void RegisterAuditCommands(CLI::App& app, Command& command) {
  auto options = std::make_shared<AuditOptions>();

  auto* audit = app.add_subcommand("audit", R"(Read, verify or export the audit chain

Without a subcommand, lists audit records in sequence order: time, action,
object, result (ok or refused, with the HTTP status and netd's error code) and
the caller's uid, pid and executable. --after and --limit page through the
chain. Needs admin rights (root or netd's admin group, default netd-admin).)");
  audit->require_subcommand(0, 1);
  options->after_option = audit
                              ->add_option("--after", options->after,
                                           "List only records with a sequence number above N")
                              ->type_name("N")
                              ->check(kNotNegative);
  options->limit_option = audit->add_option("--limit", options->limit, "List at most M records")
                              ->type_name("M")
                              ->check(kNotNegative);
  audit->footer(
      Footer("  netctl audit\n"
             "  netctl audit --after 100 --limit 50\n"
             "  netctl audit verify\n"
             "  netctl audit verify --anchor /srv/anchors/backend1.anchors\n"
             "  netctl audit export --output chain.jsonl"));
  audit->callback([&command, options, audit] {
    const auto chosen = audit->get_subcommands();
    if (chosen.empty()) {
      command = [options](const Context& context) { return ListAudit(context, *options); };
      return;
    }
    // --after and --limit page the list; checked here rather than with Option::excludes, which
    // clutters every option's help line.
    for (const auto* option : {options->after_option, options->limit_option}) {
      if (option->count() > 0) {
        throw CLI::ExcludesError(chosen.front()->get_name(), option->get_name());
      }
    }
  });

  auto chain = std::make_shared<ChainOptions>();
  auto* verify = audit->add_subcommand("verify", R"(Check the audit chain

Without options, netd recomputes its hash chain and checks it against its own
anchor file. With --anchor, netctl itself reads the chain (from netd, or from a
file --input names, as `audit export` wrote it), recomputes every hash, and
checks it against the anchors in FILE: copies of the chain's head that netd
appended as the chain grew and that were kept off the host (its anchor file
shipped elsewhere, or the "netd audit anchor" lines of syslog). A record
edited, inserted or removed, and records cut from the end, are found. Exit
status 0 if the chain is intact, 1 naming the first record that fails.)");
  verify->add_option("--anchor", chain->anchor, "Anchors to check the chain against, one per line")
      ->type_name("FILE")
      ->check(kNotEmpty);
  verify->add_option("--input", chain->input, "Verify this exported chain instead of netd's")
      ->type_name("FILE")
      ->check(kNotEmpty);
  verify->footer(
      Footer("  netctl audit verify\n"
             "  netctl audit verify --anchor backend1.anchors\n"
             "  netctl audit verify --anchor backend1.anchors --input chain.jsonl"));
  RunsWith<ChainOptions>(verify, command, chain, VerifyAudit);

  auto* exporting = audit->add_subcommand("export", R"(Write the whole audit chain

Writes every record in sequence order, one JSON object per line with its
prev_hash and hash, to standard output or FILE, for `netctl audit verify
--input` elsewhere.)");
  exporting->add_option("--output", chain->output, "Write to FILE instead of standard output")
      ->type_name("FILE")
      ->check(kNotEmpty);
  exporting->footer(Footer("  netctl audit export --output chain.jsonl"));
  RunsWith<ChainOptions>(exporting, command, chain, ExportAudit);
}

}  // namespace netd::netctl
