#include "netd/daemon/status_report.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cassert>

namespace netd {
namespace {

std::string_view TypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
  }
  return "untyped";
}

std::string LabelValue(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

}  // namespace

StatusReport::Family& StatusReport::FamilyOf(const Metric& metric) {
  auto found = std::find_if(families_.begin(), families_.end(), [&](const Family& family) {
    return family.metric.name == metric.name;
  });
  if (found != families_.end()) {
    assert(found->metric.type == metric.type && "one metric name, two types");
    return *found;
  }
  return families_.emplace_back(Family{metric, {}});
}

void StatusReport::AddSample(const Metric& metric, std::string_view value, MetricLabels labels) {
  auto& samples = FamilyOf(metric).samples;
  samples += metric.name;
  if (labels.size() > 0) {
    samples += '{';
    bool first = true;
    for (const auto& [name, label] : labels) {
      samples += fmt::format("{}{}=\"{}\"", first ? "" : ",", name, LabelValue(label));
      first = false;
    }
    samples += '}';
  }
  samples += fmt::format(" {}\n", value);
}

void StatusReport::Figure(std::string_view path, const Metric& metric, std::uint64_t value,
                          MetricLabels labels) {
  Status(path, value);
  Sample(metric, value, labels);
}

void StatusReport::Flag(std::string_view path, const Metric& metric, bool value,
                        MetricLabels labels) {
  Status(path, value);
  Sample(metric, value ? 1 : 0, labels);
}

void StatusReport::Status(std::string_view path, nlohmann::json value) {
  status_[nlohmann::json::json_pointer(std::string(path))] = std::move(value);
}

void StatusReport::Sample(const Metric& metric, std::uint64_t value, MetricLabels labels) {
  AddSample(metric, std::to_string(value), labels);
}

void StatusReport::Declare(const Metric& metric) {
  FamilyOf(metric);
}

void StatusReport::Histogram(const Metric& metric, std::span<const double> bounds_ms,
                             std::span<const std::uint64_t> buckets, std::uint64_t count,
                             double sum_ms) {
  assert(metric.type == MetricType::kHistogram && bounds_ms.size() == buckets.size());
  auto& samples = FamilyOf(metric).samples;
  for (std::size_t i = 0; i < bounds_ms.size(); ++i) {
    samples +=
        fmt::format("{}_bucket{{le=\"{}\"}} {}\n", metric.name, bounds_ms[i] / 1000, buckets[i]);
  }
  samples += fmt::format("{}_bucket{{le=\"+Inf\"}} {}\n{}_sum {}\n{}_count {}\n", metric.name,
                         count, metric.name, sum_ms / 1000, metric.name, count);
}

std::string StatusReport::Prometheus() const {
  std::string out;
  for (const auto& family : families_) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", family.metric.name, family.metric.help,
                       family.metric.name, TypeName(family.metric.type));
    out += family.samples;
  }
  return out;
}

}  // namespace netd
