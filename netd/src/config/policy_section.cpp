#include <fmt/format.h>

#include <algorithm>
#include <charconv>

#include "sections.hpp"

namespace netd::config_reading {
namespace {

// ovsdb-server's passive remotes as a Connection row's target holds them: "pssl:PORT[:IP]" or
// "ptcp:PORT[:IP]" (ovsdb-server(1)); an IPv6 address in brackets.
bool IsPassiveRemote(std::string_view text) {
  std::string_view rest;
  if (text.starts_with("pssl:")) {
    rest = text.substr(5);
  } else if (text.starts_with("ptcp:")) {
    rest = text.substr(5);
  } else {
    return false;
  }
  auto colon = rest.find(':');
  auto port_text = rest.substr(0, colon);
  unsigned port = 0;
  auto [end, error] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (error != std::errc() || end != port_text.data() + port_text.size() || port > 65535) {
    return false;
  }
  if (colon == std::string_view::npos) return true;
  auto address = rest.substr(colon + 1);
  if (address.starts_with('[') && address.ends_with(']')) return address.size() > 2;
  return Ipv4Address::Parse(address).has_value();
}

}  // namespace

PolicyConfig ReadPolicySection(TableReader& reader) {
  PolicyConfig policy;
  const auto* remotes = reader.Array("remotes");
  if (remotes) {
    for (const auto& element : *remotes) {
      const auto* text = element.as_string();
      if (!text)
        reader.Fail(&element, "remotes", "expected a string such as \"ssl:192.0.2.11:6641\"");
      try {
        policy.remotes.push_back(ovs::ParseOvsdbRemote(text->get()));
      } catch (const std::invalid_argument& error) {
        reader.Fail(&element, "remotes", error.what());
      }
    }
  }
  if (policy.remotes.empty()) {
    reader.Fail(reader.Node("remotes"), "remotes",
                "missing or empty; expected the policy database's members, e.g. "
                "[\"ssl:192.0.2.11:6641\", \"ssl:192.0.2.12:6641\", \"ssl:192.0.2.13:6641\"]");
  }
  bool ssl = std::any_of(policy.remotes.begin(), policy.remotes.end(),
                         [](const auto& remote) { return remote.kind == ovs::Remote::Kind::kSsl; });
  policy.tls = ReadTlsFiles(
      reader, "", ssl, "missing; ssl: remotes need private_key, certificate and ca_certificate",
      "only for ssl: remotes, and none of remotes is one");
  policy.host_listeners =
      reader
          .ArrayOf(
              "host_listeners",
              [](const toml::node& node) -> std::optional<std::string> {
                const auto* text = node.as_string();
                if (!text || !IsPassiveRemote(text->get())) return std::nullopt;
                return text->get();
              },
              "expected a passive remote as ovsdb-server takes it: \"pssl:6642\", "
              "\"pssl:6642:192.0.2.10\" or \"ptcp:6642:127.0.0.1\"")
          .value_or(std::vector<std::string>{});
  policy.timeouts = ReadPeerTimeouts(reader);
  reader.RejectUnknownKeys();
  return policy;
}

}  // namespace netd::config_reading
