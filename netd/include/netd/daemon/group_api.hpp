#pragma once

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "netd/daemon/capability.hpp"
#include "netd/daemon/config.hpp"
#include "netd/daemon/store.hpp"
#include "netd/dhcp/ipam.hpp"
#include "netd/policy/published.hpp"

namespace netd {

struct Mutation;

// A part of netd that follows the segmentation groups (the policy database, the host side of a
// netd with both roles): what setting or removing a group changes in it, inside the group's one
// mutation, and what it does once that is committed. The pattern of BindingObserver.
class GroupObserver {
 public:
  virtual ~GroupObserver() = default;
  // Adds this part's rows and undo to `mutation`; returns what to do once it is committed and
  // the groups in memory hold the change (may be empty). `group` is the whole group as it is
  // after the change (a membership change included).
  virtual std::function<void()> PlanSetGroup(const policy::PublishedGroup& group,
                                             Mutation& mutation) = 0;
  virtual std::function<void()> PlanRemoveGroup(const std::string& name, Mutation& mutation) = 0;
};

// Segmentation groups (issue 17): the secure VMs that may reach each other, and on which
// protocol and ports; /v1/groups in the store and the audit chain, told to the observers that
// carry them to the hosts. The gateway decides; the hosts enforce (docs/policy.md, "Groups").
class GroupApi final : public Capability {
 public:
  // Loads the stored groups; throws std::runtime_error for one whose network is not configured.
  GroupApi(const Config& config, Store& store, AuditChain& audit, const dhcp::Ipam& ipam);

  // Parts that follow the groups, in the order they are told.
  void AddObserver(GroupObserver& observer) { observers_.push_back(&observer); }
  // The groups as published, ordered by name: what the observers start from.
  std::vector<policy::PublishedGroup> published() const;

  static std::span<const RouteOf<GroupApi>> Routes();
  void Report(StatusReport& report) const override;

 private:
  ApiResponse ListGroups(const ApiCall& call);
  ApiResponse GetGroup(const ApiCall& call);
  ApiResponse PutGroup(const ApiCall& call);
  ApiResponse DeleteGroup(const ApiCall& call);
  ApiResponse AddMember(const ApiCall& call);
  ApiResponse RemoveMember(const ApiCall& call);

  // The group named `name`, or a 404 (422 for a malformed name).
  const StoredGroup& RequireGroup(std::string_view name) const;
  nlohmann::json GroupJson(const StoredGroup& stored) const;
  // Stores `group` (new or replacing one) with its audit record, tells the observers, and
  // answers it: 201 when created, 200 when replaced or unchanged.
  ApiResponse CommitGroup(const ApiCall& call, policy::PublishedGroup group,
                          const std::string& action, const nlohmann::json& request);

  const Config& config_;
  Store& store_;
  AuditChain& audit_;
  const dhcp::Ipam& ipam_;
  std::map<std::string, StoredGroup, std::less<>> groups_;
  std::vector<GroupObserver*> observers_;
};

}  // namespace netd
