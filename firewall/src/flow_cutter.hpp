#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

#include "netd/allowlist/policy.hpp"
#include "netd/firewall/packet_filter.hpp"

namespace netd::firewall {

// For each VM, the elements it still has: its flows that these do not allow are cut.
using RevokedVms = std::map<Ipv4Address, allowlist::AllowlistPolicy::VmElements>;

// Deletes the conntrack entries of the VMs' flows that their elements no longer allow, except
// flows to `stays_open` destinations (inside the enclave). Returns how many; logs the outcome.
std::size_t CutRevokedFlows(PacketFilter& filter, const RevokedVms& vms,
                            const std::function<bool(Ipv4Address)>& stays_open);

// Runs CutRevokedFlows on its own thread: walking the conntrack table takes milliseconds on a
// gateway (every hash bucket is visited) and must not hold up the API. Requests waiting
// together share one walk, with each VM's newest elements.
class FlowCutter {
 public:
  FlowCutter(PacketFilter& filter, std::function<bool(Ipv4Address)> stays_open);
  ~FlowCutter();
  FlowCutter(const FlowCutter&) = delete;
  FlowCutter& operator=(const FlowCutter&) = delete;

  void Cut(const RevokedVms& vms);
  std::uint64_t flows_cut() const { return flows_cut_.load(); }

 private:
  void Run(std::stop_token stop);

  PacketFilter& filter_;
  std::function<bool(Ipv4Address)> stays_open_;
  std::mutex mutex_;
  std::condition_variable_any wake_;
  RevokedVms pending_;
  std::atomic<std::uint64_t> flows_cut_{0};
  std::jthread thread_;  // last: joined before the members it uses are destroyed
};

}  // namespace netd::firewall
