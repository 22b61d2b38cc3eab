#pragma once

#include <string>
#include <string_view>

#include "netd/daemon/audit.hpp"

namespace netd {

// What a caller may do, from its credentials: admins can do everything services can.
enum class AccessLevel { kNone, kService, kAdmin };
std::string_view ToString(AccessLevel level);

struct ApiRequest {
  std::string method;
  std::string target;  // path and query, as received
  std::string body;
  Caller caller;
  AccessLevel access = AccessLevel::kNone;
};

struct ApiResponse {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
};

// A refusal that reaches the caller as {"error":{"code","message","field"}}.
struct ApiError {
  int status;
  std::string code;
  std::string message;
  std::string field;
};
ApiResponse ErrorResponse(const ApiError& error);

}  // namespace netd
