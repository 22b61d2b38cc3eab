// The audit chain's routes and what this netd is, for the control API.
#include "netd/daemon/audit_api.hpp"

#include <spdlog/spdlog.h>

#include <limits>

#include "api_support.hpp"

namespace netd {

using nlohmann::json;

namespace {

constexpr std::string_view kVersion = "0.1.0";

}  // namespace

std::span<const RouteOf<AuditApi>> AuditApi::Routes() {
  static constexpr RouteOf<AuditApi> kRoutes[] = {
      {"GET", "/v1/audit", AccessLevel::kAdmin, "", "", &AuditApi::ReadAudit},
      {"GET", "/v1/audit/verify", AccessLevel::kAdmin, "", "", &AuditApi::VerifyAudit},
  };
  return kRoutes;
}

void AuditApi::Report(StatusReport& report) const {
  static constexpr Metric kRecords{"netd_audit_records", MetricType::kGauge,
                                   "Records in the audit chain."};
  static constexpr Metric kAnchors{
      "netd_audit_anchors_written_total", MetricType::kCounter,
      "Anchors of the audit chain's head appended to the anchor file."};
  static constexpr Metric kAnchorFailures{"netd_audit_anchor_failures_total", MetricType::kCounter,
                                          "Anchor files that could not be read or appended to."};
  report.Figure("/audit/length", kRecords, static_cast<std::uint64_t>(audit_.length()));
  report.Status("/audit/anchor_file", anchors_.file().string());
  report.Figure("/audit/anchors_written", kAnchors, anchors_.written());
  report.Figure("/audit/anchor_failures", kAnchorFailures, anchors_.failures());
}

ApiResponse AuditApi::ReadAudit(const ApiCall& call) {
  auto after = QueryNumber(call.query, "after", 0, 0, std::numeric_limits<std::int64_t>::max());
  auto limit = QueryNumber(call.query, "limit", 100, 1, 1000);
  auto records = audit_.Read(after, limit);
  auto next_after = records.empty() ? after : records.back()["seq"].get<std::int64_t>();
  return JsonResponse(200, {{"records", records}, {"next_after", next_after}});
}

ApiResponse AuditApi::VerifyAudit(const ApiCall&) {
  AuditVerification result;
  try {
    result = audit_.Verify(anchors_.Anchors());
  } catch (const std::runtime_error& error) {
    result = audit_.Verify();
    if (result.ok) {
      result.ok = false;
      result.first_bad_seq = 0;
      result.reason = error.what();
    }
  }
  json body = {{"ok", result.ok}, {"length", result.length}};
  if (!result.ok) {
    body["first_bad_seq"] = *result.first_bad_seq;
    body["reason"] = result.reason;
    spdlog::error("audit: chain verification failed at record {}: {}", *result.first_bad_seq,
                  result.reason);
  }
  return JsonResponse(200, body);
}

DaemonStatus::DaemonStatus(const Config& config)
    : config_(config), started_at_(std::chrono::system_clock::now()) {}

void DaemonStatus::Report(StatusReport& report) const {
  static constexpr Metric kUptime{"netd_uptime_seconds", MetricType::kGauge,
                                  "Seconds since netd started."};
  json roles = json::array();
  for (auto role : config_.roles) roles.push_back(ToString(role));
  report.Status("/version", kVersion);
  report.Status("/roles", roles);
  report.Status("/started_at", IsoTime(ToMs(started_at_)));
  auto uptime = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now() -
                                                                 started_at_);
  report.Figure("/uptime_s", kUptime, static_cast<std::uint64_t>(uptime.count()));
}

}  // namespace netd
