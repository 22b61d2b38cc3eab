#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

// Column values in RFC 7047's JSON notation as the update2 and update3 notifications of
// ovsdb-server's monitor_cond and monitor_cond_since send them (Open vSwitch's ovsdb-server(7)):
// rows without the columns whose value is the default, and changes as differences.
namespace netd::ovs::datum {

// A column's type, as far as reading those updates needs it (RFC 7047 <type>).
struct ColumnType {
  std::string key = "string";  // the key's atomic type: integer, real, boolean, string or uuid
  std::string value;           // a map's value type; empty for a set or a single value
  std::uint64_t min = 1;
  std::uint64_t max = 1;  // "unlimited" as UINT64_MAX

  bool map() const { return !value.empty(); }
  // ovsdb-server sends a difference only for a column that may hold several values; a column
  // of at most one (a scalar, or an optional value such as Port.tag) comes whole.
  bool composite() const { return max > 1; }
};

// Table -> column -> type.
using Types = std::map<std::string, std::map<std::string, ColumnType>>;

// The column types of a get_schema answer (a <database-schema>). Throws std::runtime_error
// when it is not one.
Types ParseTypes(const nlohmann::json& schema);

// The value of a column that ovsdb-server leaves out of an initial or inserted row, in the
// notation it would send it: an empty set or map, or the atomic type's default (0, 0.0, false,
// "", the all-zero uuid).
nlohmann::json DefaultValue(const ColumnType& type);

// The column's value after a "modify" whose difference for it is `diff`: for a single value,
// `diff` itself; for a set, the elements of `diff` toggled; for a map, each pair of `diff`
// added when its key is absent, removed when present with the same value, and replacing the
// value otherwise. The result is in ovsdb-server's own notation (elements in its order; a set
// of one element as the bare element), as a whole row would carry it. Throws
// std::runtime_error on a value that is not OVSDB notation.
nlohmann::json ApplyDiff(const nlohmann::json& old, const nlohmann::json& diff,
                         const ColumnType& type);

}  // namespace netd::ovs::datum
