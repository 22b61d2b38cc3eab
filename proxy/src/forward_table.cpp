#include "netd/proxy/forward_table.hpp"

#include <cassert>

namespace netd::proxy {

std::optional<std::uint16_t> ForwardTable::FreePort(Ipv4Address client) const {
  auto used = ports_by_client_.find(client);
  for (std::uint32_t port = listen_ports_.first; port <= listen_ports_.last; ++port) {
    if (used == ports_by_client_.end() ||
        !used->second.contains(static_cast<std::uint16_t>(port))) {
      return static_cast<std::uint16_t>(port);
    }
  }
  return std::nullopt;
}

void ForwardTable::Add(const Forward& forward) {
  assert(!forwards_.contains(forward.id));
  [[maybe_unused]] bool inserted =
      ports_by_client_[forward.client].insert(forward.listen_port).second;
  assert(inserted);
  forwards_.emplace(forward.id, forward);
  by_expiry_.emplace(forward.expires_ms, forward.id);
}

std::optional<Forward> ForwardTable::Remove(std::string_view id) {
  auto it = forwards_.find(id);
  if (it == forwards_.end()) return std::nullopt;
  auto forward = std::move(it->second);
  forwards_.erase(it);
  by_expiry_.erase({forward.expires_ms, forward.id});
  auto ports = ports_by_client_.find(forward.client);
  ports->second.erase(forward.listen_port);
  if (ports->second.empty()) ports_by_client_.erase(ports);
  return forward;
}

void ForwardTable::SetExpiry(std::string_view id, std::int64_t expires_ms) {
  auto it = forwards_.find(id);
  assert(it != forwards_.end());
  by_expiry_.erase({it->second.expires_ms, it->second.id});
  it->second.expires_ms = expires_ms;
  by_expiry_.emplace(expires_ms, it->second.id);
}

const Forward* ForwardTable::Find(std::string_view id) const {
  auto it = forwards_.find(id);
  return it == forwards_.end() ? nullptr : &it->second;
}

std::vector<std::string> ForwardTable::OfVm(std::string_view vm) const {
  std::vector<std::string> ids;
  for (const auto& [id, forward] : forwards_) {
    if (forward.vm == vm) ids.push_back(id);
  }
  return ids;
}

std::vector<std::string> ForwardTable::ExpiredAt(std::int64_t now_ms) const {
  std::vector<std::string> ids;
  for (const auto& [expires_ms, id] : by_expiry_) {
    if (expires_ms > now_ms) break;
    ids.push_back(id);
  }
  return ids;
}

std::optional<std::int64_t> ForwardTable::NextExpiry() const {
  if (by_expiry_.empty()) return std::nullopt;
  return by_expiry_.begin()->first;
}

}  // namespace netd::proxy
