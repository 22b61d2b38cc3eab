#include "ovsdb_rows.hpp"

namespace netd::ovs::rows {

using nlohmann::json;

const json& Column(const json& row, const char* name) {
  static const json kNone;
  auto it = row.find(name);
  return it == row.end() ? kNone : *it;
}

const std::pair<const std::string, json>* FindNamed(const std::map<std::string, json>& table,
                                                    const std::string& name) {
  for (const auto& entry : table) {
    const auto& column = Column(entry.second, "name");
    if (column.is_string() && column.get_ref<const std::string&>() == name) return &entry;
  }
  return nullptr;
}

std::optional<std::string> ExternalId(const json& row, const std::string& key) {
  auto it = row.find("external_ids");
  if (it == row.end() || !it->is_array() || it->size() != 2 || (*it)[0] != "map") {
    return std::nullopt;
  }
  for (const auto& pair : (*it)[1]) {
    if (pair.size() == 2 && pair[0] == key && pair[1].is_string()) {
      return pair[1].get<std::string>();
    }
  }
  return std::nullopt;
}

bool Managed(const json& row) {
  return ExternalId(row, "netd-managed") == "true";
}

std::vector<std::string> Uuids(const json& column) {
  std::vector<std::string> uuids;
  if (!column.is_array() || column.size() != 2) return uuids;
  if (column[0] == "uuid") {
    uuids.push_back(column[1]);
  } else if (column[0] == "set") {
    for (const auto& item : column[1]) uuids.push_back(item[1]);
  }
  return uuids;
}

std::optional<std::int64_t> OptionalInteger(const json& column) {
  if (column.is_number_integer()) return column.get<std::int64_t>();
  return std::nullopt;
}

}  // namespace netd::ovs::rows
