#include "mutation.hpp"

#include <cassert>

#include "netd/firewall/gateway_firewall.hpp"

namespace netd {

void CommitMutation(AuditChain& audit, firewall::GatewayFirewall* firewall,
                    const Mutation& mutation) {
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
  assert(firewall != nullptr && "a kernel change without the gateway role");
  firewall->Apply(*mutation.kernel, undo_memory, [&](const std::function<void()>& apply_kernel) {
    audit.Record(mutation.event, [&] {
      write_rows();
      apply_kernel();
    });
  });
}

}  // namespace netd
