#pragma once

#include <functional>
#include <optional>

#include "netd/daemon/audit.hpp"
#include "netd/firewall/packet_filter.hpp"

namespace netd {

namespace firewall {
class GatewayFirewall;
}  // namespace firewall

// One validated change on its way to the answer. The handler has validated the request in
// full and planned the change: the in-memory state (policy, forwards) already holds it and
// `undo_memory` puts it back. CommitMutation then takes every mutation the same way
// (docs/architecture.md, "A mutation, end to end").
struct Mutation {
  AuditEvent event;
  // The store rows to write, inside the transaction that appends the audit record.
  std::function<void()> write_rows;
  // The kernel's part: element changes of the gateway's table (empty changes still go through
  // the firewall, which keeps DNS-learned elements in line with the policy).
  std::optional<firewall::ElementChanges> kernel;
  std::function<void()> undo_memory;
};

// Opens a store transaction, writes the rows and the audit record, applies the kernel batch,
// commits. A refusal at any step (store, kernel, commit) leaves store, kernel and memory as
// they were: the transaction rolls back, a batch the kernel took is applied inverted, memory is
// undone, and the error propagates for the route table to audit as refused.
void CommitMutation(AuditChain& audit, firewall::GatewayFirewall* firewall,
                    const Mutation& mutation);

}  // namespace netd
