#pragma once

#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "netd/firewall/packet_filter.hpp"

namespace netd::testing {

// The packet-filter seam for unit tests of the policy above it: holds the elements the kernel
// would hold, and can be told to refuse the next change as the kernel would.
class RecordingPacketFilter final : public firewall::PacketFilter {
 public:
  RecordingPacketFilter();
  ~RecordingPacketFilter() override;
  RecordingPacketFilter(const RecordingPacketFilter&) = delete;
  RecordingPacketFilter& operator=(const RecordingPacketFilter&) = delete;

  // As a kernel with (or, after kernel_has_owned_tables = false, without) flags owner,persist:
  // a kernel without them answers EOPNOTSUPP to an owned table.
  bool SupportsOwnedTables() override { return kernel_has_owned_tables; }
  void ApplyTable(const firewall::TableLayout& layout,
                  const firewall::TableElements& elements) override;
  void Update(const firewall::ElementChanges& changes) override;
  std::size_t CutFlows(
      const std::set<Ipv4Address>& vms,
      const std::function<bool(const allowlist::FlowTuple&)>& still_allowed) override;

  std::size_t CutForwardFlows(Ipv4Address client, std::uint16_t listen_port) override;
  std::vector<allowlist::ExactAllow> TimedAllowElements() override {
    std::vector<allowlist::ExactAllow> timed;
    for (const auto& element : exact) {
      if (element.timeout_ms > 0) timed.push_back(element);
    }
    return timed;
  }
  int foreign_change_fd() const override { return foreign_changes_; }
  bool TakeForeignChanges() override;

  // As if another process had changed the table: the descriptor turns readable.
  void ChangeFromOutside();

  // The next ApplyTable or Update throws NftError and changes nothing.
  void RefuseNext() { refuse_next_ = true; }

  // Flows "tracked" for CutFlows: it deletes those of the VM that still_allowed rejects.
  std::set<std::tuple<std::uint32_t, std::uint32_t, int, int>> flows;

  std::set<allowlist::ExactAllow> exact;
  std::set<allowlist::RangeAllow> ranges;
  std::set<allowlist::BoundAddress> bindings;
  // fwd4 by (client, listen port).
  static std::pair<std::uint32_t, std::uint16_t> ForwardKey(const firewall::ForwardElement& e) {
    return {e.client.value(), e.listen_port};
  }
  std::map<std::pair<std::uint32_t, std::uint16_t>, firewall::ForwardElement> forwards;
  std::vector<std::pair<Ipv4Address, std::uint16_t>> forward_cuts;
  int applies = 0;
  int updates = 0;
  bool kernel_has_owned_tables = true;
  // The protection of the last table applied.
  firewall::TableProtection protection = firewall::TableProtection::kGuard;

 private:
  void MaybeRefuse(const std::string& what);
  bool refuse_next_ = false;
  int foreign_changes_ = -1;  // an eventfd
};

}  // namespace netd::testing
