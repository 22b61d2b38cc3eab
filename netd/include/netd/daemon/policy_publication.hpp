#pragma once

#include <boost/asio/io_context.hpp>
#include <functional>
#include <string>
#include <vector>

#include "netd/common/clock.hpp"
#include "netd/daemon/capability.hpp"
#include "netd/daemon/config.hpp"
#include "netd/daemon/group_api.hpp"
#include "netd/daemon/vm_api.hpp"
#include "netd/dhcp/ipam.hpp"
#include "netd/policy/policy_publisher.hpp"

namespace netd {

// The gateway's part of the policy database: policy/'s publisher, given the store's bindings and
// groups at start and every committed change of them after, and reported in /v1/status and
// /metrics. The store stays the source of truth; the database follows it (docs/policy.md).
class PolicyPublication final : public Capability, public BindingObserver, public GroupObserver {
 public:
  PolicyPublication(boost::asio::io_context& io, const Config& config, Clock& clock);
  void Start(const dhcp::Ipam& ipam, std::vector<policy::PublishedGroup> groups);
  void Stop();
  policy::PolicyPublisher& publisher() { return publisher_; }

  void Report(StatusReport& report) const override;
  std::function<void()> PlanBind(const dhcp::VmBinding& binding, Mutation& mutation) override;
  std::function<void()> PlanUnbind(const dhcp::VmBinding& binding, Mutation& mutation) override;
  std::function<void()> PlanSetGroup(const policy::PublishedGroup& group,
                                     Mutation& mutation) override;
  std::function<void()> PlanRemoveGroup(const std::string& name, Mutation& mutation) override;

 private:
  policy::PolicyPublisher publisher_;
};

}  // namespace netd
