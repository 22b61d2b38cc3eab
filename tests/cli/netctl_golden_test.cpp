// netctl's whole output pinned down: scripted scenarios run through the netctl binary against a
// real netd (and every --help), each compared with a golden transcript in tests/cli/golden/. Any
// change of a text, a table's layout, a JSON body, an error message or an exit status shows up
// as a diff of the transcript.
//
// To regenerate the transcripts after an intended change of netctl's output, run
//   NETD_UPDATE_GOLDEN=1 ctest -R NetctlGolden
// and review `git diff tests/cli/golden` before committing it.
//
// Transcript format, one block per command:
//   $ netctl ARGUMENTS      (the --socket option every command gets is not shown)
//   STDOUT
//   [stderr]                (only when netctl wrote to stderr)
//   STDERR
//   [exit N]
// with "[no newline at end]" after output that does not end in one.
//
// Normalisation: values that change from run to run are masked in the commands and their
// output before comparing (Normalise below; help texts hold none and are compared as printed):
//   - the test's temporary directory (socket paths) becomes <DIR>;
//   - the digits of RFC 3339 times (2026-11-28T13:00:00.000Z) and of the seconds until a
//     forward expires ("(in 3599 s)", "3599 s", "expires_in_s": 3599), and the hex digits of
//     forward ids (fwd-5c1e0a9b77f2), become '#', keeping their width so that tables stay
//     aligned as netctl printed them;
//   - status's uptime value becomes <uptime>;
//   - the callers' pid and executable, the last two columns of the audit table, become
//     <pid> <exe> (their width varies, so their padding is fixed to two spaces);
//   - in JSON, audit records' "pid", "exe", "time_ms", "hash" and "prev_hash", and status's
//     "uptime_s" become <pid>, <exe>, <millis>, <hash> and <uptime>;
//   - `--json status` is left out: netd's body there holds its internal counters and timings
//     (DHCP reloads, firewall apply times, ...), which vary from run to run;
//   - metrics output keeps only its "# HELP" and "# TYPE" lines (the values are netd's counters
//     and latencies).
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "netd/lab/command.hpp"
#include "netd/lab/temp_dir.hpp"
#include "netd/testing/netd_process.hpp"
#include "test_support.hpp"

namespace netd::cli_testing {
namespace {

// Replaces each match of `pattern` with what `mask` makes of it.
std::string Masked(const std::string& text, const std::regex& pattern,
                   const std::function<std::string(std::string)>& mask) {
  std::string result;
  auto last = text.cbegin();
  for (std::sregex_iterator match(text.begin(), text.end(), pattern), end; match != end; ++match) {
    result.append(last, (*match)[0].first);
    result += mask(match->str());
    last = (*match)[0].second;
  }
  result.append(last, text.cend());
  return result;
}

std::string DigitsMasked(std::string text) {
  for (char& c : text) {
    if (c >= '0' && c <= '9') c = '#';
  }
  return text;
}

// "fwd-5c1e0a9b77f2" -> "fwd-############".
std::string ForwardIdMasked(std::string id) {
  return "fwd-" + std::string(id.size() - 4, '#');
}

std::string ReplaceAll(std::string text, const std::string& from, const std::string& to) {
  for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

// See the normalisation rules at the top of the file.
std::string Normalise(const std::string& text, const std::string& directory) {
  static const std::regex kTime(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z)");
  static const std::regex kForwardId(R"(fwd-[0-9a-f]+)");
  static const std::regex kExpiresIn(R"(\(in \d+ s\)|\d+ s$|"expires_in_s": \d+)");
  static const std::vector<std::pair<std::regex, std::string>> kReplacements = {
      {std::regex(R"(^(uptime: +).*$)"), "$1<uptime>"},
      {std::regex(R"(^( *\d+  ####-.*  +\d+)  +\d+  \S+$)"), "$1  <pid>  <exe>"},
      {std::regex(R"(  UID +PID  EXE$)"), "  UID  PID  EXE"},
      {std::regex(R"(^( *"pid": )\d+)"), "$1<pid>"},
      {std::regex(R"re(^( *"exe": )"[^"]*")re"), "$1\"<exe>\""},
      {std::regex(R"(^( *"time_ms": )\d+)"), "$1<millis>"},
      {std::regex(R"re(^( *"(prev_)?hash": )"[^"]*")re"), "$1\"<hash>\""},
      {std::regex(R"(^( *"uptime_s": )\d+)"), "$1<uptime>"}};

  std::istringstream lines(ReplaceAll(text, directory, "<DIR>"));
  std::string normalised;
  for (std::string line; std::getline(lines, line);) {
    // Times first: the audit caller pattern recognises a row by its masked time.
    line = Masked(line, kTime, DigitsMasked);
    line = Masked(line, kForwardId, ForwardIdMasked);
    line = Masked(line, kExpiresIn, DigitsMasked);
    for (const auto& [pattern, replacement] : kReplacements) {
      line = std::regex_replace(line, pattern, replacement);
    }
    normalised += line + '\n';
  }
  return normalised;
}

// An argument as a shell would need it quoted.
std::string Quoted(const std::string& argument) {
  if (!argument.empty() && argument.find_first_of(" '*\\|\"$") == std::string::npos) {
    return argument;
  }
  return "'" + ReplaceAll(argument, "'", "'\\''") + "'";
}

class NetctlGoldenTest : public ::testing::Test {
 protected:
  // Runs netctl with --socket pointing at this test's netd and records the command and its
  // output in the transcript.
  lab::CommandResult Run(const std::vector<std::string>& arguments) {
    auto result = Execute(WithSocket(arguments), {});
    Record("netctl", arguments, result);
    return result;
  }

  // Runs netctl without --socket, with `environment` ("NETD_SOCKET=..."), shown before it.
  void RunWithEnvironment(const std::vector<std::string>& arguments,
                          const std::vector<std::string>& environment) {
    Record(Joined(environment) + " netctl", arguments, Execute(arguments, environment));
  }

  // Like Run, but records only the "# HELP" and "# TYPE" lines of the metrics netctl printed.
  void RunMetrics(const std::vector<std::string>& arguments) {
    auto result = Execute(WithSocket(arguments), {});
    std::istringstream lines(result.out);
    result.out.clear();
    for (std::string line; std::getline(lines, line);) {
      if (line.starts_with("# HELP ") || line.starts_with("# TYPE ")) result.out += line + '\n';
    }
    Record("netctl", arguments, result);
  }

  // Compares the transcript with the golden file `name`, or rewrites that file when
  // NETD_UPDATE_GOLDEN=1.
  void ExpectMatchesGolden(const std::string& name) {
    const auto path = std::filesystem::path(NETCTL_GOLDEN_DIR) / name;
    const char* update = std::getenv("NETD_UPDATE_GOLDEN");
    if (update != nullptr && std::string_view(update) == "1") {
      std::ofstream(path) << transcript_;
      return;
    }
    std::ifstream file(path);
    ASSERT_TRUE(file) << "no golden file " << path << "; create it with NETD_UPDATE_GOLDEN=1";
    std::stringstream golden;
    golden << file.rdbuf();
    EXPECT_EQ(transcript_, golden.str())
        << "netctl's output differs from " << path
        << "; if the change is intended, regenerate with NETD_UPDATE_GOLDEN=1";
  }

  lab::TempDir directory_{"golden"};
  testing::NetdProcess netd_{directory_.path()};
  // Off for help texts, which hold nothing volatile.
  bool normalise_ = true;

 private:
  std::vector<std::string> WithSocket(std::vector<std::string> arguments) const {
    arguments.insert(arguments.begin(), {"--socket", netd_.socket().string()});
    return arguments;
  }

  static lab::CommandResult Execute(std::vector<std::string> arguments,
                                    std::vector<std::string> environment) {
    arguments.insert(arguments.begin(), NETCTL_BINARY);
    return lab::RunCommand(arguments, {.env = MinimalEnvironment(std::move(environment)),
                                       .inherit_environment = false});
  }

  static std::string Joined(const std::vector<std::string>& arguments) {
    std::string joined;
    for (const auto& argument : arguments) {
      if (!joined.empty()) joined += ' ';
      joined += Quoted(argument);
    }
    return joined;
  }

  void Record(const std::string& prompt, const std::vector<std::string>& arguments,
              const lab::CommandResult& result) {
    std::string block = "$ " + prompt + (arguments.empty() ? "" : " " + Joined(arguments)) + "\n";
    block += result.out;
    if (!result.out.empty() && result.out.back() != '\n') block += "\n[no newline at end]\n";
    if (!result.err.empty()) block += "[stderr]\n" + result.err;
    if (!result.err.empty() && result.err.back() != '\n') block += "\n[no newline at end]\n";
    block += "[exit " + std::to_string(result.exit_code) + "]\n\n";
    transcript_ += normalise_ ? Normalise(block, directory_.path().string()) : block;
  }

  std::string transcript_;
};

TEST_F(NetctlGoldenTest, HelpOfNetctlAndEveryCommand) {
  // No netd needed: --help never connects.
  normalise_ = false;
  const std::vector<std::vector<std::string>> commands = {{},
                                                          {"status"},
                                                          {"networks"},
                                                          {"vm"},
                                                          {"vm", "bind"},
                                                          {"vm", "show"},
                                                          {"vm", "list"},
                                                          {"vm", "unbind"},
                                                          {"allowlist"},
                                                          {"allowlist", "list"},
                                                          {"allowlist", "show"},
                                                          {"allowlist", "add"},
                                                          {"allowlist", "rm"},
                                                          {"allowlist", "assign"},
                                                          {"allowlist", "unassign"},
                                                          {"group"},
                                                          {"group", "list"},
                                                          {"group", "show"},
                                                          {"group", "add"},
                                                          {"group", "rm"},
                                                          {"group", "assign"},
                                                          {"group", "unassign"},
                                                          {"forward"},
                                                          {"forward", "open"},
                                                          {"forward", "list"},
                                                          {"forward", "renew"},
                                                          {"forward", "close"},
                                                          {"dns"},
                                                          {"dns", "log"},
                                                          {"host"},
                                                          {"host", "ports"},
                                                          {"audit"},
                                                          {"audit", "verify"},
                                                          {"audit", "export"},
                                                          {"metrics"}};
  for (auto arguments : commands) {
    arguments.push_back("--help");
    Run(arguments);
  }
  Run({"-h"});
  Run({"vm", "bind", "-h"});
  ExpectMatchesGolden("help.txt");
}

TEST_F(NetctlGoldenTest, UsageErrorsAndAnUnreachableNetd) {
  // netd is not started: usage errors never ask it, and everything else cannot reach it.
  Run({});
  Run({"frobnicate"});
  Run({"vm"});
  Run({"vm", "bind", "vm-1"});
  Run({"vm", "bind", "--network", "secure"});
  Run({"vm", "show", "vm-1", "vm-2"});
  Run({"--timeout", "0", "status"});
  Run({"--timeout", "abc", "status"});
  Run({"audit", "--limit", "-1"});
  Run({"audit", "verify", "--after", "1"});
  Run({"audit", "--limit", "1", "export"});
  Run({"audit", "verify", "--anchor", "/nonexistent/anchors"});
  Run({"allowlist", "add", "r1", "--dest", "203.0.113.7", "--proto", "tcp", "--port", "22"});
  Run({"allowlist", "add", "r1", "--dest", "203.0.113.7", "--proto", "tcp", "--port", "22", "--vm",
       "vm-1", "--all-vms"});
  Run({"allowlist", "add", "r1", "--proto", "tcp", "--port", "22", "--all-vms"});
  Run({"host", "ports", "--bridge", ""});
  Run({"dns", "log", "--limit", "-5"});
  Run({"forward", "open", "vm-1"});
  Run({"forward", "open", "vm-1", "--client", "198.51.100.7", "--port", "x"});
  Run({"status", "--bogus"});
  Run({"status"});
  Run({"--json", "vm", "list"});
  RunWithEnvironment({"status"}, {"NETD_SOCKET=" + netd_.socket().string()});
  ExpectMatchesGolden("errors.txt");
}

TEST_F(NetctlGoldenTest, StatusNetworksAndVms) {
  netd_.Start();
  Run({"status"});
  Run({"networks"});
  Run({"vm", "list"});
  Run({"vm", "bind", "vm-1", "--network", "secure", "--hostname", "analysis-1"});
  Run({"vm", "bind", "vm-1", "--network", "secure", "--hostname", "analysis-1"});
  Run({"vm", "bind", "vm-1", "--network", "secure", "--hostname", "h2"});
  Run({"vm", "bind", "vm-2", "--network", "datain"});
  Run({"--json", "vm", "bind", "vm-3", "--network", "service"});
  Run({"vm", "bind", "vm-1", "--network", "service"});
  Run({"vm", "bind", "vm-4", "--network", "nowhere"});
  Run({"vm", "bind", "bad/id", "--network", "secure"});
  Run({"vm", "show", "vm-1"});
  Run({"vm", "show", "../status"});
  Run({"--json", "vm", "show", "vm-1"});
  Run({"vm", "show", "vm-9"});
  Run({"--json", "vm", "show", "vm-9"});
  Run({"vm", "list"});
  Run({"vm", "list", "--network", "datain"});
  Run({"vm", "list", "--network", "service", "--json"});
  Run({"vm", "list", "--network", "secure"});
  Run({"vm", "list", "--network", "nowhere"});
  Run({"--json", "vm", "list"});
  Run({"status"});
  Run({"networks"});
  Run({"--json", "networks"});
  Run({"vm", "unbind", "vm-2"});
  Run({"--json", "vm", "unbind", "vm-3"});
  Run({"vm", "unbind", "vm-2"});
  Run({"vm", "list"});
  ExpectMatchesGolden("vms.txt");
}

TEST_F(NetctlGoldenTest, Allowlist) {
  netd_.Start();
  Run({"vm", "bind", "vm-1", "--network", "secure"});
  Run({"vm", "bind", "vm-2", "--network", "secure"});
  Run({"vm", "bind", "vm-s", "--network", "service"});
  Run({"allowlist", "list"});
  // The lists both repeated and comma-separated.
  Run({"allowlist", "add", "flexlm", "--dest", "203.0.113.7,198.51.100.0/24", "--dest",
       "lic.example.org", "--proto", "tcp", "--port", "27000-27010,1717", "--qtype", "a", "--qtype",
       "TXT", "--vm", "vm-1", "--comment", "FlexLM servers"});
  Run({"allowlist", "add", "updates", "--dest", "*.example.org,203.0.113.0/24", "--proto", "both",
       "--port", "443", "--all-vms"});
  Run({"allowlist", "add", "updates", "--dest", "*.example.org", "--proto", "udp", "--port", "123",
       "--all-vms"});
  Run({"allowlist", "add", "many", "--dest", "203.0.113.1,203.0.113.2,203.0.113.3,203.0.113.4",
       "--proto", "udp", "--port", "1,2,3,4,5", "--vm", "vm-1,vm-2"});
  Run({"--json", "allowlist", "add", "json", "--dest", "lic.example.org", "--proto", "tcp",
       "--port", "1717", "--vm", "vm-2", "--comment", "via json"});
  Run({"allowlist", "list"});
  Run({"--json", "allowlist", "list"});
  Run({"allowlist", "show", "flexlm"});
  Run({"allowlist", "show", "updates"});
  Run({"--json", "allowlist", "show", "flexlm"});
  Run({"allowlist", "assign", "flexlm", "vm-2"});
  Run({"allowlist", "assign", "flexlm", "vm-2"});
  Run({"--json", "allowlist", "assign", "json", "vm-1"});
  Run({"allowlist", "assign", "flexlm", "vm-s"});
  Run({"allowlist", "assign", "flexlm", "vm-9"});
  Run({"allowlist", "assign", "updates", "vm-1"});
  Run({"allowlist", "unassign", "flexlm", "vm-1"});
  Run({"allowlist", "unassign", "flexlm", "vm-1"});
  Run({"--json", "allowlist", "unassign", "json", "vm-1"});
  Run({"allowlist", "add", "r1", "--all-vms", "--dest", "lic.example.org", "--proto", "tcp",
       "--port", "22,70000"});
  Run({"allowlist", "add", "r1", "--all-vms", "--dest", "lic.example.org", "--proto", "icmp",
       "--port", "22"});
  Run({"allowlist", "add", "r1", "--all-vms", "--dest", "192.168.129.0/24", "--proto", "tcp",
       "--port", "22"});
  Run({"allowlist", "add", "r1", "--all-vms", "--dest", "lic.example.org", "--proto", "tcp",
       "--port", "22", "--qtype", "ANY"});
  Run({"allowlist", "add", "r1", "--dest", "lic.example.org", "--proto", "tcp", "--port", "22",
       "--vm", "vm-1,vm-s"});
  Run({"--json", "allowlist", "add", "r1", "--all-vms", "--dest", "300.1.2.3", "--proto", "tcp",
       "--port", "22"});
  Run({"allowlist", "show", "nope"});
  Run({"--json", "allowlist", "show", "nope"});
  Run({"allowlist", "rm", "nope"});
  Run({"allowlist", "rm", "updates"});
  Run({"--json", "allowlist", "rm", "json"});
  Run({"allowlist", "rm", "many"});
  Run({"allowlist", "list"});
  ExpectMatchesGolden("allowlist.txt");
}

TEST_F(NetctlGoldenTest, Groups) {
  netd_.Start();
  Run({"vm", "bind", "vm-1", "--network", "secure"});
  Run({"group", "list"});
  Run({"group", "add", "slurm", "--network", "secure", "--member", "vm-2,vm-1", "--protocol", "tcp",
       "--port", "22", "--port", "6817", "--comment", "Slurm jobs"});
  Run({"group", "add", "cluster", "--network", "secure"});
  Run({"--json", "group", "add", "cluster", "--network", "secure", "--member", "vm-1"});
  Run({"group", "add", "bad", "--network", "nowhere"});
  Run({"group", "add", "bad", "--network", "secure", "--protocol", "icmp", "--port", "22"});
  Run({"group", "add", "bad", "--network", "secure", "--protocol", "tcp", "--port", "70000"});
  Run({"group", "add", "bad", "--network", "secure", "--member", "vm-1,bad/id"});
  Run({"group", "add", "bad!", "--network", "secure"});
  Run({"group", "list"});
  Run({"--json", "group", "list"});
  Run({"group", "show", "slurm"});
  Run({"--json", "group", "show", "slurm"});
  Run({"group", "show", "nothing"});
  Run({"group", "assign", "slurm", "vm-3", "vm-1", "bad/id"});
  Run({"group", "unassign", "slurm", "vm-2", "vm-9"});
  Run({"--json", "group", "unassign", "cluster", "vm-1"});
  Run({"group", "assign", "nothing", "vm-1"});
  Run({"group", "rm", "slurm"});
  Run({"group", "rm", "slurm"});
  Run({"group", "list"});
  ExpectMatchesGolden("groups.txt");
}

TEST_F(NetctlGoldenTest, Forwards) {
  netd_.Start();
  Run({"vm", "bind", "vm-1", "--network", "secure"});
  Run({"forward", "list"});
  Run({"--json", "forward", "list"});
  const auto opened = Run({"forward", "open", "vm-1", "--client", "198.51.100.7", "--ttl", "3600"});
  const std::string id = opened.out.substr(8, opened.out.find(' ', 8) - 8);
  Run({"forward", "open", "vm-1", "--client", "192.168.129.9"});
  Run({"forward", "open", "vm-1", "--client", "198.51.100.7", "--port", "80"});
  Run({"forward", "open", "vm-9", "--client", "198.51.100.7"});
  // One forward at a time: netd lists them by their random ids.
  Run({"forward", "list"});
  Run({"--json", "forward", "list"});
  Run({"forward", "renew", id, "--ttl", "600"});
  Run({"--json", "forward", "renew", id, "--ttl", "600"});
  Run({"forward", "renew", "fwd-000000000000"});
  Run({"forward", "close", id});
  Run({"forward", "close", id});
  const auto json_opened =
      Run({"--json", "forward", "open", "vm-1", "--client", "198.51.100.8", "--port", "22"});
  const std::string json_id = nlohmann::json::parse(json_opened.out)["id"];
  Run({"--json", "forward", "close", json_id});
  Run({"forward", "list"});
  ExpectMatchesGolden("forwards.txt");
}

TEST_F(NetctlGoldenTest, AuditDnsHostAndMetrics) {
  netd_.Start();
  Run({"audit"});
  Run({"audit", "verify"});
  Run({"vm", "bind", "vm-1", "--network", "secure"});
  Run({"vm", "bind", "vm-1", "--network", "nowhere"});
  Run({"vm", "bind", "vm-2", "--network", "secure"});
  Run({"vm", "unbind", "vm-2"});
  Run({"audit"});
  Run({"audit", "--after", "1", "--limit", "2"});
  Run({"audit", "--after", "4"});
  Run({"audit", "--limit", "10"});
  Run({"--json", "audit", "--after", "2", "--limit", "1"});
  Run({"audit", "verify"});
  Run({"--json", "audit", "verify"});
  Run({"dns", "log"});
  Run({"dns", "log", "--vm", "vm-1", "--limit", "5"});
  Run({"--json", "dns", "log"});
  Run({"dns", "log", "--vm", "../status"});
  Run({"dns", "log", "--limit", "1001"});
  Run({"host", "ports"});
  Run({"host", "ports", "--bridge", "br-secure"});
  Run({"--json", "host", "ports"});
  Run({"--json", "host", "ports", "--bridge", "br-secure"});
  RunMetrics({"metrics"});
  RunMetrics({"metrics", "--json"});
  netd_.Stop();
  Run({"status"});
  Run({"--json", "audit", "verify"});
  ExpectMatchesGolden("audit_dns_host.txt");
}

}  // namespace
}  // namespace netd::cli_testing
