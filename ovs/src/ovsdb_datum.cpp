#include "ovsdb_datum.hpp"

#include <algorithm>
#include <limits>
#include <stdexcept>
#include <utility>
#include <vector>

namespace netd::ovs::datum {
namespace {

using nlohmann::json;

[[noreturn]] void Fail(const std::string& what, const json& value) {
  throw std::runtime_error(what + ": " + value.dump());
}

// <base-type>: an atomic type's name, or an object naming it with constraints.
std::string AtomicType(const json& base) {
  if (base.is_string()) return base.get<std::string>();
  if (base.is_object() && base.contains("type") && base["type"].is_string()) {
    return base["type"].get<std::string>();
  }
  Fail("not an OVSDB base type", base);
}

ColumnType ParseType(const json& type) {
  ColumnType column;
  if (type.is_string()) {
    column.key = type.get<std::string>();
    return column;
  }
  if (!type.is_object() || !type.contains("key")) Fail("not an OVSDB column type", type);
  column.key = AtomicType(type["key"]);
  if (auto value = type.find("value"); value != type.end()) column.value = AtomicType(*value);
  if (auto min = type.find("min"); min != type.end()) column.min = min->get<std::uint64_t>();
  if (auto max = type.find("max"); max != type.end()) {
    column.max =
        *max == "unlimited" ? std::numeric_limits<std::uint64_t>::max() : max->get<std::uint64_t>();
  }
  return column;
}

json DefaultAtom(const std::string& type) {
  if (type == "integer") return 0;
  if (type == "real") return 0.0;
  if (type == "boolean") return false;
  if (type == "string") return "";
  if (type == "uuid") return json::array({"uuid", "00000000-0000-0000-0000-000000000000"});
  Fail("not an OVSDB atomic type", type);
}

// ovsdb-server's order of atoms of one type, which is the order of elements it sends.
bool AtomLess(const json& a, const json& b, const std::string& type) {
  if (type == "integer") return a.get<std::int64_t>() < b.get<std::int64_t>();
  if (type == "real") return a.get<double>() < b.get<double>();
  if (type == "boolean") return a.get<bool>() < b.get<bool>();
  if (type == "string") return a.get_ref<const std::string&>() < b.get_ref<const std::string&>();
  // ["uuid", "…"]: the lower-case text orders as the uuid's numbers do.
  return a.at(1).get_ref<const std::string&>() < b.at(1).get_ref<const std::string&>();
}

bool Tagged(const json& value, const char* tag) {
  return value.is_array() && value.size() == 2 && value[0] == tag && value[1].is_array();
}

// The elements of a set: ["set", [...]] or one bare element (which may be ["uuid", "…"]).
std::vector<json> Elements(const json& value) {
  if (Tagged(value, "set")) return value[1].get<std::vector<json>>();
  if (Tagged(value, "map")) Fail("a map where a set was expected", value);
  return {value};
}

std::vector<std::pair<json, json>> Pairs(const json& value) {
  if (!Tagged(value, "map")) Fail("not an OVSDB map", value);
  std::vector<std::pair<json, json>> pairs;
  for (const auto& pair : value[1]) {
    if (!pair.is_array() || pair.size() != 2) Fail("not a pair of an OVSDB map", pair);
    pairs.emplace_back(pair[0], pair[1]);
  }
  return pairs;
}

json ToggleSet(const json& old, const json& diff, const ColumnType& type) {
  auto elements = Elements(old);
  for (auto& element : Elements(diff)) {
    auto present = std::find(elements.begin(), elements.end(), element);
    if (present != elements.end()) {
      elements.erase(present);
    } else {
      elements.push_back(std::move(element));
    }
  }
  std::sort(elements.begin(), elements.end(),
            [&](const json& a, const json& b) { return AtomLess(a, b, type.key); });
  if (elements.size() == 1) return elements.front();
  return json::array({"set", elements});
}

json ApplyMapDiff(const json& old, const json& diff, const ColumnType& type) {
  auto pairs = Pairs(old);
  for (auto& [key, value] : Pairs(diff)) {
    auto present = std::find_if(pairs.begin(), pairs.end(),
                                [&key = key](const auto& pair) { return pair.first == key; });
    if (present == pairs.end()) {
      pairs.emplace_back(std::move(key), std::move(value));
    } else if (present->second == value) {
      pairs.erase(present);
    } else {
      present->second = std::move(value);
    }
  }
  std::sort(pairs.begin(), pairs.end(),
            [&](const auto& a, const auto& b) { return AtomLess(a.first, b.first, type.key); });
  json items = json::array();
  for (auto& [key, value] : pairs) items.push_back(json::array({std::move(key), std::move(value)}));
  return json::array({"map", std::move(items)});
}

}  // namespace

Types ParseTypes(const json& schema) {
  if (!schema.is_object() || !schema.contains("tables") || !schema["tables"].is_object()) {
    throw std::runtime_error("not an OVSDB schema");
  }
  Types types;
  for (const auto& [table, table_schema] : schema["tables"].items()) {
    auto& columns = types[table];
    for (const auto& [column, column_schema] : table_schema.at("columns").items()) {
      columns[column] = ParseType(column_schema.at("type"));
    }
  }
  return types;
}

json DefaultValue(const ColumnType& type) {
  if (type.min == 0) return json::array({type.map() ? "map" : "set", json::array()});
  if (type.map()) {
    return json::array(
        {"map", json::array({json::array({DefaultAtom(type.key), DefaultAtom(type.value)})})});
  }
  return DefaultAtom(type.key);
}

json ApplyDiff(const json& old, const json& diff, const ColumnType& type) {
  if (!type.composite()) return diff;
  try {
    return type.map() ? ApplyMapDiff(old, diff, type) : ToggleSet(old, diff, type);
  } catch (const json::exception& error) {
    // An atom of another type than the column's.
    throw std::runtime_error(std::string("a value that does not fit its column: ") + error.what());
  }
}

}  // namespace netd::ovs::datum
