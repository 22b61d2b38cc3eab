#include "mutation.hpp"

#include <cassert>

#include "netd/firewall/gateway_firewall.hpp"

namespace netd {

void Mutation::WriteFirst(std::function<void()> rows) {
  write_rows = [rows = std::move(rows), planned = std::move(write_rows)] {
    rows();
    if (planned) planned();
  };
}

void Mutation::UndoAlso(std::function<void()> undo) {
  undo_memory = [undo = std::move(undo), planned = std::move(undo_memory)] {
    if (planned) planned();
    undo();
  };
}

void CommitMutation(AuditChain& audit, const Mutation& mutation) {
  const auto write_rows = [&] {
    if (mutation.write_rows) mutation.write_rows();
  };
  const auto undo_memory = [&] {
    if (mutation.undo_memory) mutation.undo_memory();
  };
  if (!mutation.kernel) {
    try {
      audit.Record(mutation.event, write_rows);
    } catch (...) {
      undo_memory();
      throw;
    }
    return;
  }
  assert(mutation.firewall != nullptr && "a kernel change without the gateway role");
  mutation.firewall->Apply(*mutation.kernel, undo_memory,
                           [&](const std::function<void()>& apply_kernel) {
                             audit.Record(mutation.event, [&] {
                               write_rows();
                               apply_kernel();
                             });
                           });
}

void RunAfterCommit(const std::vector<std::function<void()>>& actions) {
  for (const auto& action : actions) {
    if (action) action();
  }
}

}  // namespace netd
