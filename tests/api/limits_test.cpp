// The control socket's limits, each answered with a clear error; none changes any state.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "netd/lab/temp_dir.hpp"
#include "netd/testing/netd_process.hpp"
#include "netd/testing/raw_http.hpp"

namespace netd::testing {
namespace {

using ::testing::HasSubstr;

class ApiLimits : public ::testing::Test {
 protected:
  void SetUp() override {
    netd_ = std::make_unique<NetdProcess>(dir_.path(), [](std::string text) {
      return Replace(text, "[api]\n", "[api]\nmax_connections = 4\nrequest_timeout_ms = 500\n");
    });
    netd_->Start();
  }

  void ExpectNothingChanged() {
    EXPECT_EQ(Request(netd_->socket(), "GET", "/v1/vms").Json()["vms"].size(), 0u);
    auto verify = Request(netd_->socket(), "GET", "/v1/audit/verify").Json();
    EXPECT_EQ(verify["ok"], true);
  }

  lab::TempDir dir_{"api"};
  std::unique_ptr<NetdProcess> netd_;
};

TEST_F(ApiLimits, OversizedBodyIs413) {
  RawConnection connection(netd_->socket());
  connection.Send(
      "PUT /v1/vms/vm1 HTTP/1.1\r\nHost: netd\r\nContent-Length: 2000000\r\n\r\n{\"network\":");
  auto answer = connection.Receive();
  EXPECT_EQ(answer.status, 413);
  EXPECT_EQ(answer.Json()["error"]["code"], "body_too_large");
  EXPECT_THAT(answer.body, HasSubstr("1048576 bytes"));
  ExpectNothingChanged();
}

TEST_F(ApiLimits, OversizedHeadersAre431) {
  RawConnection connection(netd_->socket());
  connection.Send("GET /v1/status HTTP/1.1\r\nHost: netd\r\nX-Padding: " + std::string(20000, 'x') +
                  "\r\n\r\n");
  auto answer = connection.Receive();
  EXPECT_EQ(answer.status, 431);
  EXPECT_EQ(answer.Json()["error"]["code"], "headers_too_large");
}

TEST_F(ApiLimits, SlowLorisIsCutWith408) {
  RawConnection connection(netd_->socket());
  connection.Send("PUT /v1/vms/vm1 HTTP/1.1\r\nHost: netd\r\nContent-Le");
  auto answer = connection.Receive(std::chrono::seconds(5));
  EXPECT_EQ(answer.status, 408);
  EXPECT_EQ(answer.Json()["error"]["code"], "request_timeout");
  EXPECT_THAT(answer.body, HasSubstr("500 ms"));
  ExpectNothingChanged();
}

TEST_F(ApiLimits, ConnectionsBeyondTheLimitGet503) {
  std::vector<std::unique_ptr<RawConnection>> idle;
  for (int i = 0; i < 4; ++i) {
    idle.push_back(std::make_unique<RawConnection>(netd_->socket()));
    // A complete request on each, so the server has certainly accepted them.
    idle.back()->Send("GET /v1/status HTTP/1.1\r\nHost: netd\r\n\r\n");
    ASSERT_EQ(idle.back()->Receive().status, 200);
  }
  RawConnection extra(netd_->socket());
  extra.Send("GET /v1/status HTTP/1.1\r\nHost: netd\r\n\r\n");
  auto answer = extra.Receive();
  EXPECT_EQ(answer.status, 503);
  EXPECT_EQ(answer.Json()["error"]["code"], "too_many_connections");
  idle.clear();
  // Once they are gone the server answers again.
  HttpAnswer status;
  for (int i = 0; i < 100 && status.status != 200; ++i) {
    status = Request(netd_->socket(), "GET", "/v1/status");
  }
  EXPECT_EQ(status.status, 200);
  auto metrics = Request(netd_->socket(), "GET", "/metrics").body;
  EXPECT_THAT(metrics,
              HasSubstr("netd_api_connections_rejected_total{reason=\"too_many_connections\"}"));
}

TEST_F(ApiLimits, MalformedHttpIs400) {
  RawConnection connection(netd_->socket());
  connection.Send("THIS IS NOT HTTP\r\n\r\n");
  auto answer = connection.Receive();
  EXPECT_EQ(answer.status, 400);
  EXPECT_EQ(answer.Json()["error"]["code"], "malformed_request");
}

TEST_F(ApiLimits, KeepAliveServesSeveralRequestsOnOneConnection) {
  RawConnection connection(netd_->socket());
  for (int i = 0; i < 3; ++i) {
    connection.Send("GET /v1/status HTTP/1.1\r\nHost: netd\r\n\r\n");
    EXPECT_EQ(connection.Receive().status, 200);
  }
}

}  // namespace
}  // namespace netd::testing
