#pragma once

#include <compare>
#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "netd/allowlist/elements.hpp"
#include "netd/common/address.hpp"
#include "netd/common/port_range.hpp"
#include "netd/firewall/conntrack.hpp"

namespace netd::firewall {

// The kernel refused a transaction; nothing of it was applied.
class NftError : public std::runtime_error {
 public:
  NftError(std::string object, int error_number, std::string kernel_message);

  const std::string& object() const { return object_; }  // e.g. "rule 2 of chain forward_secure"
  int error_number() const { return error_number_; }
  const std::string& kernel_message() const { return kernel_message_; }

 private:
  std::string object_;
  int error_number_;
  std::string kernel_message_;
};

// One network the gateway serves, as the table sees it.
struct FilteredNetwork {
  std::string name;
  std::string interface;  // the gateway's interface on that network (the bridge's port)
  Ipv4Cidr cidr;
  Ipv4Address gateway;
  bool allowlist_egress = false;  // secure: allowlist only, anti-spoofed; else open egress
};

// How the table stands against other processes (docs/firewall.md, "Failing closed").
enum class TableProtection {
  // An ordinary table: anyone may change or delete it; netd repairs it, and the route guard
  // keeps the VM networks from being forwarded while it is missing.
  kGuard,
  // `flags owner,persist` (Linux 6.9+): only netd's netlink socket may change it, `flush
  // ruleset` skips it, and it stays in the kernel when netd exits or dies. The route guard
  // stays on as well, since an orphaned table may be deleted until netd takes it back.
  kOwned,
};
std::string_view ToString(TableProtection protection);

// What the configuration asks for (gateway.table_mode): an owned table where the kernel has
// them (auto) or always (owner, refusing to start without), or a guarded one only. The gateway
// firewall resolves it into a TableProtection when it starts.
enum class TableMode { kAuto, kOwner, kGuard };
std::string_view ToString(TableMode mode);

// Everything the `inet ticrypt` table is generated from (DESIGN.md section 6).
struct TableLayout {
  TableProtection protection = TableProtection::kGuard;
  // The packet mark bit the table's guard chains set on what may be routed; policy routing
  // drops VM-network traffic without it (RouteGuard).
  std::uint32_t route_mark = 0x20000000;
  std::vector<FilteredNetwork> networks;
  std::string external_interface;
  std::vector<std::uint16_t> backend_tcp_ports;  // what VMs may reach on their gateway address
  std::uint16_t log_group = 0;                   // nflog group of denied secure egress
  std::uint32_t log_rate_per_second = 10;
  // Port forwards into VM networks (DNAT from the external interface, pinned to a client).
  PortRange forward_ports{6000, 6100};
  std::vector<std::uint16_t> forward_vm_ports{22};  // what a forward may reach in a VM
};

// The allowlist's set elements, as the table holds them.
using allowlist::BoundAddress;
using allowlist::ExactAllow;
using allowlist::RangeAllow;

// An `fwd4` element: client . listen port -> VM . VM port, for `timeout_ms` (0: none).
struct ForwardElement {
  Ipv4Address client;
  std::uint16_t listen_port = 0;
  Ipv4Address vm;
  std::uint16_t vm_port = 0;
  std::uint64_t timeout_ms = 0;
};

// Every element of the table's sets: the allowlist's and the forwards.
struct TableElements : allowlist::SetElements {
  std::vector<ForwardElement> forwards;  // deleted by key; the timeout counts on add only
};

// Element additions and deletions applied as one transaction: deletions first.
struct ElementChanges {
  TableElements add;
  TableElements remove;

  ElementChanges() = default;
  // The allowlist's changes, nothing of the forwards.
  ElementChanges(const allowlist::SetChanges& changes);  // NOLINT(google-explicit-constructor)
  bool empty() const { return size() == 0; }
  std::size_t size() const;
};

// The seam between netd's policy and the kernel: the real one speaks nf_tables and ctnetlink,
// unit tests of the policy above use a recording fake.
class PacketFilter {
 public:
  virtual ~PacketFilter() = default;

  // Whether the kernel takes `flags owner,persist` (Linux 6.9+, or a backport), found by
  // creating and destroying a scratch table once; false when it answers EOPNOTSUPP.
  virtual bool SupportsOwnedTables() = 0;
  // Replaces the whole table (structure and elements) in one transaction.
  virtual void ApplyTable(const TableLayout& layout, const TableElements& elements) = 0;
  // Adds and deletes elements in one transaction.
  virtual void Update(const ElementChanges& changes) = 0;
  // Deletes the conntrack entries of flows from `vms` that `still_allowed` rejects, so that
  // revoked destinations lose their established connections too; returns how many. One pass
  // over the conntrack table, whatever the number of VMs. May run on a thread of its own,
  // concurrently with the other calls.
  virtual std::size_t CutFlows(const std::set<Ipv4Address>& vms,
                               const std::function<bool(const FlowTuple&)>& still_allowed) = 0;

  // Deletes the conntrack entries of a forward's sessions (client to the listen port), so
  // that closing it cuts them; returns how many.
  virtual std::size_t CutForwardFlows(Ipv4Address client, std::uint16_t listen_port) = 0;

  // The `allow4` elements the kernel holds with a timeout (those DNS answers opened), each
  // with the time it has left as its timeout_ms; empty when there is no table yet.
  virtual std::vector<ExactAllow> TimedAllowElements() = 0;

  // Changes made by anyone else: the descriptor turns readable when the kernel reports one
  // (wait for it, then call TakeForeignChanges).
  virtual int foreign_change_fd() const = 0;
  // Reads what was reported; true when someone else may have changed or deleted the table
  // since the last call: an event named it, events were lost, or another transaction
  // committed while netd's own was in flight.
  virtual bool TakeForeignChanges() = 0;
};

// The real packet filter, in the calling thread's network namespace.
std::unique_ptr<PacketFilter> MakeNftablesPacketFilter();

}  // namespace netd::firewall
