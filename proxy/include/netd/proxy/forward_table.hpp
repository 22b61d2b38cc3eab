#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "netd/common/address.hpp"
#include "netd/common/port_range.hpp"

namespace netd::proxy {

// A kernel port forward: TCP from `client` to the gateway's `listen_port` reaches
// `vm_ip`:`vm_port`, until `expires_ms` (Unix milliseconds).
struct Forward {
  std::string id;
  std::string vm;
  Ipv4Address vm_ip;
  std::uint16_t vm_port = 22;
  Ipv4Address client;
  std::uint16_t listen_port = 0;
  std::int64_t created_ms = 0;
  std::int64_t expires_ms = 0;
  friend bool operator==(const Forward&, const Forward&) = default;
};

// The open forwards, by id, by client and by VM. Listen ports are allocated per client: the
// range bounds how many forwards one client IP holds, not how many the enclave holds.
class ForwardTable {
 public:
  explicit ForwardTable(PortRange listen_ports) : listen_ports_(listen_ports) {}

  PortRange listen_ports() const { return listen_ports_; }
  // The lowest port of the range that `client` does not use yet; nullopt when it uses all.
  std::optional<std::uint16_t> FreePort(Ipv4Address client) const;

  // The forward's (client, listen port) must be free and its id new.
  void Add(const Forward& forward);
  std::optional<Forward> Remove(std::string_view id);
  void SetExpiry(std::string_view id, std::int64_t expires_ms);

  const Forward* Find(std::string_view id) const;
  std::vector<std::string> OfVm(std::string_view vm) const;
  // Forwards whose time has come at `now_ms`, and the earliest expiry of all.
  std::vector<std::string> ExpiredAt(std::int64_t now_ms) const;
  std::optional<std::int64_t> NextExpiry() const;
  const std::map<std::string, Forward, std::less<>>& all() const { return forwards_; }

 private:
  PortRange listen_ports_;
  std::map<std::string, Forward, std::less<>> forwards_;
  std::map<Ipv4Address, std::set<std::uint16_t>> ports_by_client_;
  std::set<std::pair<std::int64_t, std::string>> by_expiry_;
};

}  // namespace netd::proxy
