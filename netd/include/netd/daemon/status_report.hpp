#pragma once

#include <cstdint>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace netd {

enum class MetricType { kCounter, kGauge, kHistogram };

// A Prometheus metric family: its name, type and help text.
struct Metric {
  std::string_view name;
  MetricType type;
  std::string_view help;
};

using MetricLabels = std::initializer_list<std::pair<std::string_view, std::string_view>>;

// What the capabilities report, collected once and rendered twice: as the `/v1/status` JSON and
// as the `/metrics` text. A figure both show is reported once, with its status path (a JSON
// pointer, e.g. "/firewall/rules") and its metric; families appear in /metrics in the order
// they were first reported, their samples in the order reported.
class StatusReport {
 public:
  // A figure in both: `value` at `path` in the status and a sample of `metric`.
  void Figure(std::string_view path, const Metric& metric, std::uint64_t value,
              MetricLabels labels = {});
  // A yes/no figure: true/false in the status, 1/0 in /metrics.
  void Flag(std::string_view path, const Metric& metric, bool value, MetricLabels labels = {});
  // Only in the status.
  void Status(std::string_view path, nlohmann::json value);
  // Only in /metrics.
  void Sample(const Metric& metric, std::uint64_t value, MetricLabels labels = {});
  // A family that /metrics lists (HELP and TYPE) even while it has no samples.
  void Declare(const Metric& metric);
  // A histogram of milliseconds, exposed in seconds: cumulative bucket counts per upper bound.
  void Histogram(const Metric& metric, std::span<const double> bounds_ms,
                 std::span<const std::uint64_t> buckets, std::uint64_t count, double sum_ms);

  const nlohmann::json& status() const { return status_; }
  std::string Prometheus() const;

 private:
  struct Family {
    Metric metric;
    std::string samples;
  };
  Family& FamilyOf(const Metric& metric);
  void AddSample(const Metric& metric, std::string_view value, MetricLabels labels);

  nlohmann::json status_ = nlohmann::json::object();
  std::vector<Family> families_;
};

}  // namespace netd
