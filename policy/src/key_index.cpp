#include "key_index.hpp"

namespace netd::policy {

std::string KeyIndex::KeyOf(const nlohmann::json& row) const {
  auto it = row.find(key_column_);
  return it != row.end() && it->is_string() ? it->get<std::string>() : std::string();
}

void KeyIndex::Add(const std::string& uuid, const std::string& key) {
  key_of_[uuid] = key;
  uuids_of_[key].insert(uuid);
}

void KeyIndex::Remove(const std::string& uuid, const std::string& key) {
  key_of_.erase(uuid);
  auto it = uuids_of_.find(key);
  if (it == uuids_of_.end()) return;
  it->second.erase(uuid);
  if (it->second.empty()) uuids_of_.erase(it);
}

bool KeyIndex::Follow(const ovs::OvsdbClient& client, std::set<std::string>& changed) {
  const auto& rows = client.rows(table_);
  if (!valid_) {
    key_of_.clear();
    uuids_of_.clear();
    for (const auto& [uuid, row] : rows) Add(uuid, KeyOf(row));
    valid_ = true;
    version_ = client.last_version();
    return false;
  }
  client.ForEachChangedSince(table_, version_, [&](const std::string& uuid) {
    auto key = KeyOf(rows.at(uuid));
    if (auto old = key_of_.find(uuid); old != key_of_.end() && old->second != key) {
      changed.insert(old->second);
      Remove(uuid, old->second);
    }
    Add(uuid, key);
    changed.insert(std::move(key));
  });
  version_ = client.last_version();
  // Gone rows leave no version behind: they show as indexed rows the cache lacks, found by
  // walking both in uuid order.
  if (key_of_.size() > rows.size()) {
    auto row = rows.begin();
    for (auto entry = key_of_.begin(); entry != key_of_.end();) {
      while (row != rows.end() && row->first < entry->first) ++row;
      if (row != rows.end() && row->first == entry->first) {
        ++entry;
        continue;
      }
      changed.insert(entry->second);
      auto uuids = uuids_of_.find(entry->second);
      uuids->second.erase(entry->first);
      if (uuids->second.empty()) uuids_of_.erase(uuids);
      entry = key_of_.erase(entry);
    }
  }
  return true;
}

void KeyIndex::Forget(const std::string& uuid, std::set<std::string>& changed) {
  auto it = key_of_.find(uuid);
  if (it == key_of_.end()) return;
  changed.insert(it->second);
  Remove(uuid, it->second);
}

ovs::OvsdbClient::Rows KeyIndex::RowsOf(const ovs::OvsdbClient& client,
                                        const std::set<std::string>& keys) const {
  const auto& rows = client.rows(table_);
  ovs::OvsdbClient::Rows out;
  for (const auto& key : keys) {
    auto it = uuids_of_.find(key);
    if (it == uuids_of_.end()) continue;
    for (const auto& uuid : it->second) out.emplace(uuid, rows.at(uuid));
  }
  return out;
}

}  // namespace netd::policy
