#pragma once

#include <functional>
#include <optional>
#include <utility>
#include <vector>

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
  // Unset parts: no rows besides the audit record, no kernel change, nothing to undo.
  Mutation(AuditEvent event, std::function<void()> write_rows = {},
           std::optional<firewall::ElementChanges> kernel = std::nullopt,
           std::function<void()> undo_memory = {}, firewall::GatewayFirewall* firewall = nullptr)
      : event(std::move(event)),
        write_rows(std::move(write_rows)),
        kernel(std::move(kernel)),
        undo_memory(std::move(undo_memory)),
        firewall(firewall) {}

  AuditEvent event;
  // The store rows to write, inside the transaction that appends the audit record.
  std::function<void()> write_rows;
  // The kernel's part: element changes of the gateway's table (empty changes still go through
  // the firewall, which keeps DNS-learned elements in line with the policy).
  std::optional<firewall::ElementChanges> kernel;
  std::function<void()> undo_memory;
  // Who applies `kernel`: the gateway's firewall (null when there is no kernel part).
  firewall::GatewayFirewall* firewall = nullptr;

  // For a capability that takes part in another's mutation (a binding): its rows are written
  // before the ones already planned, its undo runs after theirs.
  void WriteFirst(std::function<void()> rows);
  void UndoAlso(std::function<void()> undo);
};

// Opens a store transaction, writes the rows and the audit record, applies the kernel batch,
// commits. A refusal at any step (store, kernel, commit) leaves store, kernel and memory as
// they were: the transaction rolls back, a batch the kernel took is applied inverted, memory is
// undone, and the error propagates for the route table to audit as refused.
void CommitMutation(AuditChain& audit, const Mutation& mutation);

// Runs what observers asked to do after a commit, in order (empty ones skipped).
void RunAfterCommit(const std::vector<std::function<void()>>& actions);

}  // namespace netd
