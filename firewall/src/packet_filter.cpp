#include "netd/firewall/packet_filter.hpp"

#include <spdlog/spdlog.h>

#include "nft_batch.hpp"
#include "table_builder.hpp"

namespace netd::firewall {
namespace {

class NftablesPacketFilter final : public PacketFilter {
 public:
  void ApplyTable(const TableLayout& layout, const TableElements& elements) override {
    NftBatch batch;
    AddTableReplacement(batch, layout, elements);
    socket_.Commit(batch);
  }

  void Update(const ElementChanges& changes) override {
    if (changes.empty()) return;
    NftBatch batch;
    AddElementChanges(batch, changes);
    socket_.Commit(batch);
  }

  std::size_t CutFlows(Ipv4Address vm,
                       const std::function<bool(const FlowTuple&)>& still_allowed) override {
    ConntrackFilter filter;
    filter.source = vm;
    filter.keep = still_allowed;
    return conntrack_.Delete(filter);
  }

 private:
  NftSocket socket_;
  ConntrackTable conntrack_;
};

}  // namespace

std::unique_ptr<PacketFilter> MakeNftablesPacketFilter() {
  return std::make_unique<NftablesPacketFilter>();
}

}  // namespace netd::firewall
