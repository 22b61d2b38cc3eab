#include "netd/allowlist/rule_codec.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <optional>

#include "netd/allowlist/name_pattern.hpp"
#include "netd/allowlist/qtypes.hpp"
#include "netd/common/host_name.hpp"
#include "netd/common/object_id.hpp"

namespace netd::allowlist {

using nlohmann::json;

namespace {

RuleError BadShape(std::string code, const std::string& message, std::string field) {
  return {RuleError::Kind::kShape, std::move(code), message, std::move(field)};
}

RuleError BadValue(std::string code, const std::string& message, std::string field) {
  return {RuleError::Kind::kValue, std::move(code), message, std::move(field)};
}

// `expected`: what a destination that looks like `text` must be.
RuleError InvalidDestination(const std::string& field, std::string_view text,
                             std::string_view expected) {
  return BadValue("invalid_destination",
                  fmt::format("{} \"{}\" is not {}", field, text.substr(0, 80), expected), field);
}

bool LooksNumeric(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= '0' && c <= '9') || c == '.' || c == '/';
  });
}

// Host names: RFC 1123, optionally with one leading "*." (exactly one more label).
bool IsValidHostDestination(std::string_view name) {
  if (name.starts_with("*.")) name.remove_prefix(2);
  return name.find('.') != std::string_view::npos && IsValidHostname(name);
}

const json& Required(const json& body, const char* field) {
  if (!body.contains(field)) {
    throw BadShape("missing_field", fmt::format("field \"{}\" is required", field), field);
  }
  return body[field];
}

std::vector<std::string> Destinations(const json& value, AllowlistRule& rule,
                                      const RuleCodecOptions& options) {
  if (!value.is_array()) {
    throw BadShape("invalid_type", "field \"destinations\" must be an array of strings",
                   "destinations");
  }
  if (value.empty() || value.size() > kMaxRuleDestinations) {
    throw BadValue("invalid_destinations",
                   fmt::format("field \"destinations\" must hold 1-{} entries, got {}",
                               kMaxRuleDestinations, value.size()),
                   "destinations");
  }
  std::vector<std::string> destinations;
  for (std::size_t i = 0; i < value.size(); ++i) {
    auto field = fmt::format("destinations[{}]", i);
    if (!value[i].is_string()) {
      throw BadShape("invalid_type", fmt::format("{} must be a string", field), field);
    }
    auto text = value[i].get<std::string>();
    if (LooksNumeric(text)) {
      auto cidr = text.find('/') == std::string::npos
                      ? (Ipv4Address::Parse(text)
                             ? std::optional<Ipv4Cidr>(Ipv4Cidr(*Ipv4Address::Parse(text), 32))
                             : std::nullopt)
                      : Ipv4Cidr::Parse(text);
      if (!cidr) {
        throw InvalidDestination(
            field, text, "an IPv4 address or CIDR (a.b.c.d or a.b.c.d/n with the host bits zero)");
      }
      for (const auto& network : options.enclave_networks) {
        if (cidr->Overlaps(network.cidr)) {
          throw BadValue(
              "destination_inside_enclave",
              fmt::format("{} {} overlaps network {} ({}); nothing is routed between the "
                          "enclave's networks",
                          field, cidr->ToString(), network.name, network.cidr.ToString()),
              field);
        }
      }
      if (std::find(rule.networks.begin(), rule.networks.end(), *cidr) == rule.networks.end()) {
        rule.networks.push_back(*cidr);
      }
    } else if (!IsValidHostDestination(text)) {
      throw InvalidDestination(field, text,
                               "an IPv4 address, a CIDR or a host name (RFC 1123 labels with at "
                               "least one dot, optionally starting with \"*.\")");
    } else {
      rule.hosts.push_back(CanonicalName(text));
    }
    destinations.push_back(std::move(text));
  }
  return destinations;
}

std::vector<PortRange> Ports(const json& value) {
  if (!value.is_array()) {
    throw BadShape("invalid_type", "field \"ports\" must be an array of ports or port ranges",
                   "ports");
  }
  if (value.empty() || value.size() > kMaxRulePorts) {
    throw BadValue(
        "invalid_ports",
        fmt::format("field \"ports\" must hold 1-{} entries, got {}", kMaxRulePorts, value.size()),
        "ports");
  }
  std::vector<PortRange> ports;
  for (std::size_t i = 0; i < value.size(); ++i) {
    auto field = fmt::format("ports[{}]", i);
    std::optional<PortRange> range;
    if (value[i].is_number_integer()) {
      auto port = value[i].get<std::int64_t>();
      if (port >= 1 && port <= 65535) {
        range = PortRange{static_cast<std::uint16_t>(port), static_cast<std::uint16_t>(port)};
      }
    } else if (value[i].is_string()) {
      range = PortRange::Parse(value[i].get<std::string>());
    } else {
      throw BadShape("invalid_type",
                     fmt::format("{} must be a port (1717) or a string (\"27000-27010\")", field),
                     field);
    }
    if (!range) {
      throw BadValue("invalid_port",
                     fmt::format("{} must be a port 1-65535 or a range \"first-last\" with "
                                 "first <= last, got {}",
                                 field, value[i].dump().substr(0, 80)),
                     field);
    }
    if (std::find(ports.begin(), ports.end(), *range) == ports.end()) ports.push_back(*range);
  }
  return ports;
}

std::vector<std::uint16_t> Qtypes(const json& value) {
  if (!value.is_array()) {
    throw BadShape("invalid_type", "field \"qtypes\" must be an array of DNS type names", "qtypes");
  }
  if (value.empty() || value.size() > kMaxRuleQtypes) {
    throw BadValue("invalid_qtypes",
                   fmt::format("field \"qtypes\" must hold 1-{} entries, got {}", kMaxRuleQtypes,
                               value.size()),
                   "qtypes");
  }
  std::vector<std::uint16_t> qtypes;
  for (std::size_t i = 0; i < value.size(); ++i) {
    auto field = fmt::format("qtypes[{}]", i);
    if (!value[i].is_string()) {
      throw BadShape("invalid_type", fmt::format("{} must be a string such as \"A\"", field),
                     field);
    }
    auto text = value[i].get<std::string>();
    auto qtype = ForwardableQtype(text);
    if (!qtype) {
      throw BadValue("invalid_qtype",
                     fmt::format("{} \"{}\" is not a query type a rule may allow; expected "
                                 "one of {}",
                                 field, text.substr(0, 80), ForwardableQtypeNames()),
                     field);
    }
    qtypes.push_back(*qtype);
  }
  std::sort(qtypes.begin(), qtypes.end());
  qtypes.erase(std::unique(qtypes.begin(), qtypes.end()), qtypes.end());
  return qtypes;
}

}  // namespace

AllowlistRule ParseAllowlistRule(std::string_view name, const json& body,
                                 const RuleCodecOptions& options) {
  static const std::vector<std::string> kFields = {"destinations", "protocol", "ports",
                                                   "qtypes",       "vms",      "comment"};
  for (const auto& [key, value] : body.items()) {
    if (std::find(kFields.begin(), kFields.end(), key) == kFields.end()) {
      throw BadShape(
          "unknown_field",
          fmt::format("unknown field \"{}\"; expected destinations, protocol, ports, qtypes, vms "
                      "and comment",
                      key.substr(0, 80)),
          key);
    }
  }
  AllowlistRule rule;
  rule.name = std::string(name);
  rule.destinations = Destinations(Required(body, "destinations"), rule, options);

  const auto& protocol = Required(body, "protocol");
  if (!protocol.is_string()) {
    throw BadShape("invalid_type", "field \"protocol\" must be a string", "protocol");
  }
  auto text = protocol.get<std::string>();
  if (text == "tcp") {
    rule.protocol = AllowProtocol::kTcp;
  } else if (text == "udp") {
    rule.protocol = AllowProtocol::kUdp;
  } else if (text == "both") {
    rule.protocol = AllowProtocol::kBoth;
  } else {
    throw BadValue("invalid_protocol",
                   fmt::format("protocol must be \"tcp\", \"udp\" or \"both\", got \"{}\"",
                               text.substr(0, 80)),
                   "protocol");
  }

  rule.ports = Ports(Required(body, "ports"));
  if (!rule.hosts.empty()) {
    for (std::size_t i = 0; i < rule.ports.size(); ++i) {
      const auto& range = rule.ports[i];
      if (static_cast<std::uint32_t>(range.last - range.first) + 1 > kMaxLearnedPortsPerRange) {
        throw BadValue(
            "invalid_ports",
            fmt::format("ports[{}] {} spans more than {} ports; a rule that names host names "
                        "opens the addresses DNS answers port by port",
                        i, range.ToString(), kMaxLearnedPortsPerRange),
            fmt::format("ports[{}]", i));
      }
    }
  }

  if (body.contains("qtypes")) rule.qtypes = Qtypes(body["qtypes"]);

  const auto& vms = Required(body, "vms");
  if (vms.is_string() && vms.get<std::string>() == "*") {
    rule.all_vms = true;
  } else if (vms.is_array()) {
    if (vms.size() > kMaxRuleVms) {
      throw BadValue(
          "invalid_vms",
          fmt::format("field \"vms\" may list at most {} VMs; use \"*\" for every secure VM",
                      kMaxRuleVms),
          "vms");
    }
    for (std::size_t i = 0; i < vms.size(); ++i) {
      auto field = fmt::format("vms[{}]", i);
      if (!vms[i].is_string()) {
        throw BadShape("invalid_type", fmt::format("{} must be a VM id string", field), field);
      }
      auto vm = vms[i].get<std::string>();
      if (!IsValidObjectId(vm)) {
        throw BadValue("invalid_vm_id",
                       fmt::format("{} \"{}\" is not a valid VM id", field, vm.substr(0, 80)),
                       field);
      }
      rule.vms.push_back(std::move(vm));
    }
    std::sort(rule.vms.begin(), rule.vms.end());
    rule.vms.erase(std::unique(rule.vms.begin(), rule.vms.end()), rule.vms.end());
  } else {
    throw BadShape("invalid_type",
                   "field \"vms\" must be an array of VM ids or \"*\" (every secure VM)", "vms");
  }

  if (body.contains("comment")) {
    const auto& comment = body["comment"];
    if (!comment.is_string() && !comment.is_null()) {
      throw BadShape("invalid_type", "field \"comment\" must be a string", "comment");
    }
    if (comment.is_string()) rule.comment = comment.get<std::string>();
    if (rule.comment.size() > kMaxRuleComment) {
      throw BadValue("invalid_comment",
                     fmt::format("comment is longer than {} bytes", kMaxRuleComment), "comment");
    }
  }
  return rule;
}

json AllowlistRuleToJson(const AllowlistRule& rule) {
  json ports = json::array();
  for (const auto& range : rule.ports) ports.push_back(range.ToString());
  json qtypes = json::array();
  for (auto qtype : rule.qtypes) qtypes.push_back(QtypeName(qtype));
  return {{"rule", rule.name},
          {"destinations", rule.destinations},
          {"protocol", ToString(rule.protocol)},
          {"ports", ports},
          {"qtypes", qtypes},
          {"vms", rule.all_vms ? json("*") : json(rule.vms)},
          {"comment", rule.comment},
          {"created_ms", rule.created_ms},
          {"updated_ms", rule.updated_ms}};
}

AllowlistRule AllowlistRuleFromStored(std::string_view text, const RuleCodecOptions& options) {
  auto stored = json::parse(text, nullptr, false);
  if (stored.is_discarded() || !stored.is_object() || !stored.contains("rule") ||
      !stored["rule"].is_string()) {
    throw std::runtime_error("a stored allowlist rule is not valid JSON with a name");
  }
  auto name = stored["rule"].get<std::string>();
  try {
    auto created = stored.value("created_ms", std::int64_t{0});
    auto updated = stored.value("updated_ms", std::int64_t{0});
    for (const char* key : {"rule", "created_ms", "updated_ms"}) stored.erase(key);
    auto rule = ParseAllowlistRule(name, stored, options);
    rule.created_ms = created;
    rule.updated_ms = updated;
    return rule;
  } catch (const RuleError& error) {
    throw std::runtime_error(fmt::format(
        "stored allowlist rule {} no longer fits the configuration: {}", name, error.what()));
  }
}

}  // namespace netd::allowlist
