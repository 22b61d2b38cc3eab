#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

// Reading columns of OVSDB rows in RFC 7047's JSON notation (["map", ...], ["set", ...],
// ["uuid", ...]).
namespace netd::ovs::rows {

// A column of the row (null when the row lacks it), without copying it.
const nlohmann::json& Column(const nlohmann::json& row, const char* name);

// The row of `table` whose `name` column is `name`, with its uuid; nullptr when none.
const std::pair<const std::string, nlohmann::json>* FindNamed(
    const std::map<std::string, nlohmann::json>& table, const std::string& name);

// The value of `key` in the row's external_ids map, if any.
std::optional<std::string> ExternalId(const nlohmann::json& row, const std::string& key);

// Whether netd created the row (external_ids:netd-managed=true).
bool Managed(const nlohmann::json& row);

// The uuids of a column holding one reference or a set of them.
std::vector<std::string> Uuids(const nlohmann::json& column);

// An optional integer column (zero or one value), e.g. `tag` or `ofport`.
std::optional<std::int64_t> OptionalInteger(const nlohmann::json& column);

}  // namespace netd::ovs::rows
