#include "netd/firewall/packet_filter.hpp"

// <netinet/in.h> must come before the linux headers that redefine its types.
// clang-format off
#include <netinet/in.h>
#include <linux/netfilter.h>
// clang-format on
#include <spdlog/spdlog.h>

#include <cerrno>
#include <mutex>
#include <optional>
#include <stdexcept>

#include "nft_batch.hpp"
#include "set_elements.hpp"
#include "table_builder.hpp"
#include "table_monitor.hpp"
#include "table_objects.hpp"

namespace netd::firewall {

std::string_view ToString(TableProtection protection) {
  return protection == TableProtection::kOwned ? "owner" : "guard";
}

std::string_view ToString(TableMode mode) {
  switch (mode) {
    case TableMode::kAuto:
      return "auto";
    case TableMode::kOwner:
      return "owner";
    case TableMode::kGuard:
      return "guard";
  }
  return "auto";
}

ElementChanges::ElementChanges(const allowlist::SetChanges& changes) {
  static_cast<allowlist::SetElements&>(add) = changes.add;
  static_cast<allowlist::SetElements&>(remove) = changes.remove;
}

std::size_t ElementChanges::size() const {
  return add.exact.size() + add.ranges.size() + add.bindings.size() + add.forwards.size() +
         remove.exact.size() + remove.ranges.size() + remove.bindings.size() +
         remove.forwards.size();
}

namespace {

class NftablesPacketFilter final : public PacketFilter {
 public:
  bool SupportsOwnedTables() override {
    if (!owned_tables_supported_) {
      NftBatch batch;
      AddOwnedTableProbe(batch, kProbeTableName);
      try {
        Commit(batch);
        owned_tables_supported_ = true;
      } catch (const NftError& refusal) {
        if (refusal.error_number() != EOPNOTSUPP) throw;
        owned_tables_supported_ = false;
      }
    }
    return *owned_tables_supported_;
  }

  void ApplyTable(const TableLayout& layout, const TableElements& elements) override {
    if (layout.protection == TableProtection::kOwned && !SupportsOwnedTables()) {
      throw std::logic_error("an owned table on a kernel without flags owner,persist");
    }
    NftBatch batch;
    // Kernels that know persist know destroy, which also replaces a table flagged persist.
    AddTableReplacement(
        batch, layout, elements,
        SupportsOwnedTables() ? TableRemoval::kDestroy : TableRemoval::kCreateThenDelete);
    Commit(batch);
  }

  void Update(const ElementChanges& changes) override {
    if (changes.empty()) return;
    NftBatch batch;
    AddElementChanges(batch, changes);
    Commit(batch);
  }

  std::size_t CutFlows(const std::set<Ipv4Address>& vms,
                       const std::function<bool(const FlowTuple&)>& still_allowed) override {
    if (vms.empty()) return 0;
    ConntrackFilter filter;
    // The kernel filters on one exact source; for several VMs the dump is filtered here.
    if (vms.size() == 1) filter.source = *vms.begin();
    filter.keep = [&](const FlowTuple& flow) {
      return !vms.contains(flow.source) || still_allowed(flow);
    };
    std::lock_guard lock(conntrack_mutex_);
    return conntrack_.Delete(filter);
  }

  std::size_t CutForwardFlows(Ipv4Address client, std::uint16_t listen_port) override {
    ConntrackFilter filter;
    filter.source = client;
    filter.protocol = IPPROTO_TCP;
    filter.destination_ports = PortRange{listen_port, listen_port};
    std::lock_guard lock(conntrack_mutex_);
    return conntrack_.Delete(filter);
  }

  std::vector<ExactAllow> TimedAllowElements() override {
    std::vector<ExactAllow> timed;
    for (const auto& element : socket_.ListSetElements(kTableName, kSetAllow)) {
      if (!element.expires_in_ms || element.key.size() != 16) continue;
      auto word = [&](std::size_t at) {
        return static_cast<std::uint32_t>(element.key[at]) << 24 |
               static_cast<std::uint32_t>(element.key[at + 1]) << 16 |
               static_cast<std::uint32_t>(element.key[at + 2]) << 8 | element.key[at + 3];
      };
      ExactAllow allow{Ipv4Address(word(0)), Ipv4Address(word(4)), element.key[8],
                       static_cast<std::uint16_t>(element.key[12] << 8 | element.key[13])};
      allow.timeout_ms = *element.expires_in_ms;
      timed.push_back(allow);
    }
    return timed;
  }

  int foreign_change_fd() const override { return monitor_.fd(); }

  bool TakeForeignChanges() override {
    bool changed = monitor_.Drain() || raced_;
    raced_ = false;
    return changed;
  }

 private:
  // netd's own transactions are not heard as changes: the monitor stops listening while one
  // commits. A transaction of someone else in that window would go unheard, so the generation
  // count tells whether one happened; if so the table is treated as changed.
  void Commit(NftBatch& batch) {
    monitor_.Pause();
    std::optional<std::uint32_t> before;
    try {
      before = socket_.Generation();
      socket_.Commit(batch);
    } catch (...) {
      ResumeAndCompare(before, false);
      throw;
    }
    ResumeAndCompare(before, true);
  }

  // Never throws: the transaction's outcome is already decided, and a doubt about the window
  // only means the table is re-applied.
  void ResumeAndCompare(std::optional<std::uint32_t> before, bool committed) noexcept {
    try {
      monitor_.Resume();
      auto after = socket_.Generation();
      if (before && after == *before + (committed ? 1 : 0)) return;
      spdlog::debug("firewall: another nftables transaction committed beside netd's own");
    } catch (const std::exception& failure) {
      spdlog::warn("firewall: cannot tell whether the table changed beside netd's transaction: {}",
                   failure.what());
    }
    raced_ = true;
  }

  static constexpr const char* kProbeTableName = "ticrypt_probe";
  std::optional<bool> owned_tables_supported_;
  TableMonitor monitor_{NFPROTO_INET, kTableName};
  bool raced_ = false;
  NftSocket socket_;
  std::mutex conntrack_mutex_;  // cuts come from the API's thread and from netd's cutter
  ConntrackTable conntrack_;
};

}  // namespace

std::unique_ptr<PacketFilter> MakeNftablesPacketFilter() {
  return std::make_unique<NftablesPacketFilter>();
}

}  // namespace netd::firewall
