#include "netd/testing/api_routes_test.hpp"

#include <utility>

#include "netd/daemon/gateway_options.hpp"

namespace netd::testing {

using nlohmann::json;

ApiRoutesTest::ApiRoutesTest(Config config)
    : config_(std::move(config)), ipam_(IpamNetworksOf(config_)) {}

ApiRoutesTest::Answer ApiRoutesTest::AnswerOf(const ApiResponse& response) {
  return {response.status, json::parse(response.body, nullptr, false), response.body};
}

void ApiRoutesTest::ExpectError(const Answer& answer, int status, const std::string& code,
                                const std::string& field) {
  EXPECT_EQ(answer.status, status) << answer.text;
  EXPECT_EQ(answer.body["error"]["code"], code) << answer.text;
  if (field.empty()) {
    EXPECT_FALSE(answer.body["error"].contains("field")) << answer.text;
  } else {
    EXPECT_EQ(answer.body["error"]["field"], field) << answer.text;
  }
  EXPECT_FALSE(answer.body["error"]["message"].get<std::string>().empty());
}

json ApiRoutesTest::LastAudit() {
  auto records = audit_.Read(audit_.length() - 1, 1);
  return records.empty() ? json() : records[0];
}

}  // namespace netd::testing
