#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "netd/allowlist/learned_allows.hpp"
#include "netd/allowlist/policy.hpp"
#include "netd/common/address.hpp"
#include "netd/firewall/packet_filter.hpp"
#include "netd/proxy/forward_table.hpp"

namespace netd::firewall {

// A VM bound to a network, as the firewall needs it: the network decides whether it is
// allowlisted, the address and MAC are what its `vm_bind4` element pins.
struct BoundVm {
  std::string vm;
  std::string network;
  Ipv4Address ip;
  MacAddress mac;
};

// What the gateway firewall is built from (netd fills it from the configuration).
struct GatewayFirewallOptions {
  // The table as configured; its protection is decided at Start from `table_mode`. Flows to
  // its networks (the enclave) are never cut, and its forward ports are the forwards' listen
  // ports.
  TableLayout layout;
  TableMode table_mode = TableMode::kAuto;
  // allow4 elements at most, the DNS-learned ones included (gateway.max_allowlist_elements).
  std::size_t max_allow_elements = 1'000'000;
};

class FlowCutter;

// The gateway's firewall: the allowlist policy in memory and the `inet ticrypt` table in the
// kernel, kept equal. Mutations go policy first, then the kernel inside the caller's store
// transaction; any failure undoes all three.
class GatewayFirewall {
 public:
  GatewayFirewall(GatewayFirewallOptions options, PacketFilter& filter);
  ~GatewayFirewall();
  GatewayFirewall(const GatewayFirewall&) = delete;
  GatewayFirewall& operator=(const GatewayFirewall&) = delete;

  // What the store holds that the table is built from.
  struct StoredState {
    std::vector<BoundVm> bindings;
    std::vector<allowlist::AllowlistRule> rules;
    std::vector<proxy::Forward> forwards;  // with their VM's address
  };

  // Loads the stored state and applies the whole table; throws if the kernel refuses it.
  void Start(const StoredState& stored);

  // How the table stands against other processes, as decided at Start from the table mode
  // and what the kernel supports.
  TableProtection protection() const { return layout_.protection; }

  // Whether VMs of this network are allowlisted (and anti-spoofed) rather than open.
  bool IsAllowlisted(std::string_view network) const;
  allowlist::SecureVm SecureVmOf(const BoundVm& binding) const;

  allowlist::AllowlistPolicy& policy() { return policy_; }
  proxy::ForwardTable& forwards() { return forwards_; }
  const proxy::ForwardTable& forwards() const { return forwards_; }
  // The kernel keeps a forward's element this long past its expiry, so that netd deletes it
  // itself (and cuts its sessions) rather than racing the kernel's timeout.
  static constexpr std::int64_t kForwardGraceMs = 2000;
  static ForwardElement ElementOf(const proxy::Forward& forward, std::int64_t now_ms);
  // Cuts the sessions of a closed or expired forward; returns how many.
  std::size_t CutForwardFlows(const proxy::Forward& forward);
  const allowlist::AllowlistPolicy& policy() const { return policy_; }
  std::size_t max_allow_elements() const { return max_allow_elements_; }

  // Applies `changes` (already made to policy()) to the kernel inside `persist`, which must
  // call the function it is given within its store transaction. On any failure the kernel is
  // restored, `undo_policy` runs, and the exception propagates. After success, established
  // flows that lost their permission are cut: at once, or soon on another thread after
  // CutFlowsInBackground.
  using Persist = std::function<void(const std::function<void()>& apply_kernel)>;
  void Apply(const ElementChanges& changes, const std::function<void()>& undo_policy,
             const Persist& persist);

  // Opens `addresses`, answered for `name`, to `vm` on the ports of `rules` (those that name
  // it) for `lifetime_ms`; returns once the kernel holds them. Throws if the kernel refuses.
  void OpenLearned(const allowlist::SecureVm& vm,
                   const std::vector<const allowlist::AllowlistRule*>& rules,
                   const std::string& name, const std::vector<Ipv4Address>& addresses,
                   std::int64_t lifetime_ms);
  // Deletes the DNS-learned elements whose time is up; the daemon calls it every second.
  void ExpireLearned();
  const allowlist::LearnedAllows& learned() const { return learned_; }

  // Cutting flows walks the whole conntrack table (milliseconds on a gateway), so the daemon
  // has it done on a thread of its own, where it does not hold up the API.
  void CutFlowsInBackground();

  // Drift: the table as someone else left it. CheckForeignChanges reads what the kernel
  // reported and calls the drift listener when the table may differ from the policy; Repair
  // applies the whole table again from the store's state plus the DNS-learned elements (throws
  // if the kernel refuses). Memory that differs from the store is an error: it is logged and
  // replaced by the store's state.
  void set_drift_listener(std::function<void()> listener) { drift_listener_ = std::move(listener); }
  int foreign_change_fd() const { return filter_.foreign_change_fd(); }
  void CheckForeignChanges();
  void Repair(const StoredState& stored);

  struct Counters {
    std::uint64_t element_updates = 0;
    std::uint64_t kernel_failures = 0;
    std::uint64_t flows_cut = 0;
    std::uint64_t full_applies = 0;
    std::uint64_t drift_detected = 0;
    std::uint64_t drift_repairs = 0;
    std::uint64_t repair_failures = 0;
    std::uint64_t forward_flows_cut = 0;
    std::uint64_t learned_inserts = 0;  // allow4 elements added from DNS answers
  };
  Counters counters() const;
  // When the kernel last took the whole table (start or repair).
  std::optional<std::chrono::system_clock::time_point> last_reconcile() const {
    return last_reconcile_;
  }
  // How long the last whole-table apply took, from the policy to the kernel's last ACK.
  double last_apply_ms() const { return last_apply_ms_; }

 private:
  void ApplyWholeTable();
  TableProtection ResolveProtection();
  void CutRevokedFlows(const allowlist::SetChanges& changes);
  bool InsideEnclave(Ipv4Address address) const;

  TableLayout layout_;
  PacketFilter& filter_;
  // The policy and forwards `stored` implies.
  std::pair<allowlist::AllowlistPolicy, proxy::ForwardTable> Build(const StoredState& stored) const;

  allowlist::AllowlistPolicy policy_;
  allowlist::LearnedAllows learned_;
  proxy::ForwardTable forwards_;
  std::size_t max_allow_elements_;
  TableMode table_mode_;
  Counters counters_;
  std::optional<std::chrono::system_clock::time_point> last_reconcile_;
  double last_apply_ms_ = 0;
  std::function<void()> drift_listener_;
  std::uint64_t flows_cut_here_ = 0;
  std::unique_ptr<FlowCutter> cutter_;
};

}  // namespace netd::firewall
