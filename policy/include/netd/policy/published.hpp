#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>

#include "netd/common/address.hpp"

namespace netd::policy {

// A VM's binding as the policy database shows it (a Binding row).
struct PublishedBinding {
  std::string vm;
  std::string network;
  MacAddress mac;
  Ipv4Address ip;
  friend bool operator==(const PublishedBinding&, const PublishedBinding&) = default;
};

// A group of VMs and what it opens (a Group row).
struct PublishedGroup {
  std::string name;
  std::string network;
  std::set<std::string> members;
  std::string protocol;  // all, tcp, udp, icmp
  std::set<std::uint16_t> ports;
  std::string comment;
  friend bool operator==(const PublishedGroup&, const PublishedGroup&) = default;
};

// What the database should hold: the store's rows and the hosts' listeners.
struct PolicyContents {
  std::map<std::string, PublishedBinding> bindings;  // by vm
  std::map<std::string, PublishedGroup> groups;      // by name
  // ovsdb-server remotes for the hosts ("pssl:6642:192.0.2.10"): Connection rows, read-only.
  std::set<std::string> host_listeners;
};

}  // namespace netd::policy
