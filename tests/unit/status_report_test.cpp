// One definition per figure renders both /v1/status and /metrics.
#include "netd/daemon/status_report.hpp"

#include <gtest/gtest.h>

namespace netd {
namespace {

constexpr Metric kBound{"netd_test_bound", MetricType::kGauge, "Bound things."};
constexpr Metric kErrors{"netd_test_errors_total", MetricType::kCounter, "Errors by kind."};
constexpr Metric kLatency{"netd_test_seconds", MetricType::kHistogram, "Latency."};

TEST(StatusReport, AFigureIsOneValueInBothRenderings) {
  StatusReport report;
  report.Figure("/things/by_network/secure", kBound, 3, {{"network", "secure"}});
  report.Figure("/things/by_network/datain", kBound, 1, {{"network", "datain"}});
  report.Flag("/things/connected", Metric{"netd_test_up", MetricType::kGauge, "Up."}, true);
  report.Status("/things/name", "x");
  EXPECT_EQ(
      report.status(),
      (nlohmann::json{
          {"things",
           {{"by_network", {{"secure", 3}, {"datain", 1}}}, {"connected", true}, {"name", "x"}}}}));
  EXPECT_EQ(report.Prometheus(),
            "# HELP netd_test_bound Bound things.\n"
            "# TYPE netd_test_bound gauge\n"
            "netd_test_bound{network=\"secure\"} 3\n"
            "netd_test_bound{network=\"datain\"} 1\n"
            "# HELP netd_test_up Up.\n"
            "# TYPE netd_test_up gauge\n"
            "netd_test_up 1\n");
}

TEST(StatusReport, FamiliesKeepTheOrderTheyFirstAppearedInAndDeclaredOnesShowEmpty) {
  StatusReport report;
  report.Declare(kErrors);
  report.Sample(kBound, 1, {{"bridge", "br-a"}});
  report.Sample(kBound, 2, {{"bridge", "br-b"}});
  report.Sample(kErrors, 4, {{"kind", "a \"quoted\\ one\nline"}});
  EXPECT_EQ(report.Prometheus(),
            "# HELP netd_test_errors_total Errors by kind.\n"
            "# TYPE netd_test_errors_total counter\n"
            "netd_test_errors_total{kind=\"a \\\"quoted\\\\ one\\nline\"} 4\n"
            "# HELP netd_test_bound Bound things.\n"
            "# TYPE netd_test_bound gauge\n"
            "netd_test_bound{bridge=\"br-a\"} 1\n"
            "netd_test_bound{bridge=\"br-b\"} 2\n");
  EXPECT_EQ(report.status(), nlohmann::json::object()) << "samples only are not in the status";
}

TEST(StatusReport, AnArrayOfObjectsGrowsByIndexAndNullSectionsTakeFigures) {
  StatusReport report;
  report.Status("/host", nullptr);
  report.Status("/host/per_bridge", nlohmann::json::array());
  report.Figure("/host/per_bridge/0/ports", kBound, 2, {{"bridge", "br-a"}});
  report.Figure("/host/per_bridge/1/ports", kBound, 5, {{"bridge", "br-b"}});
  EXPECT_EQ(report.status()["host"]["per_bridge"],
            (nlohmann::json{{{"ports", 2}}, {{"ports", 5}}}));
}

TEST(StatusReport, AHistogramOfMillisecondsIsExposedInSeconds) {
  StatusReport report;
  constexpr double kBoundsMs[] = {0.5, 10};
  const std::uint64_t buckets[] = {1, 3};
  report.Histogram(kLatency, kBoundsMs, buckets, 4, 12.5);
  EXPECT_EQ(report.Prometheus(),
            "# HELP netd_test_seconds Latency.\n"
            "# TYPE netd_test_seconds histogram\n"
            "netd_test_seconds_bucket{le=\"0.0005\"} 1\n"
            "netd_test_seconds_bucket{le=\"0.01\"} 3\n"
            "netd_test_seconds_bucket{le=\"+Inf\"} 4\n"
            "netd_test_seconds_sum 0.0125\n"
            "netd_test_seconds_count 4\n");
}

}  // namespace
}  // namespace netd
