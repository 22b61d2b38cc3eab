#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

// Reading the columns of a policy database row as the monitor's cache holds them.
namespace netd::policy::columns {

// The string in `column` of `row`; nullptr if absent or not a string.
const std::string* String(const nlohmann::json& row, const char* column);

// OVSDB writes a set of one as the bare atom, any other as ["set", [...]].
std::vector<nlohmann::json> Atoms(const nlohmann::json& column);
std::set<std::string> StringSet(const nlohmann::json& column);
std::set<std::int64_t> IntegerSet(const nlohmann::json& column);
// The uuids of a set of references.
std::set<std::string> UuidSet(const nlohmann::json& column);

}  // namespace netd::policy::columns
