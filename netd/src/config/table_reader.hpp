#pragma once

// Internal to reading the configuration file (config.cpp, config/*_section.cpp): the reader
// every section reader works with, and the value formats more than one section uses.

#include <toml++/toml.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "netd/common/address.hpp"
#include "netd/ovs/remote.hpp"

namespace netd::config_reading {

// Reads one TOML table, remembering which keys were consumed so that unknown keys (usually
// typos) are reported instead of silently ignored.
class TableReader {
 public:
  TableReader(const toml::table& table, std::string path, const std::string& file);

  // Throws ConfigError located at `node`, or at the table itself when the key is missing.
  [[noreturn]] void Fail(const toml::node* node, std::string_view key,
                         std::string_view message) const;
  std::string KeyPath(std::string_view key) const;

  const toml::node* Node(std::string_view key);
  std::optional<std::string> String(std::string_view key);
  std::string RequiredString(std::string_view key);
  std::optional<std::int64_t> Integer(std::string_view key, std::int64_t min, std::int64_t max);
  std::optional<bool> Bool(std::string_view key);
  const toml::table* Table(std::string_view key);
  const toml::array* Array(std::string_view key);

  // The integer at `key` as the field's type, or `fallback` (the field's default) when absent.
  template <typename T>
  T IntegerOr(std::string_view key, std::int64_t min, std::int64_t max, T fallback) {
    return static_cast<T>(Integer(key, min, max).value_or(static_cast<std::int64_t>(fallback)));
  }

  // The elements of the array at `key`, each made by `parse` (std::nullopt: refused with
  // `message`, located at the element); none when the key is absent.
  template <typename Parse,
            typename T = typename std::invoke_result_t<Parse, const toml::node&>::value_type>
  std::optional<std::vector<T>> ArrayOf(std::string_view key, Parse parse,
                                        std::string_view message) {
    const auto* array = Array(key);
    if (!array) return std::nullopt;
    std::vector<T> values;
    for (const auto& element : *array) {
      auto value = parse(element);
      if (!value) Fail(&element, key, message);
      values.push_back(*value);
    }
    return values;
  }

  // A reader of the table at `key`, whose keys are named below this table's; none when the
  // key is absent.
  std::optional<TableReader> Section(std::string_view key);

  void RejectUnknownKeys() const;

  const std::string& file() const { return file_; }

  static std::string_view TypeOf(const toml::node& node);

 private:
  // The node at `key` as a T (toml::table, toml::array), described as `what` when it is not.
  template <typename T>
  const T* Typed(std::string_view key, std::string_view what);

  const toml::table& table_;
  std::string path_;
  const std::string& file_;
  std::set<std::string, std::less<>> consumed_;
};

Ipv4Address ReadAddress(TableReader& reader, std::string_view key);
// An empty optional name is allowed (it means none).
std::string ReadInterfaceName(TableReader& reader, std::string_view key, bool required);
std::filesystem::path ReadPath(TableReader& reader, std::string_view key,
                               const std::filesystem::path& fallback);
// A TLS client's files, at `prefix` + "private_key", "certificate" and "ca_certificate": `ssl`
// (an ssl: remote) needs all three, an absent one refused with `missing`; any other remote takes
// none, a present one refused with `not_ssl`.
ovs::TlsFiles ReadTlsFiles(TableReader& reader, std::string_view prefix, bool ssl,
                           std::string_view missing, std::string_view not_ssl);

}  // namespace netd::config_reading
