#pragma once

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "netd/daemon/api_types.hpp"
#include "netd/daemon/audit.hpp"
#include "netd/daemon/config.hpp"
#include "netd/daemon/control_api.hpp"
#include "netd/daemon/store.hpp"
#include "netd/dhcp/ipam.hpp"
#include "netd/lab/temp_dir.hpp"

namespace netd::testing {

// A fixture for the control API's routes, on a store of the test's own: what the routes change
// (the store in a temporary directory, its audit chain, the IPAM of `config`'s networks) and the
// ControlApi a test serves them on.
class ApiRoutesTest : public ::testing::Test {
 protected:
  // What a route answered: its status, its body as JSON (discarded when it is not) and as sent.
  struct Answer {
    int status;
    nlohmann::json body;
    std::string text;
  };

  explicit ApiRoutesTest(Config config = ParseConfig(DemoConfigText(), "demo"));

  static Answer AnswerOf(const ApiResponse& response);
  // `answer` is an error of `status` and `code` with a message, naming `field` ("": none).
  static void ExpectError(const Answer& answer, int status, const std::string& code,
                          const std::string& field);
  // The newest audit record; null when there is none.
  nlohmann::json LastAudit();

  lab::TempDir dir_{"unit"};
  Config config_;
  Store store_{dir_.path() / "netd.db"};
  AuditChain audit_{store_};
  dhcp::Ipam ipam_;
  ApiMetrics metrics_;
  ControlApi api_{audit_, metrics_};
};

}  // namespace netd::testing
