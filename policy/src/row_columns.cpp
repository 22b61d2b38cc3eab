#include "row_columns.hpp"

namespace netd::policy::columns {

using nlohmann::json;

const std::string* String(const json& row, const char* column) {
  auto it = row.find(column);
  return it != row.end() && it->is_string() ? &it->get_ref<const std::string&>() : nullptr;
}

std::vector<json> Atoms(const json& column) {
  if (column.is_array() && column.size() == 2 && column[0] == "set") {
    return column[1].get<std::vector<json>>();
  }
  if (column.is_null()) return {};
  return {column};
}

std::set<std::string> StringSet(const json& column) {
  std::set<std::string> out;
  for (const auto& atom : Atoms(column)) {
    if (atom.is_string()) out.insert(atom.get<std::string>());
  }
  return out;
}

std::set<std::int64_t> IntegerSet(const json& column) {
  std::set<std::int64_t> out;
  for (const auto& atom : Atoms(column)) {
    if (atom.is_number_integer()) out.insert(atom.get<std::int64_t>());
  }
  return out;
}

std::set<std::string> UuidSet(const json& column) {
  std::set<std::string> out;
  for (const auto& atom : Atoms(column)) {
    if (atom.is_array() && atom.size() == 2 && atom[0] == "uuid") out.insert(atom[1]);
  }
  return out;
}

}  // namespace netd::policy::columns
