#include "flow_cutter.hpp"

#include <spdlog/spdlog.h>

#include <set>
#include <string>

namespace netd::firewall {

std::size_t CutRevokedFlows(PacketFilter& filter, const RevokedVms& vms,
                            const std::function<bool(Ipv4Address)>& stays_open) {
  std::set<Ipv4Address> sources;
  std::string names;
  for (const auto& [vm, elements] : vms) {
    sources.insert(vm);
    names += (names.empty() ? "" : ",") + vm.ToString();
  }
  try {
    auto cut = filter.CutFlows(sources, [&](const allowlist::FlowTuple& flow) {
      return stays_open(flow.destination) || vms.at(flow.source).Allows(flow);
    });
    if (cut > 0) spdlog::info("firewall: cut {} revoked flows of {}", cut, names);
    return cut;
  } catch (const std::exception& failure) {
    spdlog::error("firewall: cannot cut revoked flows of {}: {}", names, failure.what());
    return 0;
  }
}

FlowCutter::FlowCutter(PacketFilter& filter, std::function<bool(Ipv4Address)> stays_open)
    : filter_(filter),
      stays_open_(std::move(stays_open)),
      thread_([this](std::stop_token stop) { Run(stop); }) {}

FlowCutter::~FlowCutter() {
  thread_.request_stop();
}

void FlowCutter::Cut(const RevokedVms& vms) {
  {
    std::lock_guard lock(mutex_);
    for (const auto& [vm, elements] : vms) pending_[vm] = elements;
  }
  wake_.notify_one();
}

void FlowCutter::Run(std::stop_token stop) {
  for (;;) {
    RevokedVms batch;
    {
      std::unique_lock lock(mutex_);
      if (!wake_.wait(lock, stop, [this] { return !pending_.empty(); })) return;
      batch.swap(pending_);
    }
    flows_cut_ += CutRevokedFlows(filter_, batch, stays_open_);
  }
}

}  // namespace netd::firewall
