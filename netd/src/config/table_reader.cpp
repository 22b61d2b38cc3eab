#include "table_reader.hpp"

#include <fmt/format.h>

#include "netd/daemon/config.hpp"
#include "netd/firewall/interface_name.hpp"

namespace netd::config_reading {

TableReader::TableReader(const toml::table& table, std::string path, const std::string& file)
    : table_(table), path_(std::move(path)), file_(file) {}

void TableReader::Fail(const toml::node* node, std::string_view key,
                       std::string_view message) const {
  const auto& region = node ? node->source() : table_.source();
  throw ConfigError(fmt::format("{}:{}:{}: {}: {}", file_, region.begin.line, region.begin.column,
                                KeyPath(key), message));
}

std::string TableReader::KeyPath(std::string_view key) const {
  return path_.empty() ? std::string(key) : fmt::format("{}.{}", path_, key);
}

const toml::node* TableReader::Node(std::string_view key) {
  consumed_.insert(std::string(key));
  return table_.get(key);
}

std::optional<std::string> TableReader::String(std::string_view key) {
  const auto* node = Node(key);
  if (!node) return std::nullopt;
  if (!node->is_string()) Fail(node, key, fmt::format("expected a string, got {}", TypeOf(*node)));
  return node->as_string()->get();
}

std::string TableReader::RequiredString(std::string_view key) {
  auto value = String(key);
  if (!value) Fail(nullptr, key, "missing; this key is required");
  return *value;
}

std::optional<std::int64_t> TableReader::Integer(std::string_view key, std::int64_t min,
                                                 std::int64_t max) {
  const auto* node = Node(key);
  if (!node) return std::nullopt;
  if (!node->is_integer()) {
    Fail(node, key, fmt::format("expected an integer {}-{}, got {}", min, max, TypeOf(*node)));
  }
  auto value = node->as_integer()->get();
  if (value < min || value > max) {
    Fail(node, key, fmt::format("expected an integer {}-{}, got {}", min, max, value));
  }
  return value;
}

std::optional<bool> TableReader::Bool(std::string_view key) {
  const auto* node = Node(key);
  if (!node) return std::nullopt;
  if (!node->is_boolean()) {
    Fail(node, key, fmt::format("expected true or false, got {}", TypeOf(*node)));
  }
  return node->as_boolean()->get();
}

template <typename T>
const T* TableReader::Typed(std::string_view key, std::string_view what) {
  const auto* node = Node(key);
  if (!node) return nullptr;
  const auto* typed = node->as<T>();
  if (!typed) Fail(node, key, fmt::format("expected {}, got {}", what, TypeOf(*node)));
  return typed;
}

const toml::table* TableReader::Table(std::string_view key) {
  return Typed<toml::table>(key, "a table");
}

const toml::array* TableReader::Array(std::string_view key) {
  return Typed<toml::array>(key, "an array");
}

std::optional<TableReader> TableReader::Section(std::string_view key) {
  const auto* table = Table(key);
  if (!table) return std::nullopt;
  return TableReader(*table, KeyPath(key), file_);
}

void TableReader::RejectUnknownKeys() const {
  for (const auto& [key, node] : table_) {
    if (!consumed_.contains(std::string(key.str()))) Fail(&node, key.str(), "unknown key");
  }
}

std::string_view TableReader::TypeOf(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    default:
      return "a date/time";
  }
}

Ipv4Address ReadAddress(TableReader& reader, std::string_view key) {
  auto text = reader.RequiredString(key);
  auto address = Ipv4Address::Parse(text);
  if (!address) {
    reader.Fail(reader.Node(key), key,
                fmt::format("expected an IPv4 address like 192.168.1.1, got \"{}\"", text));
  }
  return *address;
}

std::string ReadInterfaceName(TableReader& reader, std::string_view key, bool required) {
  auto name = required ? reader.RequiredString(key) : reader.String(key).value_or("");
  if ((required || !name.empty()) && !firewall::IsValidInterfaceName(name)) {
    reader.Fail(reader.Node(key), key,
                fmt::format("expected an interface name of 1-15 characters without '/', ':' or "
                            "spaces, got \"{}\"",
                            name));
  }
  return name;
}

std::filesystem::path ReadPath(TableReader& reader, std::string_view key,
                               const std::filesystem::path& fallback) {
  auto text = reader.String(key);
  if (!text) return fallback;
  if (text->empty() || text->front() != '/') {
    reader.Fail(reader.Node(key), key, fmt::format("expected an absolute path, got \"{}\"", *text));
  }
  return *text;
}

ovs::TlsFiles ReadTlsFiles(TableReader& reader, std::string_view prefix, bool ssl,
                           std::string_view missing, std::string_view not_ssl) {
  ovs::TlsFiles tls;
  for (auto [name, file] :
       {std::pair{"private_key", &tls.private_key}, std::pair{"certificate", &tls.certificate},
        std::pair{"ca_certificate", &tls.ca_certificate}}) {
    auto key = std::string(prefix) + name;
    *file = ReadPath(reader, key, {});
    if (ssl && file->empty()) reader.Fail(nullptr, key, missing);
    if (!ssl && !file->empty()) reader.Fail(reader.Node(key), key, not_ssl);
  }
  return tls;
}

}  // namespace netd::config_reading
