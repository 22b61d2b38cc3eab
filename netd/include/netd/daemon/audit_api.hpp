#pragma once

#include <chrono>
#include <span>

#include "netd/daemon/audit.hpp"
#include "netd/daemon/audit_anchors.hpp"
#include "netd/daemon/capability.hpp"
#include "netd/daemon/config.hpp"

namespace netd {

// The audit chain's routes (/v1/audit, /v1/audit/verify), its length and its anchors.
class AuditApi final : public Capability {
 public:
  AuditApi(AuditChain& audit, const AuditAnchorWriter& anchors)
      : audit_(audit), anchors_(anchors) {}

  static std::span<const RouteOf<AuditApi>> Routes();
  void Report(StatusReport& report) const override;

 private:
  ApiResponse ReadAudit(const ApiCall& call);
  ApiResponse VerifyAudit(const ApiCall& call);

  AuditChain& audit_;
  const AuditAnchorWriter& anchors_;
};

// What this netd is: version, roles, when it started.
class DaemonStatus final : public Capability {
 public:
  explicit DaemonStatus(const Config& config);
  void Report(StatusReport& report) const override;

 private:
  const Config& config_;
  std::chrono::system_clock::time_point started_at_;
};

}  // namespace netd
