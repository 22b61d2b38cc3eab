#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>

#include "netd/ovs/ovsdb_client.hpp"

namespace netd::policy {

// Which cached rows of a table hold which key (a Binding's vm, a Group's name), kept up to date
// from the client's row versions: a pass then compares only the keys that changed on either
// side instead of every row. Rows without a string key are under the empty key.
class KeyIndex {
 public:
  KeyIndex(std::string table, std::string key_column)
      : table_(std::move(table)), key_column_(std::move(key_column)) {}

  // Forgets the rows: the client's cache is gone (a lost connection).
  void Reset() { valid_ = false; }
  // Catches up with the cache. Returns false when it had to index every row afresh (after a
  // Reset); otherwise adds to `changed` the keys of rows added, changed or gone since.
  bool Follow(const ovs::OvsdbClient& client, std::set<std::string>& changed);
  // A row this publisher deleted: gone from the index before the scan for gone rows would
  // have to find it. Its key goes into `changed`.
  void Forget(const std::string& uuid, std::set<std::string>& changed);
  // The cached rows that hold one of `keys`.
  ovs::OvsdbClient::Rows RowsOf(const ovs::OvsdbClient& client,
                                const std::set<std::string>& keys) const;

 private:
  std::string KeyOf(const nlohmann::json& row) const;
  void Add(const std::string& uuid, const std::string& key);
  void Remove(const std::string& uuid, const std::string& key);

  std::string table_;
  std::string key_column_;
  bool valid_ = false;
  std::uint64_t version_ = 0;                  // the client's last version when last followed
  std::map<std::string, std::string> key_of_;  // uuid -> key, in the cache's order
  std::map<std::string, std::set<std::string>> uuids_of_;
};

}  // namespace netd::policy
