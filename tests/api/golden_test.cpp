// What the API answers over a scripted scenario, compared with checked-in captures
// (tests/api/golden/), so that a change of the code's structure is proven to change no answer.
// Regenerate after an intended change with NETD_UPDATE_GOLDEN=1 and review the diff.
//
// Normalisation: values that differ from run to run are replaced by "<masked>": in JSON the
// keys named in kVolatileKeys, in the metrics text the samples of kVolatileMetrics. Everything
// else (shape, keys, counts, addresses, error codes and messages) is compared exactly.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "netd/lab/temp_dir.hpp"
#include "netd/testing/netd_process.hpp"
#include "netd/testing/raw_http.hpp"

namespace netd::testing {
namespace {

// Times, what identifies the process and its build, hashes over those, and counters that depend
// on timing (dnsmasq reloads are debounced; the host role retries an absent ovsdb-server).
const std::set<std::string> kVolatileKeys = {
    "created_at", "updated_at",    "expires_at", "expires_in_s",    "started_at", "last_reconcile",
    "time_ms",    "last_apply_ms", "uptime_s",   "version",         "pid",        "exe",
    "hash",       "prev_hash",     "reloads",    "connect_failures"};

const std::set<std::string> kVolatileMetrics = {"netd_uptime_seconds", "netd_dhcp_reloads_total"};

void Mask(nlohmann::json& value) {
  if (value.is_object()) {
    for (auto& [key, child] : value.items()) {
      if (kVolatileKeys.contains(key) && !child.is_null()) {
        child = "<masked>";
      } else {
        Mask(child);
      }
    }
  } else if (value.is_array()) {
    for (auto& child : value) Mask(child);
    // Forwards are listed by their random id: order them by the id's placeholder instead.
    if (std::all_of(value.begin(), value.end(),
                    [](const auto& child) { return child.is_object() && child.contains("id"); })) {
      std::sort(value.begin(), value.end(),
                [](const auto& a, const auto& b) { return a["id"].dump() < b["id"].dump(); });
    }
  }
}

std::string NormalisedMetrics(const std::string& text) {
  std::istringstream in(text);
  std::string out;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line[0] != '#') {
      auto name = line.substr(0, line.find_first_of("{ "));
      if (kVolatileMetrics.contains(name)) line = line.substr(0, line.rfind(' ')) + " <masked>";
    }
    out += line + "\n";
  }
  return out;
}

class ApiTranscript {
 public:
  explicit ApiTranscript(std::filesystem::path socket) : socket_(std::move(socket)) {}

  // Writes `placeholder` wherever `value` (a random id, a temporary path) appears in the
  // transcript, before and after.
  void Substitute(std::string value, std::string placeholder) {
    substitutions_.emplace_back(std::move(value), std::move(placeholder));
    text_ = Substituted(std::move(text_));
  }

  nlohmann::json Call(const std::string& method, const std::string& target,
                      const std::string& body = "") {
    auto answer = Request(socket_, method, target, body);
    auto raw = answer.Json();
    answer.body = Substituted(std::move(answer.body));
    text_ += Substituted("### " + method + " " + target + (body.empty() ? "" : " " + body)) + "\n";
    text_ += "status " + std::to_string(answer.status) + "\n";
    if (target == "/metrics") {
      text_ += NormalisedMetrics(answer.body);
    } else {
      auto json = answer.Json();
      if (json.is_discarded()) {
        text_ += answer.body + "\n";
      } else {
        Mask(json);
        text_ += json.dump(2) + "\n";
      }
    }
    text_ += "\n";
    return raw;
  }

  const std::string& text() const { return text_; }

 private:
  std::string Substituted(std::string text) const {
    for (const auto& [value, placeholder] : substitutions_) {
      for (auto at = text.find(value); at != std::string::npos;
           at = text.find(value, at + placeholder.size())) {
        text.replace(at, value.size(), placeholder);
      }
    }
    return text;
  }

  std::filesystem::path socket_;
  std::vector<std::pair<std::string, std::string>> substitutions_;
  std::string text_;
};

void CompareWithGolden(const std::string& name, const std::string& actual) {
  auto path = std::filesystem::path(NETD_API_GOLDEN_DIR) / name;
  if (std::getenv("NETD_UPDATE_GOLDEN") != nullptr) {
    std::ofstream(path) << actual;
    return;
  }
  std::ifstream in(path);
  ASSERT_TRUE(in) << "no golden file " << path << "; run with NETD_UPDATE_GOLDEN=1";
  std::stringstream expected;
  expected << in.rdbuf();
  if (expected.str() == actual) return;
  auto written = std::filesystem::current_path() / (name + ".actual");
  std::ofstream(written) << actual;
  std::istringstream want(expected.str()), got(actual);
  std::string want_line, got_line;
  int line = 1;
  while (std::getline(want, want_line) && std::getline(got, got_line) && want_line == got_line) {
    ++line;
  }
  ADD_FAILURE() << "answers differ from " << path << " at line " << line << ": expected \""
                << want_line << "\", got \"" << got_line << "\" (all of it in " << written << ")";
}

// Bindings on every network, rules, groups, a forward, bad input of each kind, removals, then
// every read route.
TEST(ApiGolden, ScriptedScenarioAnswersAsCaptured) {
  lab::TempDir dir("api-golden");
  NetdProcess netd(dir.path(), [](std::string text) {
    return Replace(text, "external_interface = \"ext0\"",
                   "external_interface = \"ext0\"\nforward_address = \"203.0.113.1\"");
  });
  netd.Start();
  ApiTranscript api(netd.socket());
  api.Substitute(dir.path().string(), "<dir>");

  api.Call("PUT", "/v1/vms/s1", R"({"network":"secure"})");
  api.Call("PUT", "/v1/vms/s2", R"({"network":"secure","hostname":"node-2"})");
  api.Call("PUT", "/v1/vms/s1", R"({"network":"secure"})");
  api.Call("PUT", "/v1/vms/v1", R"({"network":"service"})");
  api.Call("PUT", "/v1/vms/d1", R"({"network":"datain"})");
  api.Call("PUT", "/v1/vms/s1", R"({"network":"service"})");
  api.Call("PUT", "/v1/vms/BAD!", R"({"network":"secure"})");
  api.Call("PUT", "/v1/vms/x1", R"({"network":"nowhere"})");
  api.Call("PUT", "/v1/vms/x1", R"({"network":"secure","colour":"red"})");
  api.Call("PUT", "/v1/vms/x1", "{not json");

  api.Call("PUT", "/v1/allowlist/license",
           R"({"destinations":["10.99.0.5","license.example.org","*.data.example.org"],)"
           R"("protocol":"tcp","ports":["27000-27009","443"],"vms":["s1"],)"
           R"("comment":"licence server"})");
  api.Call("PUT", "/v1/allowlist/ntp",
           R"({"destinations":["192.0.2.0/24"],"protocol":"udp","ports":["123"],"vms":"*"})");
  api.Call("PUT", "/v1/allowlist/dns-txt",
           R"({"destinations":["txt.example.org"],"protocol":"both","ports":["53"],)"
           R"("vms":["s2"],"qtypes":["TXT"]})");
  api.Call("PUT", "/v1/allowlist/license/vms/s2");
  api.Call("DELETE", "/v1/allowlist/license/vms/s2");
  api.Call("PUT", "/v1/allowlist/bad", R"({"destinations":["10.0.0.0/33"],"ports":["22"]})");
  api.Call("PUT", "/v1/allowlist/bad", R"({"destinations":["a..b"],"ports":["22"],"vms":"*"})");
  api.Call("PUT", "/v1/allowlist/bad", R"({"destinations":["10.1.1.1"],"ports":["0"],"vms":"*"})");
  api.Call("PUT", "/v1/allowlist/bad", R"({"destinations":[],"ports":["22"],"vms":"*"})");

  api.Call("PUT", "/v1/groups/slurm",
           R"({"network":"secure","members":["s2","s1","s1"],"protocol":"tcp",)"
           R"("ports":[6817,22],"comment":"Slurm jobs"})");
  api.Call("PUT", "/v1/groups/cluster", R"({"network":"secure"})");
  api.Call("PUT", "/v1/groups/cluster", R"({"network":"secure"})");
  api.Call("PUT", "/v1/groups/cluster/members/s3");
  api.Call("PUT", "/v1/groups/cluster/members/s1");
  api.Call("DELETE", "/v1/groups/cluster/members/s3");
  api.Call("DELETE", "/v1/groups/cluster/members/s3");
  api.Call("PUT", "/v1/groups/nothing/members/s1");
  api.Call("PUT", "/v1/groups/bad", R"({"network":"nowhere"})");
  api.Call("PUT", "/v1/groups/bad", R"({"network":"secure","members":["s1",7]})");
  api.Call("PUT", "/v1/groups/bad", R"({"network":"secure","protocol":"icmp","ports":[22]})");
  api.Call("PUT", "/v1/groups/bad", R"({"network":"secure","protocol":"tcp","ports":[0]})");
  api.Call("PUT", "/v1/groups/bad", R"({"network":"secure","colour":"red"})");
  api.Call("PUT", "/v1/groups/bad!", R"({"network":"secure"})");
  api.Call("PUT", "/v1/groups/gone", R"({"network":"datain","members":["d1"]})");
  api.Call("DELETE", "/v1/groups/gone");
  api.Call("DELETE", "/v1/groups/gone");

  auto first = api.Call("POST", "/v1/forwards", R"({"vm":"s1","client_ip":"198.51.100.7"})");
  api.Substitute(first.value("id", "?"), "<forward-1>");
  auto second =
      api.Call("POST", "/v1/forwards", R"({"vm":"s1","client_ip":"198.51.100.7","ttl_s":600})");
  api.Substitute(second.value("id", "?"), "<forward-2>");
  api.Call("POST", "/v1/forwards", R"({"vm":"nobody","client_ip":"198.51.100.7"})");
  api.Call("POST", "/v1/forwards", R"({"vm":"s1","client_ip":"198.51.100.300"})");
  api.Call("POST", "/v1/forwards", R"({"vm":"s1","client_ip":"198.51.100.8","port":80})");
  api.Call("GET", "/v1/forwards");
  api.Call("POST", "/v1/forwards/" + first.value("id", "?") + "/renew", R"({"ttl_s":900})");
  api.Call("POST", "/v1/forwards/" + first.value("id", "?") + "/renew", R"({"ttl_s":-1})");
  api.Call("DELETE", "/v1/forwards/" + second.value("id", "?"));
  api.Call("DELETE", "/v1/forwards/99");

  api.Call("DELETE", "/v1/vms/s2");
  api.Call("DELETE", "/v1/vms/s2");
  api.Call("DELETE", "/v1/allowlist/ntp");
  api.Call("DELETE", "/v1/allowlist/nothing");

  api.Call("GET", "/v1/status");
  api.Call("GET", "/v1/networks");
  api.Call("GET", "/v1/vms");
  api.Call("GET", "/v1/vms/s1");
  api.Call("GET", "/v1/vms/s2");
  api.Call("GET", "/v1/allowlist");
  api.Call("GET", "/v1/allowlist/license");
  api.Call("GET", "/v1/groups");
  api.Call("GET", "/v1/groups/slurm");
  api.Call("GET", "/v1/groups/gone");
  api.Call("GET", "/v1/forwards");
  api.Call("GET", "/v1/forwards/" + first.value("id", "?"));
  api.Call("GET", "/v1/audit?after=0&limit=100");
  api.Call("GET", "/v1/audit?after=abc");
  api.Call("GET", "/v1/audit/verify");
  api.Call("GET", "/v1/dns/log");
  api.Call("GET", "/v1/host/ports");
  api.Call("GET", "/v1/nothing");
  api.Call("GET", "/metrics");

  CompareWithGolden("api_scenario.txt", api.text());
}

}  // namespace
}  // namespace netd::testing
